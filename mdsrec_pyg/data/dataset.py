"""The one in-memory form of every source, and the leave-one-out split the paper evaluates with.

Item index 0 is padding; items are 1..num_items-1. Feature matrices have ``num_items`` rows, row 0 zeros.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import InputError
from ..hashing import fingerprint

log = logging.getLogger(__name__)

PAD = 0
MIN_LENGTH = 3  # one training item, one validation target, one test target


@dataclass
class SequentialDataset:
    """Users' time-ordered item sequences, per-modality item features and the maps back to original ids."""

    name: str
    sequences: list[np.ndarray]  # one int64 array per user, item indices >= 1, oldest first
    item_ids: list[str]  # item_ids[i]: original identifier of item i; item_ids[0] is the padding token
    user_ids: list[str]  # user_ids[u]: original identifier of user u
    features: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> (num_items, d) float32
    item_text: list[str] | None = None  # item_text[i], where the source has item text

    @property
    def num_items(self) -> int:
        """Number of item rows, padding included."""
        return len(self.item_ids)

    @property
    def num_users(self) -> int:
        return len(self.sequences)

    def select_features(self, modalities: list[str], model: str) -> dict[str, torch.Tensor]:
        """The item features of ``modalities`` (empty: every modality of the dataset), by name, for ``model``;
        one line saying how to add them where the dataset lacks one or has none."""
        names = modalities or list(self.features)
        missing = [m for m in names if m not in self.features]
        if not names or missing:
            remedy = (
                f"python experiments/encode_text.py --dataset {self.name} makes text features from its item text"
                if self.item_text
                else "add <modality>_feat.npy files (one row per item) to the dataset "
                f"folder or to data/features/{self.name}/ (see docs/datasets.md)"
            )
            raise InputError(
                self.name,
                f"model {model!r} needs item features; asked for {names or 'any'}, "
                f"the dataset has {list(self.features) or 'none'}: {remedy}",
            )
        return {m: self.features[m] for m in names}

    def statistics(self) -> dict[str, dict[str, float]]:
        """Table 1 of the paper: in its conventions (padding counted, training targets = sum of length - 1)
        and in plain ones (users, items, all interactions)."""
        lengths = np.array([len(s) for s in self.sequences])
        users, items, inters = self.num_users, self.num_items - 1, int(lengths.sum())
        targets = int((lengths - 1).sum())
        pairs = sum(len(np.unique(s)) for s in self.sequences)
        return {
            "paper": {
                "users": users + 1,
                "items": items + 1,
                "inters": targets,
                "avg_n": targets / (users + 1),
                "sparsity": max(0.0, 1 - targets / ((users + 1) * (items + 1))),  # repeats can pass the cells
                "longest": int(lengths.max()),
            },
            "plain": {
                "users": users,
                "items": items,
                "inters": inters,
                "avg_n": inters / users,
                "sparsity": 1 - pairs / (users * items),  # distinct (user, item) pairs: repeats fill no cell
                "longest": int(lengths.max()),
            },
        }

    def fingerprint(self) -> str:
        """A hash of everything a model trained on this dataset depends on: the sequences, the id maps and
        the feature matrices (a run records it, and a trained model refuses data that differs)."""
        features = [[m, t] for m, t in sorted(self.features.items())]
        return fingerprint(self.sequences, self.item_ids, self.user_ids, *[v for pair in features for v in pair])

    def split(self) -> "LeaveOneOutSplit":
        return LeaveOneOutSplit(self.sequences)


def build_dataset(
    name: str,
    sequences: list[np.ndarray],
    item_ids: list[str],
    user_ids: list[str],
    features: dict[str, np.ndarray] | None = None,
    item_text: list[str] | None = None,
    source: str = "",
) -> SequentialDataset:
    """Validate and assemble a dataset; users with fewer than ``MIN_LENGTH`` items are left out with one warning.

    ``features`` are (num_items, d) arrays whose row 0 is padding (set to zero here).
    """
    if len(sequences) != len(user_ids):
        raise InputError(source, f"{len(sequences)} sequences but {len(user_ids)} user ids")
    num_items = len(item_ids)
    for u, seq in enumerate(sequences):
        if len(seq) == 0:
            raise InputError(source, f"user {user_ids[u]!r} has an empty sequence")
        if seq.min() < 1 or seq.max() >= num_items:
            raise InputError(source, f"user {user_ids[u]!r} has an item index outside 1..{num_items - 1}")
    keep = [u for u, s in enumerate(sequences) if len(s) >= MIN_LENGTH]
    dropped = len(sequences) - len(keep)
    if not keep:
        raise InputError(
            source or name,
            f"no user has the {MIN_LENGTH} items a leave-one-out split needs "
            f"(one to train on, one to validate, one to test); nothing to train",
        )
    if dropped:
        log.warning(
            "%s: left out %d users with fewer than %d items (cannot be split leave-one-out)",
            source or name,
            dropped,
            MIN_LENGTH,
        )
    tensors: dict[str, torch.Tensor] = {}
    for modality, matrix in (features or {}).items():
        matrix = np.asarray(matrix, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != num_items:
            raise InputError(source, f"feature {modality!r} has shape {matrix.shape}, expected ({num_items}, d)")
        bad = ~np.isfinite(matrix[1:]).all(axis=1)
        if bad.any():
            raise InputError(
                source, f"feature {modality!r} has NaN or infinite values in item {item_ids[int(np.argmax(bad)) + 1]!r}"
            )
        matrix = matrix.copy()
        matrix[PAD] = 0.0
        tensors[modality] = torch.from_numpy(matrix)
    return SequentialDataset(
        name=name,
        sequences=[np.asarray(sequences[u], dtype=np.int64) for u in keep],
        item_ids=list(item_ids),
        user_ids=[user_ids[u] for u in keep],
        features=tensors,
        item_text=item_text,
    )


def left_pad(rows: list[np.ndarray], width: int) -> np.ndarray:
    """Stack the last ``width`` items of each row into an int64 matrix, padded with 0 on the left."""
    out = np.zeros((len(rows), width), dtype=np.int64)
    for r, row in enumerate(rows):
        row = row[-width:]
        if len(row):
            out[r, width - len(row) :] = row
    return out


class LeaveOneOutSplit:
    """Last item test, second-to-last validation, the rest training (the paper's protocol).

    The training sequence of a user is ``s[:-2]``; it is the only part of the data that graphs, statistics
    and training inputs may see. Validation predicts ``s[-2]`` from ``s[:-2]``; test predicts ``s[-1]``
    from ``s[:-1]``.
    """

    def __init__(self, sequences: list[np.ndarray]) -> None:
        self.train = [s[:-2] for s in sequences]
        self.valid_inputs = [s[:-2] for s in sequences]
        self.valid_targets = np.array([s[-2] for s in sequences], dtype=np.int64)
        self.test_inputs = [s[:-1] for s in sequences]
        self.test_targets = np.array([s[-1] for s in sequences], dtype=np.int64)

    def train_windows(self, max_len: int) -> np.ndarray:
        """Training rows of ``max_len + 1`` items (left-padded): row[:-1] is the input, row[1:] the targets.

        One row per user predicts every position at once, which is the same set of targets as one row per
        prefix (RecBole's augmentation). A training sequence longer than ``max_len + 1`` is cut into windows
        that together predict each of its items once.
        """
        rows: list[np.ndarray] = []
        for seq in self.train:
            end = len(seq)
            while end >= 2:
                start = max(0, end - max_len - 1)
                rows.append(seq[start:end])
                end = start + 1
        return left_pad(rows, max_len + 1)

    def eval_inputs(self, stage: str, max_len: int) -> tuple[np.ndarray, np.ndarray]:
        """``(inputs, targets)`` for ``stage`` in {"valid", "test"}: inputs left-padded to ``max_len``."""
        if stage == "valid":
            return left_pad(self.valid_inputs, max_len), self.valid_targets
        if stage == "test":
            return left_pad(self.test_inputs, max_len), self.test_targets
        raise ValueError(f"stage must be 'valid' or 'test', got {stage!r}")

    def train_item_counts(self, num_items: int) -> np.ndarray:
        """How often each item occurs in the training sequences (index 0 stays 0)."""
        counts = np.zeros(num_items, dtype=np.int64)
        if self.train:
            np.add.at(counts, np.concatenate(self.train), 1)
        return counts
