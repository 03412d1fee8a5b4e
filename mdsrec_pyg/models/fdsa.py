"""FDSA (Zhang et al., IJCAI 2019: "Feature-level deeper self-attention network for sequential
recommendation").

Two self-attention streams: an item-level one over the ID embeddings and a feature-level one over each
item's features, where the item's modalities are first combined by vanilla attention (a_m = softmax_m(
w^T tanh(W x_m))). The last states of the two streams are concatenated and mapped back to width d, then
scored against the ID embeddings.

Differences from the original: its features are categorical attributes and text tokens; here they are the
dataset's dense modal features, each projected to width d; cross-entropy over all items; post-norm blocks.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config import Config
from ..losses import ItemSoftmax
from ..nn.modal import IdEmbedding, ModalProjection
from ..nn.transformer import SequenceEncoder, init_weights
from .base import ItemTableRecommender


class VanillaAttention(nn.Module):
    """Weights over the modalities of each item: softmax_m(w^T tanh(W x_m + b)); returns Σ_m a_m x_m."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.project = nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.Tanh(), nn.Linear(hidden_size, 1))

    def forward(self, stacked: Tensor) -> Tensor:  # (..., M, d)
        weights = self.project(stacked).softmax(dim=-2)
        return (weights * stacked).sum(dim=-2)


class FDSA(ItemTableRecommender):
    description = "FDSA (Zhang et al. 2019): item and feature self-attention streams"
    reads_features = True

    def __init__(
        self, num_items: int, features: dict[str, Tensor], config: Config, softmax: ItemSoftmax | None = None
    ) -> None:
        super().__init__(softmax)
        d = config.options.hidden_size

        self.items = IdEmbedding(num_items, d)
        self.modal = ModalProjection(features, d)
        self.feature_attention = VanillaAttention(d)
        self.item_encoder = SequenceEncoder.of(config.options, config.data.max_len)
        self.feature_encoder = SequenceEncoder.of(config.options, config.data.max_len)
        self.concat = nn.Linear(2 * d, d)
        self.apply(init_weights)
        self.items.zero_padding()

    def encode(self, inputs: Tensor, table: Tensor) -> tuple[Tensor, Tensor]:
        item_states = self.item_encoder(self.items(inputs), inputs)[-1]
        features = self.feature_attention(torch.stack(list(self.modal(inputs).values()), dim=-2))
        feature_states = self.feature_encoder(features, inputs)[-1]
        states = self.concat(torch.cat([item_states, feature_states], dim=-1))
        return states, table
