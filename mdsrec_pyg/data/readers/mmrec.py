"""The MMRec format: ``{name}.inter`` (tab-separated, header ``userID itemID rating timestamp x_label``) with
0-based ``itemID``, plus ``<modality>_feat.npy`` matrices (``image_feat.npy``, ``text_feat.npy``) whose row i
is item i. Each user's items are ordered by timestamp (ties keep file order). MMRec's own ``x_label``
split is not used: sequential evaluation re-splits every user leave-one-out.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from ...errors import InputError
from ..dataset import SequentialDataset, build_dataset
from .common import check_header, lines, npy_features, parse_float, parse_int

HEADER = ["userID", "itemID", "rating", "timestamp", "x_label"]


def read_mmrec(
    folder: str | Path, name: str | None = None, extra_feature_dir: str | Path | None = None
) -> SequentialDataset:
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "dataset folder not found")
    name = name or folder.name
    path = folder / f"{name}.inter"
    events: dict[str, list[tuple[float, int, int]]] = defaultdict(list)
    max_item = -1
    for number, line in lines(path):
        parts = line.split("\t")
        if number == 1:
            check_header(path, number, parts, HEADER)
            continue
        if len(parts) != len(HEADER):
            raise InputError(
                path, f"expected {len(HEADER)} tab-separated fields ({' '.join(HEADER)}), got {len(parts)}", number
            )
        item = parse_int(parts[1], path, number, "itemID")
        if item < 0:
            raise InputError(path, f"field 'itemID': expected a non-negative integer, got {item}", number)
        timestamp = parse_float(parts[3], path, number, "timestamp")
        events[parts[0]].append((timestamp, number, item))
        max_item = max(max_item, item)
    if not events:
        raise InputError(path, "no interactions")
    num_items = max_item + 1
    distinct = len({item for rows in events.values() for _, _, item in rows})
    if distinct != num_items:
        raise InputError(
            path,
            f"field 'itemID': MMRec ids are 0..n-1 without gaps, but {distinct:,} distinct ids "
            f"go up to {max_item:,} (a catalog of {num_items:,} rows would follow)",
        )
    not_integer = [u for u in events if not u.isdigit()]
    if not_integer:
        raise InputError(path, f"field 'userID': MMRec user ids are integers 0..n-1, got {not_integer[0]!r}")
    user_numbers = sorted(int(u) for u in events)
    if user_numbers != list(range(len(user_numbers))):
        raise InputError(
            path,
            f"field 'userID': MMRec ids are 0..n-1 without gaps; {len(user_numbers):,} users "
            f"have ids from {user_numbers[0]} to {user_numbers[-1]}",
        )
    users = list(events)
    sequences = [np.array([item + 1 for _, _, item in sorted(events[u])]) for u in users]
    features = npy_features(folder, num_items)
    if extra_feature_dir is not None:
        features.update(npy_features(Path(extra_feature_dir), num_items))
    items = ["[PAD]"] + [str(i) for i in range(num_items)]
    return build_dataset(name, sequences, items, users, features, source=str(path))
