"""What the benchmarks share: stand-in features and generated catalogs of any size, and a timer of named stages
that records peak memory after each (``experiments/bench.py``, ``bench_retrieval.py``, ``stand_in_features.py``)."""

from __future__ import annotations

import resource
import time
from typing import Any, Callable

import numpy as np
import torch

from .data import SequentialDataset, build_dataset

LATENT = 64


def peak_rss_mb() -> float:
    """The process's peak resident memory so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def stand_in_features(topics: np.ndarray, width: int, rng: np.random.Generator, chunk: int = 100_000) -> torch.Tensor:
    """(len(topics), width) float32: each item's topic centre plus noise in a 64-d latent, mapped to ``width``."""
    centres = rng.standard_normal((int(topics.max()) + 1, LATENT)).astype(np.float32)
    mapping = rng.standard_normal((LATENT, width)).astype(np.float32) / np.sqrt(LATENT)
    out = np.empty((len(topics), width), dtype=np.float32)
    for start in range(0, len(topics), chunk):
        part = topics[start : start + chunk]
        latent = centres[part] + 0.7 * rng.standard_normal((len(part), LATENT)).astype(np.float32)
        out[start : start + chunk] = latent @ mapping
    out[0] = 0.0
    return torch.from_numpy(out)


def generated_catalog(items: int, sequences: int, seed: int = 0, topic_size: int = 200) -> SequentialDataset:
    """``sequences`` users over ``items`` items: each user follows one topic (items i with i % T == t) and
    picks its items with a popularity skew (u^3 over the topic's members); lengths 3 + Poisson(4)."""
    rng = np.random.default_rng(seed)
    num_topics = max(1, items // topic_size)
    lengths = 3 + rng.poisson(4.0, sequences)
    rows = []
    for length, topic in zip(lengths, rng.integers(num_topics, size=sequences)):
        members = (items - 2 - topic) // num_topics + 1  # items topic+1, topic+1+T, ... up to items-1
        rank = (members * rng.random(length) ** 3).astype(np.int64)
        rows.append(1 + topic + num_topics * rank)
    item_ids = ["[PAD]"] + [f"item{i}" for i in range(1, items)]
    topics = np.concatenate([[0], (np.arange(1, items) - 1) % num_topics])
    features = {"text": stand_in_features(topics, 384, rng).numpy()}
    dataset = build_dataset(
        f"generated-{items}", rows, item_ids, [f"u{u}" for u in range(sequences)], features, source="generated"
    )
    return dataset


def with_stand_in_features(dataset: SequentialDataset, seed: int = 0) -> SequentialDataset:
    """``dataset`` with random image (4,096-d) and text (384-d) features around a random topic per item."""
    rng = np.random.default_rng(seed)
    topics = np.concatenate([[0], rng.integers(max(1, dataset.num_items // 200), size=dataset.num_items - 1)])
    dataset.features = {"image": stand_in_features(topics, 4096, rng), "text": stand_in_features(topics, 384, rng)}
    return dataset


class Stages:
    """Times named stages and records peak memory after each."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float, str]] = []

    def run(self, name: str, fn: Callable[[], Any], note: str = "") -> tuple[Any, float]:
        tick = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - tick
        self.rows.append((name, seconds, peak_rss_mb(), note))
        print(f"{name:<34} {seconds:9.2f} s   peak RSS {peak_rss_mb():8.0f} MB   {note}", flush=True)
        return out, seconds
