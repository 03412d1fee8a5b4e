"""The contract every model keeps, so that one trainer and one evaluator serve them all."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import Config
from ..data import LeaveOneOutSplit, SequentialDataset


def full_softmax_loss(hidden: Tensor, item_weights: Tensor, targets: Tensor) -> Tensor:
    """Cross-entropy over all items of ``hidden @ item_weights.T`` (P, num_items) against ``targets`` (P,);
    the padding item (row 0) takes no probability mass."""
    logits = hidden @ item_weights.T
    logits[:, 0] = float("-inf")
    return F.cross_entropy(logits, targets)


class SequentialRecommender(nn.Module):
    """A next-item model over left-padded item sequences (B, L), item 0 being padding.

    - ``loss(inputs, targets)``: mean training loss; ``targets[b, l]`` is the item after ``inputs[b, :l+1]``,
      0 where ``inputs[b, l]`` is padding.
    - ``user_state(inputs)``: whatever ``score`` needs for the next item after each row.
    - ``score(state, start, end)``: (B, end - start) scores of items ``start..end-1``; the evaluator ranks
      all items in chunks with it.
    """

    trainable = True

    @classmethod
    def build(cls, config: Config, dataset: SequentialDataset, split: LeaveOneOutSplit) -> "SequentialRecommender":
        raise NotImplementedError

    def loss(self, inputs: Tensor, targets: Tensor) -> Tensor:
        raise NotImplementedError

    def user_state(self, inputs: Tensor) -> Any:
        raise NotImplementedError

    def score(self, state: Any, start: int, end: int) -> Tensor:
        raise NotImplementedError


class MostPopular(SequentialRecommender):
    """Scores every item by its number of occurrences in the training sequences: the floor to clear."""

    trainable = False

    def __init__(self, counts: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("counts", torch.as_tensor(counts, dtype=torch.float32))

    @classmethod
    def build(cls, config: Config, dataset: SequentialDataset, split: LeaveOneOutSplit) -> "MostPopular":
        return cls(split.train_item_counts(dataset.num_items))

    def user_state(self, inputs: Tensor) -> int:
        return inputs.size(0)

    def score(self, state: int, start: int, end: int) -> Tensor:
        return self.counts[start:end].expand(state, -1)
