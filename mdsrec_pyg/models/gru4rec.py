"""GRU4Rec (Tan, Xu and Liu, DLRS 2016: "Improved recurrent neural networks for session-based
recommendations") and GRU4RecF, its feature-fused variant (as RecBole's GRU4RecF).

A GRU over the item embeddings, a linear layer back to the embedding width, dot products with the ID
embeddings. Differences from the original: cross-entropy over all items (as in Tan et al.'s improved
version and RecBole), no session-parallel mini-batches (padded sequences instead, packed so that padding
never enters the recurrence), GRU4RecF fuses the features into the input item vectors by concatenation
(RecBole fuses them in a second GRU).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..config import Config, Options, integer, real, setting
from ..losses import ItemSoftmax
from ..nn.modal import item_inputs
from ..nn.transformer import init_weights
from .base import ItemTableRecommender


@dataclass
class GRU4RecOptions(Options):
    hidden_size: int = setting(300, integer(1))
    dropout: float = setting(0.5, real(0.0, 1.0, high_open=True))
    gru_layers: int = setting(1, integer(1))


def left_padded_gru(gru: nn.GRU, x: Tensor, seqs: Tensor) -> Tensor:
    """Run ``gru`` over left-padded sequences as if the padding were not there: rows are rotated so that
    their items come first, packed, run, and rotated back; padded positions come out as zeros."""
    length = seqs.size(1)
    lengths = (seqs != 0).sum(1).clamp(min=1)
    pad = (length - lengths).unsqueeze(1)
    steps = torch.arange(length, device=seqs.device).unsqueeze(0)

    def rotate(t: Tensor, index: Tensor) -> Tensor:
        return t.gather(1, index.unsqueeze(-1).expand(-1, -1, t.size(-1)))

    packed = pack_padded_sequence(
        rotate(x, (steps + pad) % length), lengths.cpu(), batch_first=True, enforce_sorted=False
    )
    out, _ = gru(packed)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=length)
    return rotate(out, (steps - pad) % length)


class GRU4Rec(ItemTableRecommender):
    description = "GRU4Rec (Tan et al. 2016), ID-based"
    Options = GRU4RecOptions

    def __init__(
        self, num_items: int, features: dict[str, Tensor], config: Config, softmax: ItemSoftmax | None = None
    ) -> None:
        super().__init__(softmax)
        d = config.options.hidden_size
        self.items = item_inputs(num_items, d, features, config.options.dropout)
        self.dropout = nn.Dropout(config.options.dropout)
        self.gru = nn.GRU(d, d, num_layers=config.options.gru_layers, batch_first=True)
        self.dense = nn.Linear(d, d)
        self.apply(init_weights)
        for name, weight in self.gru.named_parameters():  # RecBole's GRU initialisation
            (nn.init.xavier_uniform_ if name.startswith("weight") else nn.init.zeros_)(weight)
        self.items.zero_padding()

    def encode(self, inputs: Tensor, table: Tensor) -> tuple[Tensor, Tensor]:
        return self.dense(left_padded_gru(self.gru, self.dropout(self.items(inputs)), inputs)), table


class GRU4RecF(GRU4Rec):
    """GRU4Rec over input item vectors that fuse the ID embedding with each modality's projected features."""

    description = "GRU4Rec with modal features fused into the input (RecBole's GRU4RecF)"
    reads_features = True
