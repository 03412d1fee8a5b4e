"""MMMLP (Liang et al., WWW 2023: "MMMLP: multi-modal multilayer perceptron for sequential recommendations").

Three kinds of sequences, the item IDs and each modality's features (projected to width d), go through
stacked multimodal mixer layers: per sequence a feature mixer (an MLP across positions, then an MLP across
channels, both residual with LayerNorm), then a fusion mixer (an MLP across the sequences at each position
and channel). The position's states are averaged over the sequences and scored against the ID embeddings.

Differences from the original: the MLP across positions is causal (lower-triangular weights indexed from
the newest item), so that every position can be trained to predict its next item as the other models here
are; cross-entropy over all items.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import Config
from ..losses import ItemSoftmax
from ..nn.modal import IdEmbedding, ModalProjection
from ..nn.transformer import LAYER_NORM_EPS, FeedForward, init_weights
from .base import ItemTableRecommender


class CausalTokenMixer(nn.Module):
    """An MLP across positions (max_len -> max_len -> max_len, GELU) whose weights are lower-triangular, so
    position i mixes positions j <= i only. Positions are counted back from the newest item, so a batch
    trimmed to L < max_len uses the last L rows and columns."""

    def __init__(self, max_len: int) -> None:
        super().__init__()
        self.first = nn.Parameter(torch.eye(max_len) + 0.02 * torch.randn(max_len, max_len))
        self.second = nn.Parameter(torch.eye(max_len) + 0.02 * torch.randn(max_len, max_len))

    def forward(self, x: Tensor) -> Tensor:  # (..., L, d)
        length = x.size(-2)
        first, second = (w[-length:, -length:].tril() for w in (self.first, self.second))
        return second @ F.gelu(first @ x)


class MixerLayer(nn.Module):
    """One multimodal mixer layer over S sequences (B, S, L, d): feature mixer per sequence, then fusion mixer."""

    def __init__(self, max_len: int, hidden_size: int, inner_size: int, sequences: int, dropout: float) -> None:
        super().__init__()
        self.token_mixers = nn.ModuleList(CausalTokenMixer(max_len) for _ in range(sequences))
        self.channel_mixers = nn.ModuleList(FeedForward(hidden_size, inner_size) for _ in range(sequences))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden_size, eps=LAYER_NORM_EPS) for _ in range(2 * sequences))
        self.fusion = nn.Sequential(nn.Linear(sequences, sequences), nn.GELU(), nn.Linear(sequences, sequences))
        self.fusion_norm = nn.LayerNorm(hidden_size, eps=LAYER_NORM_EPS)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, keep: Tensor) -> Tensor:
        mixed = []
        for s, (tokens, channels) in enumerate(zip(self.token_mixers, self.channel_mixers)):
            h = x[:, s] * keep
            h = self.norms[2 * s](h + self.dropout(tokens(h)))
            h = self.norms[2 * s + 1](h + self.dropout(channels(h)))
            mixed.append(h)
        x = torch.stack(mixed, dim=1)  # (B, S, L, d)
        fused = self.fusion(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # mix across the S sequences
        return self.fusion_norm(x + self.dropout(fused))


class MMMLP(ItemTableRecommender):
    description = "MMMLP (Liang et al. 2023): MLP-mixer over ID, image and text sequences"
    reads_features = True

    def __init__(
        self, num_items: int, features: dict[str, Tensor], config: Config, softmax: ItemSoftmax | None = None
    ) -> None:
        super().__init__(softmax)
        d = config.options.hidden_size
        self.items = IdEmbedding(num_items, d)
        self.modal = ModalProjection(features, d)
        self.position = nn.Embedding(config.data.max_len, d)
        self.max_len = config.data.max_len
        self.norm = nn.LayerNorm(d, eps=LAYER_NORM_EPS)
        self.dropout = nn.Dropout(config.options.dropout)
        self.layers = nn.ModuleList(
            MixerLayer(config.data.max_len, d, config.options.inner_size, 1 + len(features), config.options.dropout)
            for _ in range(config.options.num_layers)
        )
        self.apply(init_weights)
        self.items.zero_padding()

    def encode(self, inputs: Tensor, table: Tensor) -> tuple[Tensor, Tensor]:
        length = inputs.size(1)
        positions = self.position(torch.arange(self.max_len - length, self.max_len, device=inputs.device))
        sequences = [self.items(inputs), *self.modal(inputs).values()]
        x = torch.stack([self.dropout(self.norm(s + positions)) for s in sequences], dim=1)
        keep = (inputs != 0).unsqueeze(-1).to(x.dtype)
        for layer in self.layers:
            x = layer(x, keep)
        return x.mean(dim=1), table
