"""Item representations for the baselines: ID embeddings, fixed modal features projected to the model width,
and their fusion. Feature matrices are non-persistent buffers: they come from the dataset, not from
checkpoints."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class BufferDict(nn.Module):
    """Tensors by name (a modality's), each a buffer: moved with the model, and in its state dict (under
    ``<name of this module>.<name>``) only when ``persistent``."""

    def __init__(self, tensors: dict[str, Tensor], persistent: bool = True) -> None:
        super().__init__()
        for name, tensor in tensors.items():
            self.register_buffer(name, tensor, persistent=persistent)

    def __getitem__(self, name: str) -> Tensor:
        return self._buffers[name]

    def appended(self, rows: dict[str, Tensor]) -> "BufferDict":
        """A copy with ``rows[name]`` appended to each tensor (new items' rows), as persistent as this one."""
        persistent = not self._non_persistent_buffers_set
        grown = {name: torch.cat([tensor, rows[name].to(tensor)]) for name, tensor in self._buffers.items()}
        return BufferDict(grown, persistent=persistent)


class IdEmbedding(nn.Module):
    """E^id[items]; row 0 (padding) is kept at zero."""

    def __init__(self, num_items: int, hidden_size: int) -> None:
        super().__init__()
        self.id_embedding = nn.Embedding(num_items, hidden_size, padding_idx=0)

    def zero_padding(self) -> None:
        with torch.no_grad():
            self.id_embedding.weight[0].zero_()

    def grow(self, features: dict[str, Tensor]) -> None:
        """Append new items (as many as ``features`` has rows) with a zero ID embedding: never trained."""
        self.id_embedding = grown_embedding(self.id_embedding, len(next(iter(features.values()))))

    def forward(self, items: Tensor) -> Tensor:
        return self.id_embedding(items)


def grown_embedding(embedding: nn.Embedding, count: int, rows: Tensor | None = None) -> nn.Embedding:
    """``embedding`` with ``count`` rows appended, ``rows`` or zeros (an evaluation-time copy: the new rows are
    not trained)."""
    weight = embedding.weight.data
    rows = weight.new_zeros(count, weight.size(1)) if rows is None else rows.to(weight)
    grown = nn.Embedding(embedding.num_embeddings + count, embedding.embedding_dim, padding_idx=0)
    grown.weight.data = torch.cat([weight, rows])
    return grown.to(weight.device)


class ModalProjection(nn.Module):
    """Each modality's fixed feature matrix (num_items, d_m), read through its own linear layer to width d."""

    def __init__(self, features: dict[str, Tensor], hidden_size: int) -> None:
        super().__init__()
        self.modalities = list(features)
        self.features = BufferDict({m: matrix.float() for m, matrix in features.items()}, persistent=False)
        self.projections = nn.ModuleDict({m: nn.Linear(f.size(1), hidden_size) for m, f in features.items()})

    def grow(self, features: dict[str, Tensor]) -> None:
        """Append the feature rows of new items (every modality of this projection)."""
        self.features = self.features.appended(features)

    def forward(self, items: Tensor | None = None) -> dict[str, Tensor]:
        """{m: W_m f_m[items] + b_m}, each (*items.shape, d); every item's row (num_items, d) without
        ``items``."""
        return {
            m: self.projections[m](self.features[m] if items is None else self.features[m][items])
            for m in self.modalities
        }


class FusedItemEmbedding(IdEmbedding):
    """``W [E^id[i]; W_1 f_1[i]; ...; W_M f_M[i]]``: the ID embedding concatenated with every projected
    modality, mixed back to width d (the ``concat`` fusion of RecBole's SASRecF / GRU4RecF)."""

    def __init__(self, num_items: int, hidden_size: int, features: dict[str, Tensor], dropout: float) -> None:
        super().__init__(num_items, hidden_size)
        self.modal = ModalProjection(features, hidden_size)
        self.fuse = nn.Linear(hidden_size * (1 + len(features)), hidden_size)
        self.dropout = nn.Dropout(dropout)

    def grow(self, features: dict[str, Tensor]) -> None:
        super().grow(features)
        self.modal.grow(features)

    def forward(self, items: Tensor) -> Tensor:
        parts = [self.id_embedding(items), *self.modal(items).values()]
        fused = self.fuse(self.dropout(torch.cat(parts, dim=-1)))
        return fused * (items != 0).unsqueeze(-1)  # padding stays a zero vector


def item_inputs(num_items: int, hidden_size: int, features: dict[str, Tensor], dropout: float) -> IdEmbedding:
    """The input item vectors of a model: the ID embedding, fused with the projected features where any are given
    (SASRecF, GRU4RecF)."""
    if features:
        return FusedItemEmbedding(num_items, hidden_size, features, dropout)
    return IdEmbedding(num_items, hidden_size)
