"""SASRec (Kang and McAuley, ICDM 2018) and SASRecF, its feature-fused variant (as RecBole's SASRecF).

Defaults as MISSRec used on these datasets: 2 layers, 4 heads, inner size 256, dropout 0.5, learned
positional embeddings. Differences from the original: cross-entropy over all items instead of one sampled
negative with binary cross-entropy (as RecBole's ``loss_type=CE`` and the MDSRec paper), post-norm blocks
with GELU (as RecBole), and the padding item excluded from the softmax.
"""
from __future__ import annotations

from torch import Tensor, nn

from ..config import Config
from ..data import LeaveOneOutSplit, SequentialDataset
from ..nn.modal import FusedItemEmbedding, IdEmbedding
from ..nn.transformer import SequenceEncoder, init_weights
from .base import ItemTableRecommender, modal_features


class SASRec(ItemTableRecommender):
    """Causal self-attention over the item sequence; scores are dot products with the ID embeddings."""

    def __init__(self, items: nn.Module, config: Config) -> None:
        super().__init__()
        self.items = items
        self.encoder = SequenceEncoder(config.max_len, config.hidden_size, config.num_layers, config.num_heads,
                                       config.inner_size, config.dropout)
        self.apply(init_weights)
        self.items.zero_padding()

    @classmethod
    def build(cls, config: Config, dataset: SequentialDataset, split: LeaveOneOutSplit) -> "SASRec":
        return cls(IdEmbedding(dataset.num_items, config.hidden_size), config)

    def encode(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        return self.encoder(self.items(inputs), inputs)[-1], self.items.id_embedding.weight


class SASRecF(SASRec):
    """SASRec whose input item vectors fuse the ID embedding with each modality's projected features
    (concatenation, then a linear layer, as RecBole's SASRecF ``fusion_type=concat``); the output side
    scores against the ID embeddings, as RecBole does."""

    @classmethod
    def build(cls, config: Config, dataset: SequentialDataset, split: LeaveOneOutSplit) -> "SASRecF":
        features = modal_features(config, dataset)
        return cls(FusedItemEmbedding(dataset.num_items, config.hidden_size, features, config.dropout), config)
