"""What the benchmarks share: stand-in features and generated catalogs of any size, and a timer of named stages
that records peak memory after each (``experiments/bench.py``, ``bench_retrieval.py``, ``stand_in_features.py``)."""

from __future__ import annotations

import os
import resource
import threading
import time
from typing import Any, Callable

import numpy as np
import torch

from .allocator import release_free_memory
from .data import SequentialDataset, build_dataset

LATENT = 64


def peak_rss_mb() -> float:
    """The process's peak resident memory so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def rss_mb() -> float:
    """The process's resident memory now, in MB (``/proc/self/statm``)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def step_peak_mb(step: Callable[[], Any], device: str = "cpu", every: float = 0.005) -> float:
    """The memory one call of ``step`` adds at its peak, in MB: on CUDA the allocator's peak above what was
    allocated before; on CPU the resident memory, sampled every ``every`` seconds, above its level before, once
    the free memory malloc holds is handed back (so a step that reuses blocks kept from earlier is counted too)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    release_free_memory()  # resident memory is then what is in use: the step's own blocks are counted
    before, peak, done = rss_mb(), [0.0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb())
            time.sleep(every)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        step()
    finally:
        done.set()
        sampler.join()
    return max(peak[0], rss_mb()) - before


def multiply_adds(
    shape: dict[str, int], batches: list[tuple[int, int, int]], backward: bool = True
) -> dict[str, float]:
    """The multiply-adds that a model's objective needs for ``batches`` of (rows B, length L, query positions
    P), by term: the softmax over N items for each channel (P x N x d), the transformer encoders (per layer
    B L (4 d^2 + 2 d inner) + 2 B L^2 d), and the centralized attention of each modality (its first layer's
    shared centres as a prefix sum, B k L d per head; every later layer 2 P k heads L d); forward and backward
    (3x the forward) for a training step, the forward alone (``backward`` False) for full ranking, where P is
    one query per user and the softmax term is the scoring of every item. ``shape``: d, inner, layers, heads,
    items, channels, encoders, ica (modalities with ICA, 0 for none) and k."""
    d, inner, layers, heads = shape["d"], shape["inner"], shape["layers"], shape["heads"]
    terms = {"softmax": 0.0, "encoders": 0.0, "ica": 0.0}
    for rows, length, positions in batches:
        terms["softmax"] += shape["channels"] * positions * shape["items"] * d
        per_layer = rows * length * (4 * d * d + 2 * d * inner) + 2 * rows * length * length * d
        terms["encoders"] += shape["encoders"] * layers * per_layer
        first = rows * shape["k"] * heads * length * d
        terms["ica"] += shape["ica"] * (first + (layers - 1) * 2 * positions * shape["k"] * heads * length * d)
    return {name: (3 if backward else 1) * value for name, value in terms.items()}


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


STAND_IN_WIDTHS = {"image": 4096, "text": 384}  # MMRec's feature widths


def with_stand_in_features(dataset: SequentialDataset, seed: int = 0) -> SequentialDataset:
    """``dataset`` with random image (4,096-d) and text (384-d) features around a random topic per item for
    each of the two modalities it has no features of (its own are kept)."""
    rng = np.random.default_rng(seed)
    topics = np.concatenate([[0], rng.integers(max(1, dataset.num_items // 200), size=dataset.num_items - 1)])
    for modality, width in STAND_IN_WIDTHS.items():
        stand_in = stand_in_features(topics, width, rng)  # drawn for both, so a modality's draw never moves
        dataset.features.setdefault(modality, stand_in)
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
