"""UniSRec (Hou et al., KDD 2022: "Towards universal sequence representation learning for recommender
systems").

Items are represented by their modal features (text in the original) through a mixture-of-experts adaptor
of parametric whitening layers, v_i = Σ_e g_e(x_i) (x_i - b_e) W_e with gates g = softmax(x W_g) (Eq. 2-4
of UniSRec); in the transductive setting the item's ID embedding is added (UniSRec's "t" variant), in the
inductive one (``unisrec.inductive=true``) it is not. A SASRec transformer encodes the sequence; scores are
cosine similarities divided by a temperature (0.07).

Differences from the original: no pre-training corpus here, so no sequence-item and sequence-sequence
contrastive pre-training: the whole model, adaptor included, is trained on the target dataset with
cross-entropy over all items (UniSRec's fine-tuning objective); every configured modality gets its own
adaptor and the adaptors' outputs are summed (the original uses text only: ``--set modalities=text``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import Config, boolean, integer, setting
from ..errors import InputError
from ..losses import ItemSoftmax
from ..nn.modal import BufferDict, grown_embedding
from ..nn.transformer import EncoderOptions, SequenceEncoder, init_weights
from .base import ItemTableRecommender

TEMPERATURE = 0.07


@dataclass
class UniSRecOptions(EncoderOptions):
    experts: int = setting(8, integer(1))  # the mixture-of-experts adaptor
    inductive: bool = setting(False, boolean())  # no ID embeddings


class MoEAdaptor(nn.Module):
    """Mixture of parametric-whitening experts over a fixed feature matrix (UniSRec Eq. 2-4)."""

    def __init__(self, in_size: int, hidden_size: int, experts: int, dropout: float) -> None:
        super().__init__()
        self.shift = nn.Parameter(torch.zeros(experts, in_size))  # b_e
        self.whiten = nn.Parameter(torch.empty(experts, in_size, hidden_size))  # W_e
        nn.init.normal_(self.whiten, std=0.02)
        self.gate = nn.Linear(in_size, experts, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:  # (N, in) -> (N, d)
        x = self.dropout(x)
        experts = torch.einsum("nei,eid->ned", x.unsqueeze(1) - self.shift, self.whiten)
        gates = self.gate(x).softmax(-1)
        return torch.einsum("ne,ned->nd", gates, experts)


class UniSRec(ItemTableRecommender):
    sparse_item_table = False  # its table is computed from every item's features on every step
    description = "UniSRec (Hou et al. 2022): MoE-whitened modal item vectors"
    reads_features = True
    Options = UniSRecOptions

    def __init__(
        self, num_items: int, features: dict[str, Tensor], config: Config, softmax: ItemSoftmax | None = None
    ) -> None:
        super().__init__(softmax)
        d = config.options.hidden_size
        self.inductive = config.options.inductive
        self.features = BufferDict({m: matrix.float() for m, matrix in features.items()}, persistent=False)
        self.adaptors = nn.ModuleDict(
            {m: MoEAdaptor(f.size(1), d, config.options.experts, config.options.dropout) for m, f in features.items()}
        )
        self.id_embedding = None if self.inductive else nn.Embedding(num_items, d, padding_idx=0)
        self.encoder = SequenceEncoder.of(config.options, config.data.max_len)
        self.apply(init_weights)

    def add_items(self, features: dict[str, Tensor], catalog: dict[str, Tensor], id_embedding: str = "zero") -> None:
        """New items read through the adaptors (their v_i), with a zero ID embedding (none when inductive)."""
        if id_embedding != "zero":
            raise InputError("new items", "model UniSRec gives a new item a zero ID embedding only")
        self.features = self.features.appended(features)
        if self.id_embedding is not None:
            self.id_embedding = grown_embedding(self.id_embedding, len(next(iter(features.values()))))

    def item_tables(self) -> Tensor:
        """v_i for every item (num_items, d); padding row zero."""
        table = sum(adaptor(self.features[m]) for m, adaptor in self.adaptors.items())
        if self.id_embedding is not None:
            table = table + self.id_embedding.weight
        return torch.cat([torch.zeros_like(table[:1]), table[1:]])

    def encode(self, inputs: Tensor, table: Tensor) -> tuple[Tensor, Tensor]:
        """Cosine scores over a temperature: unit states divided by it, unit item vectors."""
        states = self.encoder(table[inputs], inputs)[-1]
        return F.normalize(states, dim=-1) / TEMPERATURE, F.normalize(table, dim=-1)
