"""RecBole's atomic files: ``{name}.inter`` with typed headers, as RecBole ships its datasets.

    user_id:token	item_id:token	rating:float	timestamp:float
    196	242	3	881250949

Every header cell is ``field:type`` with type ``token``, ``token_seq``, ``float`` or ``float_seq``; columns
come in any order and extra columns are ignored. The user, item and time fields are RecBole's default names
(``user_id``, ``item_id``, ``timestamp``; others by ``fields``); without a time field a user's items keep file
order. Each user's items are ordered by timestamp, ties by file order; items are indexed in order of first
appearance in the file. An optional ``{name}.item`` (typed header, ``item_id`` and text fields such as
``title``, ``categories``, ``brand``) gives each item's text: its ``token`` and ``token_seq`` fields other than
the id, joined by spaces, in column order. Features come as for one-user-a-line folders: ``<modality>_feat.npy``
beside an ``items.txt`` (here or in the feature folder, as ``encode_text.py`` writes them).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from ...errors import InputError
from ..dataset import SequentialDataset, build_dataset
from .common import lines, listed_features, parse_float

TYPES = ("token", "token_seq", "float", "float_seq")
FIELDS = {"user": "user_id", "item": "item_id", "time": "timestamp"}  # RecBole's default field names


def is_atomic_header(line: str) -> bool:
    """Whether a first line is a typed header (every tab-separated cell ``field:type``)."""
    cells = line.rstrip("\r\n").lstrip("\ufeff").split("\t")
    return all(cell.rpartition(":")[1] and cell.rpartition(":")[2] in TYPES for cell in cells)


def parse_header(path: Path, line: str) -> dict[str, tuple[int, str]]:
    """``field -> (column, type)`` of a typed header; one line naming the first cell that is not one."""
    columns: dict[str, tuple[int, str]] = {}
    for column, cell in enumerate(line.split("\t")):
        field, colon, kind = cell.strip().rpartition(":")
        if not colon or not field or kind not in TYPES:
            raise InputError(
                path, f"header column {column + 1}: expected field:type with type {', '.join(TYPES)}, got {cell!r}", 1
            )
        if field in columns:
            raise InputError(path, f"header: field {field!r} appears twice", 1)
        columns[field] = (column, kind)
    return columns


def require_field(path: Path, columns: dict[str, tuple[int, str]], field: str, role: str) -> int:
    if field not in columns:
        raise InputError(path, f"no {role} field {field!r} in the header (it has {', '.join(columns)})", 1)
    return columns[field][0]


def read_recbole(
    folder: str | Path,
    name: str | None = None,
    extra_feature_dir: str | Path | None = None,
    fields: dict[str, str] | None = None,
) -> SequentialDataset:
    """The dataset of a folder of RecBole atomic files (see the module docstring)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "dataset folder not found")
    found = sorted(folder.glob("*.inter"))
    if len(found) != 1:
        raise InputError(folder, f"expected one {{name}}.inter file, found {len(found)}")
    path, fields = found[0], {**FIELDS, **(fields or {})}
    events: dict[str, list[tuple[float, int, str]]] = defaultdict(list)
    index: dict[str, int] = {}
    user_column = item_column = time_column = width = -1
    for number, line in lines(path):
        parts = line.split("\t")
        if number == 1:
            columns = parse_header(path, line.lstrip("\ufeff"))
            user_column = require_field(path, columns, fields["user"], "user")
            item_column = require_field(path, columns, fields["item"], "item")
            time_column = columns[fields["time"]][0] if fields["time"] in columns else -1
            width = len(columns)
            continue
        if len(parts) != width:
            raise InputError(path, f"expected {width} tab-separated fields as the header has, got {len(parts)}", number)
        user, item = parts[user_column].strip(), parts[item_column].strip()
        if not user or not item:
            missing = fields["user"] if not user else fields["item"]
            raise InputError(path, f"field {missing!r}: empty", number)
        time = parse_float(parts[time_column], path, number, fields["time"]) if time_column >= 0 else 0.0
        index.setdefault(item, len(index) + 1)
        events[user].append((time, number, item))
    if width < 0:
        raise InputError(path, "empty file: expected a typed header and interactions")
    users = list(events)
    sequences = [np.array([index[item] for _, _, item in sorted(events[u])], dtype=np.int64) for u in users]
    item_ids = ["[PAD]"] + list(index)
    item_file = path.with_suffix(".item")
    item_text = read_item_fields(item_file, item_ids, fields["item"]) if item_file.is_file() else None
    features = listed_features(item_ids, [folder] + ([Path(extra_feature_dir)] if extra_feature_dir else []), path.name)
    return build_dataset(name or folder.name, sequences, item_ids, users, features, item_text, source=str(path))


def read_item_fields(path: Path, item_ids: list[str], item_field: str) -> list[str]:
    """Each item's text from a typed ``.item`` file: its token fields other than the id, joined (padding and
    items the file lacks: "")."""
    texts: dict[str, str] = {}
    text_columns: list[int] = []
    item_column = width = -1
    for number, line in lines(path):
        parts = line.split("\t")
        if number == 1:
            columns = parse_header(path, line.lstrip("\ufeff"))
            item_column = require_field(path, columns, item_field, "item")
            text_columns = [c for f, (c, kind) in columns.items() if f != item_field and kind.startswith("token")]
            width = len(columns)
            continue
        if len(parts) != width:
            raise InputError(path, f"expected {width} tab-separated fields as the header has, got {len(parts)}", number)
        item = parts[item_column].strip()
        if item in texts:
            raise InputError(path, f"item {item!r} listed twice", number)
        texts[item] = " ".join(parts[c].strip() for c in text_columns if parts[c].strip())
    return ["" if i == 0 else texts.get(item, "") for i, item in enumerate(item_ids)]
