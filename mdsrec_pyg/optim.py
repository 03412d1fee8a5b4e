"""The optimiser of a training run, ``training.optimizer``:

- ``adam`` (the default, the paper's): Adam over every parameter; with the sampled softmax it still reads and
  writes every row of the item table on every step (its moments and the dense gradient), so a step's cost
  grows with the catalog;
- ``lazy_adam``: the item table of a model that scores against its ID embedding table
  (``SequentialRecommender.sparse_item_table``) gets a sparse gradient, holding the rows of the step's batch
  and sampled negatives only, and PyTorch's ``SparseAdam`` updates those rows alone; every other parameter
  keeps Adam. This is lazy Adam, not Adam's maths: a row's moments decay, and the row moves, only on the
  steps that use it (and SparseAdam adds eps to the uncorrected square root of the second moment, Adam to
  the bias-corrected one, so even a first step differs where a gradient is within a few hundred eps of 0).
  ``config.check_optimizer`` says where it applies (the sampled softmax, no weight decay).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .config import TrainingConfig


class RowwiseAdam:
    """Adam over the dense parameters and ``SparseAdam`` over the sparse item table, stepped together, with
    one state dict (``{"adam": ..., "sparse_adam": ...}``) for checkpoints."""

    def __init__(self, dense: list[nn.Parameter], sparse: list[nn.Parameter], lr: float) -> None:
        self.adam = torch.optim.Adam(dense, lr=lr)
        self.sparse_adam = torch.optim.SparseAdam(sparse, lr=lr)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.adam.zero_grad(set_to_none=set_to_none)
        self.sparse_adam.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        self.adam.step()
        self.sparse_adam.step()

    def state_dict(self) -> dict[str, Any]:
        return {"adam": self.adam.state_dict(), "sparse_adam": self.sparse_adam.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.adam.load_state_dict(state["adam"])
        self.sparse_adam.load_state_dict(state["sparse_adam"])


Optimizer = torch.optim.Optimizer | RowwiseAdam


def make_optimizer(model: nn.Module, training: TrainingConfig) -> Optimizer:
    """The optimiser ``training.optimizer`` names for ``model``'s parameters (``lazy_adam`` switches the
    model's ID table to sparse gradients first, ``use_sparse_item_table``)."""
    if training.optimizer == "lazy_adam":
        table = model.use_sparse_item_table()
        dense = [p for p in model.parameters() if p is not table]
        return RowwiseAdam(dense, [table], training.lr)
    return torch.optim.Adam(model.parameters(), lr=training.lr, weight_decay=training.weight_decay)
