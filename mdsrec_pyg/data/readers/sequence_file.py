"""One user a line: ``user_sequence.txt`` with ``user item item ...`` in time order, space-separated.

Items are indexed in order of first appearance. Optional item text: ``item_text.txt`` with
``item<TAB>text`` a line (an item of the sequences without a line gets empty text; listed items that no
sequence holds are ignored). Optional features: ``<modality>_feat.npy`` matrices beside an ``items.txt``
that lists the original item id of each matrix row, one a line; every item of the sequences must be listed
there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import InputError
from ..dataset import SequentialDataset, build_dataset
from .common import lines, listed_features


def read_sequence_file(
    folder: str | Path, name: str | None = None, extra_feature_dir: str | Path | None = None
) -> SequentialDataset:
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "dataset folder not found")
    path = folder / "user_sequence.txt"
    index: dict[str, int] = {}
    users: list[str] = []
    seen_users: dict[str, int] = {}
    sequences: list[np.ndarray] = []
    for number, line in lines(path):
        tokens = line.split()
        if len(tokens) < 2:
            raise InputError(path, "expected a user id followed by at least one item id", number)
        if tokens[0] in seen_users:
            raise InputError(path, f"duplicate user {tokens[0]!r} (first on line {seen_users[tokens[0]]})", number)
        seen_users[tokens[0]] = number
        users.append(tokens[0])
        sequences.append(np.array([index.setdefault(t, len(index) + 1) for t in tokens[1:]]))
    if not sequences:
        raise InputError(path, "no users")
    item_ids = ["[PAD]"] + list(index)
    features = listed_features(item_ids, [folder] + ([Path(extra_feature_dir)] if extra_feature_dir else []), path.name)
    text_path = folder / "item_text.txt"
    item_text = read_item_text(text_path, item_ids) if text_path.is_file() else None
    return build_dataset(name or folder.name, sequences, item_ids, users, features, item_text, source=str(path))


def read_item_text(path: Path, item_ids: list[str]) -> list[str]:
    """``item<TAB>text`` lines -> the text of each item of ``item_ids`` (padding and unlisted items: "")."""
    texts: dict[str, str] = {}
    for number, line in lines(path):
        item, tab, text = line.partition("\t")
        if not tab or not item.strip():
            raise InputError(path, "expected an item id, a tab and the item's text", number)
        if item in texts:
            raise InputError(path, f"item {item!r} listed twice", number)
        texts[item] = text.strip()
    return ["" if i == 0 else texts.get(item, "") for i, item in enumerate(item_ids)]
