"""The cold-start protocol (``data.cold_items``): a random share of the catalog is held out of training
entirely and added back by its features for the test, through the path of ``Recommender.add_items``.

Every interaction with a held-out (cold) item leaves the sequences, except where it is a user's last item:
that user's test target stays, and the user is scored on it. So training and validation see warm items only
(a user whose validation target was cold validates on its previous warm item), and the test ranks every
item, cold ones included. Items are renumbered warm first, so the model trains on the catalog 1..warm and the
cold items join it as rows warm+1.. at the test.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError
from .dataset import PAD, SequentialDataset, build_dataset

log = logging.getLogger(__name__)


@dataclass
class ColdStart:
    """A dataset whose items 1..``warm`` are the training catalog and ``warm``+1.. the held-out ones."""

    dataset: SequentialDataset  # every item, warm first; cold items only as test targets
    warm: int  # the number of warm items

    @property
    def cold(self) -> int:
        """The number of held-out items."""
        return self.dataset.num_items - 1 - self.warm

    @property
    def catalog(self) -> SequentialDataset:
        """The warm items alone (ids, features, text) with the sequences less their cold test targets: what a
        model is built and trained on."""
        rows = self.warm + 1
        data = self.dataset
        return dataclasses.replace(
            data,
            sequences=[s if s[-1] < rows else s[:-1] for s in data.sequences],
            item_ids=data.item_ids[:rows],
            features={m: t[:rows] for m, t in data.features.items()},
            item_text=data.item_text[:rows] if data.item_text is not None else None,
        )

    def new_features(
        self, modalities: list[str], model: str
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The features of ``modalities`` (every modality where empty, as for most popular, which counts a new
        item zero), split into the cold items' rows and the trained catalog's (the arguments of a model's
        ``add_items``)."""
        features = self.dataset.select_features(modalities, model)
        rows = self.warm + 1
        return {m: t[rows:] for m, t in features.items()}, {m: t[:rows] for m, t in features.items()}

    def is_cold(self, items: np.ndarray) -> np.ndarray:
        """Whether each item index is a held-out item."""
        return np.asarray(items) > self.warm


def hold_out_items(dataset: SequentialDataset, share: float, seed: int) -> ColdStart:
    """Hold out ``round(share x items)`` items drawn at random with ``seed`` (the same for every model and training
    seed, so that runs compare on the same cold targets); one line where the share leaves no item held out or
    none warm, or the dataset has no features to add cold items back by."""
    items = dataset.num_items - 1
    count = int(round(share * items))
    if not dataset.features:
        raise InputError(
            dataset.name, "data.cold_items needs item features (cold items are added back by them); it has none"
        )
    if not 1 <= count < items:
        raise InputError(
            "setting data.cold_items",
            f"{share:g} of {items:,} items holds out {count:,}; expected a share that holds out at least one item "
            "and keeps one",
        )
    cold = np.zeros(dataset.num_items, dtype=bool)
    cold[1 + np.random.default_rng(seed).choice(items, count, replace=False)] = True
    order = np.concatenate([[PAD], np.flatnonzero(~cold)[1:], np.flatnonzero(cold)])  # new index -> old index
    new_index = np.empty_like(order)
    new_index[order] = np.arange(len(order))
    sequences = [new_index[np.concatenate([s[:-1][~cold[s[:-1]]], s[-1:]])] for s in dataset.sequences]
    text = [dataset.item_text[i] for i in order] if dataset.item_text is not None else None
    held = build_dataset(
        dataset.name,
        sequences,
        [dataset.item_ids[i] for i in order],
        dataset.user_ids,
        {m: t.numpy()[order] for m, t in dataset.features.items()},
        text,
        source=f"{dataset.name} less its cold items",
    )
    split = ColdStart(held, items - count)
    cold_targets = int(split.is_cold([s[-1] for s in held.sequences]).sum())
    log.info(
        "cold start: %d of %d items held out (seed %d); %d of %d users test on a cold item",
        count,
        items,
        seed,
        cold_targets,
        held.num_users,
    )
    return split
