"""The interest centres of the relation-graph stage (Eq. 10): k-means on an item's raw modal features gives it a
centre; ``nn/centralized.py`` reads the assignment as C^m."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

KMEANS_FULL_MAX_ITEMS = 100_000  # above: mini-batch k-means


def kmeans_assignment(features: Tensor, k: int, seed: int = 0) -> Tensor:
    """Eq. 10: the centre (0..k-1) of each item 1..n-1 of ``features`` (row 0, padding, is left out)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans  # here: a 2 s import that baselines and loading never need

    data = features[1:].float().numpy()
    k = max(1, min(k, len(data)))
    if len(data) <= KMEANS_FULL_MAX_ITEMS:
        model = KMeans(n_clusters=k, n_init=3, random_state=seed)
    else:
        model = MiniBatchKMeans(n_clusters=k, n_init=3, random_state=seed, batch_size=4096)
    return torch.from_numpy(model.fit_predict(data).astype(np.int64))
