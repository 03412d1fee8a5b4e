"""The embedded default dataset: generated from a seed, no files needed.

Items cluster one way in "image" space and an independent way in "text" space. Each user follows one
modality: their next item is, with probability ``1 - noise``, another item of the current item's cluster in
that modality, otherwise a popular item. A model that sees the modal neighbourhoods (MDSRec's relation
graphs) can find the next item among a few dozen; an ID-only model must learn every item's neighbours
from co-occurrence alone.
"""

from __future__ import annotations

import numpy as np

from .dataset import SequentialDataset, build_dataset

MODALITIES = ("image", "text")


def make_synthetic(
    seed: int = 0,
    num_users: int = 2000,
    num_items: int = 1000,
    clusters: int = 50,
    dim: int = 32,
    noise: float = 0.2,
    mean_length: float = 6.0,
    max_length: int = 30,
) -> SequentialDataset:
    rng = np.random.default_rng(seed)
    cluster_of = {m: rng.integers(clusters, size=num_items) for m in MODALITIES}
    members = {m: [np.flatnonzero(cluster_of[m] == c) for c in range(clusters)] for m in MODALITIES}
    features = {}
    for m in MODALITIES:
        centres = rng.normal(size=(clusters, dim))
        matrix = centres[cluster_of[m]] + 0.5 * rng.normal(size=(num_items, dim))
        features[m] = np.vstack([np.zeros((1, dim)), matrix]).astype(np.float32)
    popularity = 1.0 / (1.0 + rng.permutation(num_items)) ** 0.8  # a long tail, but not a few giants
    popularity /= popularity.sum()

    sequences = []
    for _ in range(num_users):
        modality = MODALITIES[rng.integers(len(MODALITIES))]
        length = int(min(max_length, 3 + rng.geometric(1.0 / (mean_length - 2))))
        item = int(rng.choice(num_items, p=popularity))
        seq = [item]
        while len(seq) < length:
            neighbours = members[modality][cluster_of[modality][item]]
            if rng.random() < noise or len(neighbours) < 2:
                item = int(rng.choice(num_items, p=popularity))
            else:
                item = int(rng.choice(neighbours[neighbours != item]))
            seq.append(item)
        sequences.append(np.array(seq) + 1)

    item_ids = ["[PAD]"] + [f"i{i}" for i in range(num_items)]
    text = [""] + [
        f"item {i}: image cluster {cluster_of['image'][i]}, text cluster {cluster_of['text'][i]}"
        for i in range(num_items)
    ]
    user_ids = [f"u{u}" for u in range(num_users)]
    return build_dataset("synthetic", sequences, item_ids, user_ids, features, text, source="synthetic")
