"""BERT4Rec (Sun et al., CIKM 2019: "BERT4Rec: sequential recommendation with bidirectional encoder
representations from transformer").

A bidirectional transformer trained with the cloze task: random items of each training sequence are
replaced by a [mask] token and predicted from both sides. To recommend, the [mask] token is appended after
the user's history and its output state is scored against the item embeddings.

Differences from the original: cross-entropy over all items at the masked positions (as the original and
RecBole); masked items are always replaced by [mask] (no 80/10/10 rule, as RecBole); each training
sequence has at least one masked item (its newest one when the random draw masks none); post-norm blocks
with GELU and a linear output head tied to the item embeddings, as in SASRec here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..config import Config, real, setting
from ..losses import ItemSoftmax
from ..nn.transformer import EncoderOptions, SequenceEncoder, init_weights
from .base import SequentialRecommender


def cloze_mask(
    seqs: Tensor, prob: float, mask_token: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """(inputs, labels) for the cloze task on left-padded ``seqs``: each item is masked with probability
    ``prob`` (the newest item when none is drawn in a row); ``inputs`` holds ``mask_token`` there, ``labels``
    holds the masked item there and 0 elsewhere."""
    real = seqs != 0
    draw = torch.rand(seqs.shape, generator=generator, device=seqs.device) < prob
    masked = draw & real
    none = ~masked.any(1)
    masked[none, -1] = real[none, -1]  # rows are left-padded: the last column is the newest item
    inputs = seqs.masked_fill(masked, mask_token)
    labels = seqs.masked_fill(~masked, 0)
    return inputs, labels


@dataclass
class BERT4RecOptions(EncoderOptions):
    mask_prob: float = setting(0.2, real(0.0, 1.0, low_open=True, high_open=True))  # cloze masking


class BERT4Rec(SequentialRecommender):
    description = "BERT4Rec (Sun et al. 2019), ID-based"
    Options = BERT4RecOptions

    def __init__(
        self, num_items: int, features: dict[str, Tensor], config: Config, softmax: ItemSoftmax | None = None
    ) -> None:
        super().__init__(softmax)
        self.num_items = num_items
        self.mask_token = num_items  # one more row than the catalog
        self.mask_prob = config.options.mask_prob
        self.item_embedding = nn.Embedding(num_items + 1, config.options.hidden_size, padding_idx=0)
        # one extra position: evaluation appends [mask] after max_len history items
        self.encoder = SequenceEncoder.of(config.options, config.data.max_len + 1, causal=False)
        self.head = nn.Sequential(
            nn.Linear(config.options.hidden_size, config.options.hidden_size),
            nn.GELU(),
            nn.LayerNorm(config.options.hidden_size),
        )
        self.output_bias = nn.Parameter(torch.zeros(num_items))
        self.apply(init_weights)
        with torch.no_grad():
            self.item_embedding.weight[0].zero_()

    def hidden(self, inputs: Tensor) -> Tensor:
        return self.head(self.encoder(self.item_embedding(inputs), inputs)[-1])

    def loss(self, inputs: Tensor, targets: Tensor) -> Tensor:
        seqs = torch.cat([inputs[:, :1], targets], dim=1)  # the whole training window
        masked_inputs, labels = cloze_mask(seqs, self.mask_prob, self.mask_token)
        keep = labels != 0
        logits_weights = self.item_embedding.weight[: self.num_items]
        hidden = self.hidden(masked_inputs)[keep]
        return self.softmax(hidden, logits_weights, labels[keep], self.output_bias)

    def user_state(self, inputs: Tensor, tables: None = None) -> Tensor:
        """The output state of a [mask] appended after each history (the target is never in the input)."""
        mask = torch.full_like(inputs[:, :1], self.mask_token)
        return self.hidden(torch.cat([inputs, mask], dim=1))[:, -1]

    def score(self, state: Tensor, start: int, end: int) -> Tensor:
        return state @ self.item_embedding.weight[start:end].T + self.output_bias[start:end]

    def user_vectors(self, state: Tensor) -> Tensor:
        return torch.cat([state, torch.ones_like(state[:, :1])], dim=1)  # the 1 meets the output bias

    def catalog_vectors(self, state: Tensor) -> Tensor:
        items = self.item_embedding.weight[: self.output_bias.size(0)]  # the [mask] row is no candidate
        return torch.cat([items, self.output_bias[:, None]], dim=1)
