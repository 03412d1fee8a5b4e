"""SASRec (Kang and McAuley, ICDM 2018) with softmax cross-entropy over all items.

Defaults as MISSRec used on these datasets: 2 layers, 4 heads, inner size 256, dropout 0.5, learned
positional embeddings. Differences from the original: cross-entropy over all items instead of one sampled
negative with binary cross-entropy (as RecBole's ``loss_type=CE`` and the MDSRec paper), post-norm blocks
with GELU (as RecBole), and the padding item excluded from the softmax.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config import Config
from ..data import LeaveOneOutSplit, SequentialDataset
from ..nn.transformer import SequenceEncoder, init_weights
from .base import SequentialRecommender, full_softmax_loss


class SASRec(SequentialRecommender):
    def __init__(self, num_items: int, config: Config) -> None:
        super().__init__()
        self.item_embedding = nn.Embedding(num_items, config.hidden_size, padding_idx=0)
        self.encoder = SequenceEncoder(config.max_len, config.hidden_size, config.num_layers, config.num_heads,
                                       config.inner_size, config.dropout)
        self.apply(init_weights)
        with torch.no_grad():
            self.item_embedding.weight[0].zero_()

    @classmethod
    def build(cls, config: Config, dataset: SequentialDataset, split: LeaveOneOutSplit) -> "SASRec":
        return cls(dataset.num_items, config)

    def hidden(self, inputs: Tensor) -> Tensor:
        return self.encoder(self.item_embedding(inputs), inputs)[-1]

    def loss(self, inputs: Tensor, targets: Tensor) -> Tensor:
        keep = inputs != 0
        return full_softmax_loss(self.hidden(inputs)[keep], self.item_embedding.weight, targets[keep])

    def user_state(self, inputs: Tensor) -> Tensor:
        return self.hidden(inputs)[:, -1]

    def score(self, state: Tensor, start: int, end: int) -> Tensor:
        return state @ self.item_embedding.weight[start:end].T
