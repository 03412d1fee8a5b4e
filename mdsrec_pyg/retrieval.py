"""Top-K retrieval by inner product over a catalog of item vectors: exact in chunks, or an approximate index.

Every model's score is an inner product between a user vector and an item vector
(:meth:`SequentialRecommender.user_vectors` / ``catalog_vectors``; for MDSRec Eq. 22 with the channels
concatenated), so recommending is maximum-inner-product search:

- :class:`ExactIndex` (the default): users x items in chunks of items with a running top-K, memory
  users x (K + chunk), never users x items.
- :class:`FaissIndex`: FAISS's inverted-file index with the inner-product metric (``faiss-cpu``, an optional
  extra: ``pip install '.[faiss]'``): items are clustered into ``nlist`` cells and a query scans the
  ``nprobe`` cells whose centroids score highest, so it returns the exact inner products of the items it
  finds but may miss some of the true top-K; :func:`recall_at_k` measures how many.

Row 0 of the item matrix is padding and is never returned. Both return, per user, the ids and scores of the
best ``k`` items not in that user's ``exclude`` list, best first, ties in ascending item id; a user with
fewer than ``k`` candidates gets id -1 and score -inf in the empty places.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Protocol, Sequence

import numpy as np
import torch
from torch import Tensor

from .errors import InputError, shorten

INDEXES = ("exact", "faiss")


class InnerProductIndex(Protocol):
    def search(
        self, users: Tensor, k: int, exclude: Sequence[np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores (B, k) float32, ids (B, k) int64) of the best ``k`` items per user."""
        ...


def _exclusion_matrix(exclude: Sequence[np.ndarray], device: torch.device) -> Tensor:
    """(B, L) item ids to exclude per user, padded with 0 (the padding item, excluded anyway)."""
    width = max((len(e) for e in exclude), default=0)
    out = np.zeros((len(exclude), max(width, 1)), dtype=np.int64)
    for row, items in enumerate(exclude):
        out[row, : len(items)] = items
    return torch.as_tensor(out, device=device)


def mask_items(scores: Tensor, items: Tensor, start: int, end: int) -> None:
    """Set ``scores[b, items[b, j] - start]`` to -inf for each row's items in ``start..end-1`` (``scores`` holds
    the columns of those items); entries 0 (padding) mask nothing."""
    inside = (items >= start) & (items < end) & (items != 0)
    rows = torch.arange(items.size(0), device=items.device)[:, None].expand_as(items)
    scores[rows[inside], items[inside] - start] = float("-inf")


def _ordered(scores: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row sorted by score descending, ties by id ascending; empty places (-inf) get id -1."""
    order = np.lexsort((ids, -scores), axis=-1) if scores.size else np.zeros_like(ids)
    scores, ids = np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)
    ids = np.where(np.isneginf(scores), -1, ids)
    return scores.astype(np.float32), ids.astype(np.int64)


def _top_k_lowest_ids(scores: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Each row's ``k`` best (values, column indices), of tied values the lowest columns: ``topk``, with the
    rows whose k-th value ties with a left-out one redone by a stable sort (rare but for exact ties)."""
    values, indices = scores.topk(k, dim=1)
    edge = values[:, -1:]
    crossing = ((scores == edge).sum(1) > (values == edge).sum(1)).nonzero().squeeze(1)
    if len(crossing):
        stable_values, stable_indices = scores[crossing].sort(dim=1, descending=True, stable=True)
        values[crossing], indices[crossing] = stable_values[:, :k], stable_indices[:, :k]
    return values, indices


def _merge(values: Tensor, ids: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The best ``k`` of candidate (values, ids) per row, ordered by value descending, then id ascending."""
    by_id = ids.argsort(dim=1, stable=True)
    values, ids = values.gather(1, by_id), ids.gather(1, by_id)
    by_value = values.argsort(dim=1, descending=True, stable=True)[:, :k]
    return values.gather(1, by_value), ids.gather(1, by_value)


class ExactIndex:
    """Exact top-K: ``users @ items[start:end].T`` chunk by chunk with a running top-K."""

    def __init__(self, items: Tensor, chunk: int = 65536) -> None:
        if chunk < 1:
            raise InputError("chunk", f"expected a positive number of items per chunk, got {chunk}")
        self.items = items.detach().float()
        self.chunk = chunk

    def search(
        self, users: Tensor, k: int, exclude: Sequence[np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        users = users.detach().float().to(self.items.device)
        num_items = self.items.size(0)
        excluded = _exclusion_matrix(exclude, users.device) if exclude is not None else None
        best = torch.full((users.size(0), 0), float("-inf"), device=users.device)
        best_ids = torch.zeros((users.size(0), 0), dtype=torch.long, device=users.device)
        for start in range(0, num_items, self.chunk):
            end = min(start + self.chunk, num_items)
            scores = users @ self.items[start:end].T
            if start == 0:
                scores[:, 0] = float("-inf")
            if excluded is not None:
                mask_items(scores, excluded, start, end)
            values, ids = _top_k_lowest_ids(scores, min(k, end - start))
            best, best_ids = _merge(torch.cat([best, values], 1), torch.cat([best_ids, ids + start], 1), k)
        scores, ids = best.cpu().numpy(), best_ids.cpu().numpy()
        if scores.shape[1] < k:  # fewer items than k
            pad = k - scores.shape[1]
            scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
            ids = np.pad(ids, ((0, 0), (0, pad)), constant_values=-1)
        return _ordered(scores, ids)


class FaissIndex:
    """Approximate top-K by inner product: FAISS ``IndexIVFFlat`` with ``METRIC_INNER_PRODUCT``.

    ``nlist`` cells (default 4 sqrt(N), as FAISS's guidelines suggest) trained by k-means on at most
    ``train_size`` items; ``nprobe`` cells scanned per query (default nlist / 16, at least 1). Excluded
    items are filtered out of an enlarged result (k + the longest exclusion list)."""

    def __init__(
        self,
        items: Tensor,
        nlist: int | None = None,
        nprobe: int | None = None,
        train_size: int = 200_000,
        seed: int = 0,
    ) -> None:
        logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # its INFO lines on which build it loads
        try:
            import faiss
        except ImportError:
            raise InputError(
                "--index faiss", "needs faiss-cpu: pip install faiss-cpu (or the project's '[faiss]' extra)"
            ) from None
        vectors = np.ascontiguousarray(items.detach().float().cpu().numpy()[1:])  # row 0: padding
        n, dim = vectors.shape
        self.nlist = nlist or max(1, min(int(4 * math.sqrt(n)), n // 39))  # FAISS wants >= 39 points a cell
        self.nprobe = nprobe or max(1, self.nlist // 16)
        quantizer = faiss.IndexFlatIP(dim)
        self.index = faiss.IndexIVFFlat(quantizer, dim, self.nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        sample = vectors if n <= train_size else vectors[rng.choice(n, train_size, replace=False)]
        self.index.train(sample)
        self.index.add_with_ids(vectors, np.arange(1, n + 1, dtype=np.int64))
        self.index.nprobe = self.nprobe

    def search(
        self, users: Tensor, k: int, exclude: Sequence[np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(users.detach().float().cpu().numpy())
        extra = max((len(e) for e in exclude), default=0) if exclude is not None else 0
        scores, ids = self.index.search(queries, k + extra)
        scores = np.where(ids < 0, -np.inf, scores)
        if exclude is not None:
            for row, items in enumerate(exclude):
                scores[row, np.isin(ids[row], items)] = -np.inf
        scores, ids = _ordered(scores, ids)
        return scores[:, :k], ids[:, :k]


INDEX_OPTIONS = {"exact": ("chunk",), "faiss": ("nlist", "nprobe", "train_size", "seed")}


def check_index_options(kind: str, options: dict[str, Any]) -> None:
    """One line for an unknown index, an option it does not have, or a value that is not an integer >= 1
    (``seed`` >= 0)."""
    if kind not in INDEX_OPTIONS:
        raise InputError("index", f"unknown index {shorten(kind)}; expected one of {', '.join(INDEXES)}")
    for name, value in options.items():
        if name not in INDEX_OPTIONS[kind]:
            raise InputError(name, f"not an option of the {kind} index; expected {', '.join(INDEX_OPTIONS[kind])}")
        lowest = 0 if name == "seed" else 1
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < lowest):
            raise InputError(name, f"got {shorten(value)}; expected an integer >= {lowest}")


def build_index(kind: str, items: Tensor, **options) -> InnerProductIndex:
    """An index of ``kind`` (``exact`` or ``faiss``) over ``items`` (N, D), row 0 padding."""
    check_index_options(kind, options)
    return ExactIndex(items, **options) if kind == "exact" else FaissIndex(items, **options)


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean over rows of |found ∩ exact| / |exact| (ids; -1 places ignored): an index's recall against exact."""
    hits = [len(set(f[f >= 0]) & set(e[e >= 0])) / max(1, int((e >= 0).sum())) for f, e in zip(found, exact)]
    return float(np.mean(hits)) if hits else 0.0


__all__ = [
    "INDEXES",
    "ExactIndex",
    "FaissIndex",
    "InnerProductIndex",
    "build_index",
    "check_index_options",
    "mask_items",
    "recall_at_k",
]
