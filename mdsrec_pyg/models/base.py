"""The contract every model keeps, so that one trainer and one evaluator serve them all."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.profiler import record_function

from ..config import Config, Options
from ..data import LeaveOneOutSplit, SequentialDataset
from ..errors import InputError
from ..graphs.relations import RelationGraphs
from ..losses import ItemSoftmax
from ..nn.transformer import EncoderOptions


class SequentialRecommender(nn.Module):
    """A next-item model over left-padded item sequences (B, L), item 0 being padding.

    - ``description``: one line for ``run.py --list models``.
    - ``Options``: the model's own options (a dataclass of ``config.py``'s rules), ``config.options`` when built.
    - ``Graphs``: the settings class of the relation-graph stage for a model built from it (MDSRec), else None;
      the run's config then has a ``graphs`` section and ``build`` receives the stage's output.
    - ``reads_features``: whether the model reads item features (``data.modalities``); an ID-only model does not.
    - ``sparse_item_table``: whether its item table is its ID embedding's weight itself, read row by row on
      both sides (inputs and the loss), so that a step with the sampled softmax can keep its gradient sparse
      (``use_sparse_item_table``, ``training.optimizer=lazy_adam``).
    - ``build(config, dataset, split, softmax, graphs)``: the model, its loss over items ``softmax`` given; by
      default ``cls(num_items, features, config, softmax)``, features empty for an ID-only model.
    - ``item_tables()``: the item-side tables scoring needs (they depend on the weights, not on the users), or
      None; computed once per evaluation by the caller and passed to ``user_state``.
    - ``loss(inputs, targets)``: mean training loss; ``targets[b, l]`` is the item after ``inputs[b, :l+1]``,
      0 where ``inputs[b, l]`` is padding.
    - ``user_state(inputs, tables)``: whatever ``score`` needs for the next item after each row (``tables``
      None: computed now).
    - ``score(state, start, end)``: (B, end - start) scores of items ``start..end-1``, a fresh tensor (the
      evaluator changes it in place); the evaluator ranks all items in chunks with it.
    """

    description = ""
    Options = Options
    Graphs: type | None = None
    reads_features = False
    trainable = True
    sparse_item_table = False  # scores against its ID embedding table itself (see use_sparse_item_table)

    def __init__(self, softmax: ItemSoftmax | None = None) -> None:
        super().__init__()
        self.softmax = softmax or ItemSoftmax()  # the loss over items (Eq. 23-24 for MDSRec)

    @classmethod
    def build(
        cls,
        config: Config,
        dataset: SequentialDataset,
        split: LeaveOneOutSplit,
        softmax: ItemSoftmax | None = None,
        graphs: RelationGraphs | None = None,
    ) -> "SequentialRecommender":
        features = dataset.select_features(config.data.modalities, config.model) if cls.reads_features else {}
        return cls(dataset.num_items, features, config, softmax)

    @classmethod
    def new_item_embeddings(cls) -> tuple[str, ...]:
        """The ID embeddings :meth:`add_items` can give a new item (``id_embedding``); empty for a model that
        cannot score an item it did not train on."""
        return ()

    def add_items(self, features: dict[str, Tensor], catalog: dict[str, Tensor], id_embedding: str = "zero") -> None:
        """Append new items, known by their ``features`` only (each modality's rows), to the catalog this model
        scores; ``catalog`` is the trained catalog's features. A model that reads no features refuses."""
        raise InputError(
            "new items", f"model {type(self).__name__} reads no item features: a new item needs retraining"
        )

    @classmethod
    def graphs_in(cls, config: Config, dataset: SequentialDataset, state: dict[str, Tensor]) -> RelationGraphs | None:
        """The relation graphs that a trained model's weights ``state`` hold (a model built from graphs keeps
        them as buffers), so that loading it computes none of them again; None for a model built from none."""
        return None

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
    cross-entropy over all items at every non-padding position. The default table is the ID embedding table
    of an ``items`` module (``nn/modal.py``).
    """

    Options = EncoderOptions
    sparse_item_table = True  # a subclass whose table is computed from every item says False

    def item_tables(self) -> Tensor:
        return self.items.id_embedding.weight

    def use_sparse_item_table(self) -> nn.Parameter:
        """Give the ID table a sparse gradient: its input lookups and the sampled softmax's row lookups become
        sparse ones, so that a step touches the rows of its batch and negatives only; returns the table."""
        if not self.sparse_item_table:
            raise InputError("training.optimizer", f"model {type(self).__name__} has no sparse item table")
        self.items.id_embedding.sparse = True
        self.softmax.sparse_rows = True
        return self.items.id_embedding.weight

    @classmethod
    def new_item_embeddings(cls) -> tuple[str, ...]:
        return ("zero",) if cls.reads_features else ()

    def add_items(self, features: dict[str, Tensor], catalog: dict[str, Tensor], id_embedding: str = "zero") -> None:
        """Every item module grows by the new items: a zero ID embedding, their projected features (a model
        whose scores read the ID table alone scores a new item 0)."""
        if not self.reads_features:
            super().add_items(features, catalog, id_embedding)
        if id_embedding != "zero":
            raise InputError("new items", f"model {type(self).__name__} gives a new item a zero ID embedding only")
        for module in self.children():
            if hasattr(module, "grow"):
                module.grow(features)

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


class MostPopular(SequentialRecommender):
    """Scores every item by its number of occurrences in the training sequences: the floor to clear."""

    description = "most popular in training (the floor every model must clear)"
    trainable = False

    def __init__(self, counts: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("counts", torch.as_tensor(counts, dtype=torch.float32))

    @classmethod
    def build(
        cls,
        config: Config,
        dataset: SequentialDataset,
        split: LeaveOneOutSplit,
        softmax: ItemSoftmax | None = None,
        graphs: RelationGraphs | None = None,
    ) -> "MostPopular":
        return cls(split.train_item_counts(dataset.num_items))

    @classmethod
    def new_item_embeddings(cls) -> tuple[str, ...]:
        return ("zero",)

    def add_items(self, features: dict[str, Tensor], catalog: dict[str, Tensor], id_embedding: str = "zero") -> None:
        """New items (as many as ``features`` has rows) have no interactions yet: each counts zero."""
        count = len(next(iter(features.values())))
        self.counts = torch.cat([self.counts, self.counts.new_zeros(count)])

    def user_state(self, inputs: Tensor, tables: None = None) -> int:
        return inputs.size(0)

    def score(self, state: int, start: int, end: int) -> Tensor:
        return self.counts[start:end].expand(state, -1).clone()

    def user_vectors(self, state: int) -> Tensor:
        return self.counts.new_ones(state, 1)

    def catalog_vectors(self, state: int) -> Tensor:
        return self.counts[:, None]
