"""The UniSRec / MISSRec benchmark format (RecBole atomic files).

Files, for a prefix ``P`` (e.g. ``Scientific``): ``P.item2index`` and ``P.user2index`` (``id<TAB>index``,
0-based), ``P.{train,valid,test}.inter`` (header ``user_id:token item_id_list:token_seq item_id:token``,
one row per prediction target, histories cut to their last 50 items), optional ``P.text``
(``item_id:token text:token_seq``) and raw float32 feature files such as ``P.feat1CLS`` (text) and
``P.feat3CLS`` (image). A user's full sequence is rebuilt by chaining all their rows, shortest history first,
each row's history checked against the chain built so far.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from ...errors import InputError
from ..dataset import SequentialDataset, build_dataset
from .common import check_finite, check_header, lines, npy_features, parse_int, read_raw_float32, with_padding_row

INTER_HEADER = ["user_id:token", "item_id_list:token_seq", "item_id:token"]
TEXT_HEADER = ["item_id:token", "text:token_seq"]
# modality name -> (file suffix, dimension); MISSRec's CLIP ViT-B/32 vectors
DEFAULT_FEATURE_FILES: dict[str, tuple[str, int]] = {"text": ("feat1CLS", 512), "image": ("feat3CLS", 512)}


def find_prefix(folder: Path) -> str:
    """The file prefix ``P`` of the single ``P.item2index`` in ``folder``."""
    if not folder.is_dir():
        raise InputError(folder, "dataset folder not found")
    found = sorted(p.name[: -len(".item2index")] for p in folder.glob("*.item2index"))
    if len(found) != 1:
        raise InputError(folder, f"expected exactly one *.item2index file, found {len(found)}")
    return found[0]


def read_index_map(path: Path) -> list[str]:
    """``id<TAB>index`` lines -> list of ids by index; indices must be 0..n-1, each once."""
    by_index: dict[int, str] = {}
    seen: set[str] = set()
    for number, line in lines(path):
        parts = line.split("\t")
        if len(parts) != 2:
            raise InputError(path, f"expected 2 tab-separated fields (id, index), got {len(parts)}", number)
        index = parse_int(parts[1], path, number, "index")
        if parts[0] in seen:
            raise InputError(path, f"duplicate id {parts[0]!r}", number)
        if index in by_index:
            raise InputError(path, f"duplicate index {index}", number)
        seen.add(parts[0])
        by_index[index] = parts[0]
    if sorted(by_index) != list(range(len(by_index))):
        raise InputError(path, f"indices must be 0..{len(by_index) - 1} without gaps")
    return [by_index[i] for i in range(len(by_index))]


def read_inter_rows(path: Path, num_users: int, num_items: int) -> list[tuple[int, list[int], int]]:
    """Rows ``(user, history, target)`` with 0-based source indices, range-checked."""
    rows = []
    for number, line in lines(path):
        parts = line.split("\t")
        if number == 1:
            check_header(path, number, parts, INTER_HEADER)
            continue
        if len(parts) != 3:
            raise InputError(path, f"expected 3 tab-separated fields (user, history, target), got {len(parts)}", number)
        user = parse_int(parts[0], path, number, "user_id")
        history = [parse_int(t, path, number, "item_id_list") for t in parts[1].split()]
        target = parse_int(parts[2], path, number, "item_id")
        if not 0 <= user < num_users:
            raise InputError(path, f"field 'user_id': {user} is not in the user map (0..{num_users - 1})", number)
        for item in history + [target]:
            if not 0 <= item < num_items:
                raise InputError(path, f"item {item} is not in the item map (0..{num_items - 1})", number)
        if not history:
            raise InputError(path, "field 'item_id_list': empty history", number)
        rows.append((user, history, target))
    return rows


def chain_rows(rows: list[tuple[list[int], int]], where: str) -> list[int]:
    """Rebuild one user's sequence from their (history, target) rows, histories possibly truncated."""
    pending = sorted(rows, key=lambda row: len(row[0]))
    chain = list(pending[0][0]) + [pending[0][1]]
    pending = pending[1:]
    while pending:
        for i, (history, target) in enumerate(pending):
            if chain[-len(history) :] == history:
                chain.append(target)
                del pending[i]
                break
        else:
            raise InputError(
                where,
                "rows do not chain into one sequence: a history is not the end of the "
                f"sequence rebuilt so far (user rebuilt to {len(chain)} items)",
            )
    return chain


def read_unisrec(
    folder: str | Path,
    name: str | None = None,
    feature_files: dict[str, tuple[str, int]] | None = None,
    extra_feature_dir: str | Path | None = None,
) -> SequentialDataset:
    """Read a UniSRec/MISSRec folder; ``feature_files`` maps modality -> (suffix, dim) of raw float32 files
    (those absent on disk are skipped); ``extra_feature_dir`` may hold ``<modality>_feat.npy`` files aligned
    with ``item2index`` (see ``mdsrec_pyg.data.features``)."""
    folder = Path(folder)
    prefix = find_prefix(folder)
    items = read_index_map(folder / f"{prefix}.item2index")
    users = read_index_map(folder / f"{prefix}.user2index")
    by_user: dict[int, list[tuple[list[int], int]]] = defaultdict(list)
    for stage in ("train", "valid", "test"):
        for user, history, target in read_inter_rows(folder / f"{prefix}.{stage}.inter", len(users), len(items)):
            by_user[user].append(([i + 1 for i in history], target + 1))
    missing = [users[u] for u in range(len(users)) if u not in by_user]
    if missing:
        raise InputError(folder / f"{prefix}.test.inter", f"user {missing[0]!r} has no rows in any .inter file")
    sequences = [
        np.array(chain_rows(by_user[u], str(folder / f"{prefix}.*.inter") + f" user {users[u]!r}"))
        for u in range(len(users))
    ]

    features: dict[str, np.ndarray] = {}
    for modality, (suffix, dim) in (feature_files or DEFAULT_FEATURE_FILES).items():
        path = folder / f"{prefix}.{suffix}"
        if path.exists():
            features[modality] = with_padding_row(check_finite(read_raw_float32(path, dim, len(items)), path))
    if extra_feature_dir is not None:
        features.update(npy_features(Path(extra_feature_dir), len(items)))

    item_text = None
    text_path = folder / f"{prefix}.text"
    if text_path.exists():
        texts: dict[str, str] = {}
        for number, line in lines(text_path):
            parts = line.split("\t", 1)
            if number == 1:
                check_header(text_path, number, parts, TEXT_HEADER)
                continue
            texts[parts[0]] = parts[1].strip() if len(parts) == 2 else ""
        item_text = [""] + [texts.get(asin, "") for asin in items]

    return build_dataset(
        name or folder.name, sequences, ["[PAD]"] + items, users, features, item_text, source=str(folder)
    )
