"""The co-occurrence relation matrix O (Eq. 1-2), from training sequences only.

O_ij = sum over users u of O^u_ij, with O^u_ij = 1 / D_ij where D_ij is the distance between the positions of
items i and j in u's training sequence (``distance_weighting=False`` counts every pair 1: the paper's
"w/o DIS"). Where an item occurs twice in a sequence, every pair of positions counts. O is symmetric and
has no self-loops (an item repeated in a sequence does not relate to itself). ``window`` caps the distance
so that long sequences do not explode in pairs (0: no cap, the paper's choice).

Built vectorised: one shifted comparison of the padded sequence matrix per distance, then one coalesce.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch_geometric.utils import coalesce


def cooccurrence_graph(train_sequences: list[np.ndarray], num_items: int, distance_weighting: bool = True,
                       window: int = 0) -> tuple[Tensor, Tensor]:
    """``(edge_index, edge_weight)`` of O over ``num_items`` nodes (index 0, padding, has no edges)."""
    lengths = np.array([len(s) for s in train_sequences])
    longest = int(lengths.max()) if len(lengths) else 0
    padded = np.zeros((len(train_sequences), longest), dtype=np.int64)
    for u, seq in enumerate(train_sequences):
        padded[u, :len(seq)] = seq
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
