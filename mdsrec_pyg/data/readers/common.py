"""Parsing helpers shared by the readers: every failure is an InputError naming file, line and expectation."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterator

import numpy as np

from ...errors import InputError


def require_file(path: Path) -> Path:
    if not path.is_file():
        raise InputError(path, "file not found")
    return path


def lines(path: Path) -> Iterator[tuple[int, str]]:
    """Non-empty lines with their 1-based numbers, trailing newline removed."""
    require_file(path)
    try:
        with open(path, encoding="utf-8-sig") as handle:  # a byte-order mark is not part of the first id
            for number, line in enumerate(handle, start=1):
                line = line.rstrip("\r\n")
                if line.strip():
                    yield number, line
    except UnicodeDecodeError as err:
        raise InputError(path, f"not UTF-8 text ({err.reason} at byte {err.start})") from None


def parse_int(token: str, path: Path, line: int, field: str) -> int:
    try:
        return int(token)
    except ValueError:
        raise InputError(path, f"field {field!r}: expected an integer, got {token!r}", line) from None


def parse_float(token: str, path: Path, line: int, field: str) -> float:
    """A finite number (NaN and infinities are refused)."""
    try:
        value = float(token)
    except ValueError:
        raise InputError(path, f"field {field!r}: expected a number, got {token!r}", line) from None
    if not math.isfinite(value):
        raise InputError(path, f"field {field!r}: expected a finite number, got {token!r}", line)
    return value


def check_header(path: Path, line: int, got: list[str], expected: list[str]) -> None:
    if got != expected:
        raise InputError(path, f"expected header {' '.join(expected)!r}, got {' '.join(got)!r}", line)


def read_raw_float32(path: Path, dim: int, rows: int) -> np.ndarray:
    """A raw little-endian float32 matrix of ``rows`` x ``dim`` (UniSRec's ``.feat*`` files)."""
    require_file(path)
    size = path.stat().st_size
    if size % (4 * dim):
        raise InputError(path, f"size {size} bytes is not a multiple of dim {dim} x 4 bytes (float32)")
    matrix = np.fromfile(path, dtype="<f4").reshape(-1, dim)
    if matrix.shape[0] != rows:
        raise InputError(path, f"{matrix.shape[0]} rows of dim {dim}, expected {rows} (one per item in the item map)")
    return matrix


def read_npy_matrix(path: Path, rows: int) -> np.ndarray:
    """A 2-D ``.npy`` matrix with ``rows`` rows (MMRec's ``image_feat.npy`` / ``text_feat.npy``)."""
    require_file(path)
    with open(path, "rb") as handle:
        if handle.read(6) != b"\x93NUMPY":
            raise InputError(path, "not a .npy file (it does not start with the NumPy magic bytes)")
    try:
        matrix = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise InputError(path, f"not a readable .npy array ({err})") from None
    if matrix.ndim != 2:
        raise InputError(path, f"expected a 2-D matrix, got shape {matrix.shape}")
    if matrix.shape[0] != rows:
        raise InputError(path, f"{matrix.shape[0]} rows, expected {rows} (one per item in the item map)")
    if not (np.issubdtype(matrix.dtype, np.floating) or np.issubdtype(matrix.dtype, np.integer)):
        raise InputError(path, f"expected a real-valued (floating point) matrix, got dtype {matrix.dtype}")
    return matrix.astype(np.float32, copy=False)


LARGEST_FEATURE = 1e15  # above it, sums of squares (cosine similarity, k-means) overflow float32 arithmetic


def check_finite(matrix: np.ndarray, path: Path, block: int = 65536) -> np.ndarray:
    """``matrix`` if every value is finite and at most :data:`LARGEST_FEATURE` in magnitude (checked in
    blocks of rows, so no copy of a large matrix is made); else one line naming the first bad row."""
    for start in range(0, len(matrix), block):
        rows = matrix[start : start + block]
        bad = ~np.isfinite(rows).all(axis=1)
        if bad.any():
            raise InputError(path, f"row {start + int(np.argmax(bad))} has NaN or infinite values")
        largest = np.abs(rows).max(axis=1) if rows.size else np.zeros(0)
        if (largest > LARGEST_FEATURE).any():
            row = int(np.argmax(largest > LARGEST_FEATURE))
            raise InputError(
                path,
                f"row {start + row} has a value of magnitude {largest[row]:.3g}, beyond {LARGEST_FEATURE:g}: "
                "cosine similarities and k-means would overflow float32; scale the features",
            )
    return matrix


def with_padding_row(matrix: np.ndarray) -> np.ndarray:
    """Prepend the zero row of item index 0 (padding) to a matrix whose row i is the source's item i."""
    return np.vstack([np.zeros((1, matrix.shape[1]), dtype=np.float32), matrix])


def npy_features(folder: Path, rows: int) -> dict[str, np.ndarray]:
    """Every ``<modality>_feat.npy`` in ``folder`` (MMRec naming), padding row prepended."""
    found = {}
    for path in sorted(folder.glob("*_feat.npy")) if folder.is_dir() else []:
        modality = path.name[: -len("_feat.npy")]
        found[modality] = with_padding_row(check_finite(read_npy_matrix(path, rows), path))
    return found


def new_items_folder(folder: str | Path) -> tuple[list[str], dict[str, np.ndarray], list[str] | None]:
    """Items known by their features only: ``items.txt`` (their ids, one a line), a ``<modality>_feat.npy``
    per modality (a row per listed item, in that order) and optional ``item_text.txt`` (``item<TAB>text``)."""
    folder = Path(folder)
    listing = require_file(folder / "items.txt")
    ids = [line.strip() for _, line in lines(listing)]
    features = {m: matrix[1:] for m, matrix in npy_features(folder, len(ids)).items()}
    if not features:
        raise InputError(folder, "no <modality>_feat.npy beside items.txt; a new item is known by its features")
    text = None
    if (folder / "item_text.txt").is_file():
        texts = dict(line.partition("\t")[::2] for _, line in lines(folder / "item_text.txt"))
        text = [texts.get(i, "").strip() for i in ids]
    return ids, features, text


def listed_features(item_ids: list[str], folders: list[Path], source: str) -> dict[str, np.ndarray]:
    """The ``<modality>_feat.npy`` matrices of each folder that has an ``items.txt`` (the original id of each
    matrix row, one a line), reordered to ``item_ids`` (padding first); every item of ``source`` must be
    listed. Later folders add to or replace earlier ones."""
    features: dict[str, np.ndarray] = {}
    for folder in folders:
        listing = folder / "items.txt"
        if not listing.exists():
            continue
        listed = [line.strip() for _, line in lines(listing)]
        row_of = {item: r for r, item in enumerate(listed)}
        missing = [item for item in item_ids[1:] if item not in row_of]
        if missing:
            raise InputError(listing, f"item {missing[0]!r} of {source} is not listed ({len(missing)} missing)")
        order = np.array([row_of[item] for item in item_ids[1:]])
        for modality, matrix in npy_features(folder, len(listed)).items():
            features[modality] = np.vstack([matrix[:1], matrix[1:][order]])
    return features
