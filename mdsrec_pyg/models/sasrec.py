"""SASRec (Kang and McAuley, ICDM 2018) and SASRecF, its feature-fused variant (as RecBole's SASRecF).

Defaults as MISSRec used on these datasets: 2 layers, 4 heads, inner size 256, dropout 0.5, learned
positional embeddings. Differences from the original: cross-entropy over all items instead of one sampled
negative with binary cross-entropy (as RecBole's ``loss_type=CE`` and the MDSRec paper), post-norm blocks
with GELU (as RecBole), and the padding item excluded from the softmax.
"""

from __future__ import annotations

from torch import Tensor

from ..config import Config
from ..losses import ItemSoftmax
from ..nn.modal import item_inputs
from ..nn.transformer import SequenceEncoder, init_weights
from .base import ItemTableRecommender


class SASRec(ItemTableRecommender):
    """Causal self-attention over the item sequence; scores are dot products with the ID embeddings."""

    description = "SASRec (Kang and McAuley 2018), ID-based"

    def __init__(
        self, num_items: int, features: dict[str, Tensor], config: Config, softmax: ItemSoftmax | None = None
    ) -> None:
        super().__init__(softmax)
        self.items = item_inputs(num_items, config.options.hidden_size, features, config.options.dropout)
        self.encoder = SequenceEncoder.of(config.options, config.data.max_len)
        self.apply(init_weights)
        self.items.zero_padding()

    def encode(self, inputs: Tensor, table: Tensor) -> tuple[Tensor, Tensor]:
        return self.encoder(self.items(inputs), inputs)[-1], table


class SASRecF(SASRec):
    """SASRec whose input item vectors fuse the ID embedding with each modality's projected features
    (concatenation, then a linear layer, as RecBole's SASRecF ``fusion_type=concat``); the output side
    scores against the ID embeddings, as RecBole does."""

    description = "SASRec with modal features fused into the input (RecBole's SASRecF)"
    reads_features = True
