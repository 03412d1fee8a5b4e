"""Modal relation graphs (Eq. 4-5): each item's top-H neighbours by cosine similarity, affinity set to 1.

Two paths: exact (blocked matrix products, never an |X| x |X| matrix: at most ``BLOCK_ELEMENTS``
similarities at once) and approximate (pynndescent's NN-descent). ``method="auto"`` takes exact up to
``EXACT_MAX_ITEMS`` items, where it is faster than pynndescent's start-up (50-70 s of numba compilation per
process).

Self-loop policy: an item is never its own neighbour among the H (its cosine with itself, 1, would
otherwise always take one of the H places); ``self_loops=True`` then adds the edge i -> i, so that H counts
true neighbours and H = 0 leaves each item with itself only. Padding (row 0) has no edges.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

METHODS = ("auto", "exact", "nndescent")  # auto: exact up to EXACT_MAX_ITEMS items, else nndescent
EXACT_MAX_ITEMS = 50_000


def _unit_rows(features: Tensor) -> Tensor:
    features = features.float()
    return features / features.norm(dim=1, keepdim=True).clamp_min(1e-12)


BLOCK_ELEMENTS = 2**26  # similarities held at once by the exact search (256 MiB of float32)


def exact_topk(features: Tensor, H: int, block: int | None = None, rows: Tensor | None = None) -> Tensor:
    """(len(rows), H) indices of the H rows most cosine-similar to each of ``rows`` (default: every row),
    the row itself excluded, by blocked products of ``block`` query rows (default: as many as keep the
    block x n similarities within ``BLOCK_ELEMENTS``)."""
    unit = _unit_rows(features)
    rows = torch.arange(unit.size(0)) if rows is None else rows
    block = block or max(1, min(4096, BLOCK_ELEMENTS // unit.size(0)))
    out = torch.empty((len(rows), H), dtype=torch.long)
    for start in range(0, len(rows), block):
        queries = rows[start : start + block]
        sims = unit[queries] @ unit.T
        sims[torch.arange(len(queries)), queries] = float("-inf")
        out[start : start + block] = sims.topk(H, dim=1).indices
    return out


def nearest_in(catalog: Tensor, queries: Tensor, count: int) -> Tensor:
    """(len(queries), count) indices of the rows 1.. of ``catalog`` (row 0 is padding) most cosine-similar to
    each query row, most similar first; blocked as :func:`exact_topk`."""
    unit, asked = _unit_rows(catalog[1:]), _unit_rows(queries)
    block = max(1, min(4096, BLOCK_ELEMENTS // unit.size(0)))
    count = min(count, unit.size(0))
    parts = [(asked[s : s + block] @ unit.T).topk(count, dim=1).indices for s in range(0, len(asked), block)]
    return torch.cat(parts) + 1


def approximate_topk(features: Tensor, H: int, seed: int = 0) -> Tensor:
    """(n, H) approximate cosine neighbours (self excluded) from pynndescent, on as many threads as torch has
    (and leaving torch with them)."""
    from pynndescent import NNDescent

    data, threads = features.float().numpy(), torch.get_num_threads()
    index = NNDescent(
        data, metric="cosine", n_neighbors=min(H + 1, len(data) - 1), random_state=seed, low_memory=True, n_jobs=threads
    )
    neighbours, _ = index.neighbor_graph
    torch.set_num_threads(threads)  # numba's parallel search sets the OpenMP thread count that torch reads
    rows = np.arange(len(data))[:, None]
    # drop the item itself wherever it appears, keep the first H others
    others = np.where(neighbours == rows, -1, neighbours)
    order = np.argsort(others == -1, axis=1, kind="stable")
    return torch.from_numpy(np.take_along_axis(others, order, axis=1)[:, :H].astype(np.int64))


def knn_graph(
    features: Tensor, H: int, method: str = "auto", self_loops: bool = True, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """``(edge_index, edge_weight)`` of Â^m (Eq. 5) over items 1..n-1 of ``features`` (row 0 is padding)."""
    num_items = features.size(0)
    real = features[1:]
    H = min(H, real.size(0) - 1)
    if method == "auto":
        method = "exact" if real.size(0) <= EXACT_MAX_ITEMS else "nndescent"
    if method not in METHODS[1:]:
        raise ValueError(f"knn method must be auto, exact or nndescent, got {method!r}")
    if H > 0:
        neighbours = (exact_topk(real, H) if method == "exact" else approximate_topk(real, H, seed)) + 1
        targets = torch.arange(1, num_items).repeat_interleave(H)
        edge_index = torch.stack([neighbours.flatten(), targets])  # neighbour j -> item i
    else:
        edge_index = torch.zeros((2, 0), dtype=torch.long)
    if self_loops:
        loops = torch.arange(1, num_items)
        edge_index = torch.cat([edge_index, torch.stack([loops, loops])], dim=1)
    return edge_index, torch.ones(edge_index.size(1))


def neighbour_lists(edge_index: Tensor, num_items: int, H: int) -> Tensor:
    """(num_items - 1, H) item indices: the H neighbours of items 1..n-1 back from :func:`knn_graph`'s edges."""
    lists = edge_index[:, : (num_items - 1) * H]
    if not torch.equal(lists[1], torch.arange(1, num_items).repeat_interleave(H)):
        raise ValueError("edge_index is not laid out as knn_graph writes it")
    return lists[0].view(num_items - 1, H)


def knn_recall(approximate: Tensor, exact: Tensor) -> float:
    """Mean fraction of each row's exact neighbours that the approximate graph found (recall@H)."""
    hits = [len(set(a.tolist()) & set(e.tolist())) for a, e in zip(approximate, exact)]
    return float(np.sum(hits) / exact.numel())
