"""The contract every model keeps, so that one trainer and one evaluator serve them all."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.profiler import record_function

from ..config import Config, EncoderOptions, Options
from ..data import LeaveOneOutSplit, SequentialDataset
from ..errors import InputError
from ..losses import ItemSoftmax


class SequentialRecommender(nn.Module):
    """A next-item model over left-padded item sequences (B, L), item 0 being padding.

    - ``Options``: the model's own options (a dataclass of ``config.py``), ``config.options`` when built.
    - ``build(config, dataset, split, softmax)``: the model, its loss over items ``softmax`` given.
    - ``item_tables()``: the item-side tables scoring needs (they depend on the weights, not on the users), or
      None; computed once per evaluation by the caller and passed to ``user_state``.
    - ``loss(inputs, targets)``: mean training loss; ``targets[b, l]`` is the item after ``inputs[b, :l+1]``,
      0 where ``inputs[b, l]`` is padding.
    - ``user_state(inputs, tables)``: whatever ``score`` needs for the next item after each row (``tables``
      None: computed now).
    - ``score(state, start, end)``: (B, end - start) scores of items ``start..end-1``, a fresh tensor (the
      evaluator changes it in place); the evaluator ranks all items in chunks with it.
    """

    Options = Options
    trainable = True
    needs_graphs = False  # True: built from the relation-graph stage (``from_graphs``), as MDSRec

    def __init__(self, softmax: ItemSoftmax | None = None) -> None:
        super().__init__()
        self.softmax = softmax or ItemSoftmax()  # the loss over items (Eq. 23-24 for MDSRec)

    @classmethod
    def build(
        cls, config: Config, dataset: SequentialDataset, split: LeaveOneOutSplit, softmax: ItemSoftmax | None = None
    ) -> "SequentialRecommender":
        raise NotImplementedError

    def item_tables(self) -> Any:
        return None

    def loss(self, inputs: Tensor, targets: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, inputs: Tensor, targets: Tensor) -> Tensor:
        """The training loss (so that DistributedDataParallel can wrap the model)."""
        return self.loss(inputs, targets)

    def user_state(self, inputs: Tensor, tables: Any = None) -> Any:
        raise NotImplementedError

    def score(self, state: Any, start: int, end: int) -> Tensor:
        raise NotImplementedError

    def user_vectors(self, state: Any) -> Tensor:
        """(B, D) user vectors whose inner products with :meth:`catalog_vectors` are the scores:
        ``user_vectors(state) @ catalog_vectors(state).T == score(state, 0, num_items)`` (the form that
        vector export and inner-product indexes use)."""
        raise NotImplementedError

    def catalog_vectors(self, state: Any) -> Tensor:
        """(num_items, D) item vectors of the inner-product form of :meth:`score`; they do not depend on the
        users of ``state``, only on the weights."""
        raise NotImplementedError

    def channel_scores(self, state: Any, start: int, end: int) -> dict[str, Tensor]:
        """Scores of items ``start..end-1`` in each of the model's channels, by name, where its final score
        combines several (MDSRec: the ID channel and one per modality); empty for a one-channel model."""
        return {}


class ItemTableRecommender(SequentialRecommender):
    """A model whose score is the dot product of a sequence state with a table of item vectors.

    Subclasses give ``item_tables()``: the item table (num_items, d), and ``encode(inputs, table)``: the states
    (B, L, d), one per position and causal, and the table they are scored against; training is the
    cross-entropy over all items at every non-padding position.
    """

    Options = EncoderOptions

    def item_tables(self) -> Tensor:
        raise NotImplementedError

    def encode(self, inputs: Tensor, table: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def loss(self, inputs: Tensor, targets: Tensor) -> Tensor:
        keep = inputs != 0
        name = type(self).__name__.lower()  # profiler labels, as bench.py --profile lists them
        with record_function(f"{name}: sequence encoder"):
            states, table = self.encode(inputs, self.item_tables())
        with record_function(f"{name}: softmax over all items"):
            return self.softmax(states[keep], table, targets[keep])

    def user_state(self, inputs: Tensor, tables: Tensor | None = None) -> tuple[Tensor, Tensor]:
        states, table = self.encode(inputs, self.item_tables() if tables is None else tables)
        return states[:, -1], table

    def score(self, state: tuple[Tensor, Tensor], start: int, end: int) -> Tensor:
        user, table = state
        return user @ table[start:end].T

    def user_vectors(self, state: tuple[Tensor, Tensor]) -> Tensor:
        return state[0]

    def catalog_vectors(self, state: tuple[Tensor, Tensor]) -> Tensor:
        return state[1]


def modal_features(config: Config, dataset: SequentialDataset) -> dict[str, Tensor]:
    """The item features of ``config.data.modalities`` (empty: every modality of the dataset), by name; a clear
    error when the dataset lacks one or has none."""
    names = config.data.modalities or list(dataset.features)
    missing = [m for m in names if m not in dataset.features]
    if not names or missing:
        remedy = (
            f"python experiments/encode_text.py --dataset {dataset.name} makes text features from its item text"
            if dataset.item_text
            else "add <modality>_feat.npy files (one row per item) to the dataset "
            f"folder or to data/features/{dataset.name}/ (see README, Datasets)"
        )
        raise InputError(
            dataset.name,
            f"model {config.model!r} needs item features; asked for {names or 'any'}, "
            f"the dataset has {list(dataset.features) or 'none'}: {remedy}",
        )
    return {m: dataset.features[m] for m in names}


class MostPopular(SequentialRecommender):
    """Scores every item by its number of occurrences in the training sequences: the floor to clear."""

    trainable = False

    def __init__(self, counts: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("counts", torch.as_tensor(counts, dtype=torch.float32))

    @classmethod
    def build(
        cls, config: Config, dataset: SequentialDataset, split: LeaveOneOutSplit, softmax: ItemSoftmax | None = None
    ) -> "MostPopular":
        return cls(split.train_item_counts(dataset.num_items))

    def user_state(self, inputs: Tensor, tables: None = None) -> int:
        return inputs.size(0)

    def score(self, state: int, start: int, end: int) -> Tensor:
        return self.counts[start:end].expand(state, -1).clone()

    def user_vectors(self, state: int) -> Tensor:
        return self.counts.new_ones(state, 1)

    def catalog_vectors(self, state: int) -> Tensor:
        return self.counts[:, None]
