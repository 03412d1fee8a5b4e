"""The co-occurrence relation matrix O (Eq. 1-2), from training sequences only.

O_ij = sum over users u of O^u_ij, with O^u_ij = 1 / D_ij where D_ij is the distance between the positions of
items i and j in u's training sequence (``distance_weighting=False`` counts every pair 1: the paper's
"w/o DIS"). Where an item occurs twice in a sequence, every pair of positions counts. O is symmetric and
has no self-loops (an item repeated in a sequence does not relate to itself). ``window`` caps the distance
so that long sequences do not explode in pairs (0: no cap, the paper's choice); a build that would take more
than :data:`MEMORY_BUDGET` is refused before it starts, with a window that fits.

Built vectorised: one shifted comparison of the padded sequence matrix per distance, then one coalesce.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch_geometric.utils import coalesce

from ..errors import InputError

MEMORY_BUDGET = 8 * 2**30  # bytes the build may take before it is refused with a suggested window
BYTES_PER_PAIR = 2 * (2 * 8 + 4) * 3  # both directions; two int64 ids and a weight; the lists, the cat, coalesce


def estimated_bytes(lengths: np.ndarray, window: int) -> int:
    """Memory the build of O takes for sequences of ``lengths``: the padded matrix and every position pair
    within ``window`` (0: no cap), by the count the loop below makes."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if len(lengths) == 0:
        return 0
    reach = lengths - 1 if window <= 0 else np.minimum(window, lengths - 1)
    pairs = int((reach * lengths - reach * (reach + 1) // 2).sum())
    return int(len(lengths) * lengths.max() * 8 + pairs * BYTES_PER_PAIR)


def check_size(lengths: np.ndarray, window: int, budget: int = MEMORY_BUDGET) -> None:
    """One line, before anything is built, when O would take more than ``budget`` bytes, with the largest
    ``cooc_window`` among a few round numbers that fits."""
    need = estimated_bytes(lengths, window)
    if need <= budget:
        return
    fits = next((w for w in (200, 100, 50, 20, 10, 5, 2, 1) if estimated_bytes(lengths, w) <= budget), None)
    advice = f"--set cooc_window={fits} caps the distance counted"
    if fits:
        advice += f" (about {estimated_bytes(lengths, fits) / 2**30:.1f} GB)"
    raise InputError(
        "graphs.cooc_window",
        f"the co-occurrence graph would take about {need / 2**30:,.1f} GB (the longest training sequence has "
        f"{int(np.max(lengths)):,} items), more than the {budget / 2**30:.0f} GB budget; "
        + (advice if fits else "the sequences are too many for any window: cut the longest ones"),
    )


def cooccurrence_graph(
    train_sequences: list[np.ndarray], num_items: int, distance_weighting: bool = True, window: int = 0
) -> tuple[Tensor, Tensor]:
    """``(edge_index, edge_weight)`` of O over ``num_items`` nodes (index 0, padding, has no edges)."""
    lengths = np.array([len(s) for s in train_sequences])
    check_size(lengths, window)
    longest = int(lengths.max()) if len(lengths) else 0
    padded = np.zeros((len(train_sequences), longest), dtype=np.int64)
    for u, seq in enumerate(train_sequences):
        padded[u, : len(seq)] = seq
    seqs = torch.from_numpy(padded)
    max_distance = longest - 1 if window <= 0 else min(window, longest - 1)
    sources, targets, weights = [], [], []
    for distance in range(1, max_distance + 1):
        a, b = seqs[:, :-distance], seqs[:, distance:]
        keep = (a != 0) & (b != 0) & (a != b)
        a, b = a[keep], b[keep]
        weight = torch.full((len(a),), 1.0 / distance if distance_weighting else 1.0)
        sources += [a, b]
        targets += [b, a]
        weights += [weight, weight]
    if not sources:
        return torch.zeros((2, 0), dtype=torch.long), torch.zeros(0)
    edge_index = torch.stack([torch.cat(sources), torch.cat(targets)])
    edge_index, weight = coalesce(edge_index, torch.cat(weights).double(), num_items, reduce="sum")
    return edge_index, weight.float()
