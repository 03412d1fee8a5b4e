"""Paired tests between two models over the same users: is a difference in NDCG@K more than noise?

Each run stores the rank of every user's target (``ranks.npz``, written by the trainer; the results registry
keeps a text copy beside each run's entry, ``<run>.ranks.txt``, which the table scripts read). Two models are
compared user by user on NDCG@K: the Wilcoxon signed-rank test (scipy; users whose two values are equal carry
no sign and are left out, Wilcoxon's own treatment) and a paired bootstrap of the mean difference (users
resampled with replacement; the 2.5th and 97.5th percentiles). With several seeds a user's value is the mean
over that model's seeds, so the test is over users and the seeds only steady each user's value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import io

ALPHA = 0.05


def ndcg_per_user(ranks: np.ndarray, k: int) -> np.ndarray:
    """NDCG@k of each user's single target from its 1-based rank: 1 / log2(rank + 1) inside the top k, else 0."""
    ranks = np.asarray(ranks, dtype=np.float64)
    return np.where(ranks <= k, 1.0 / np.log2(ranks + 1.0), 0.0)


def bootstrap_interval(
    differences: np.ndarray, resamples: int = 10_000, seed: int = 0, level: float = 0.95, chunk: int = 500
) -> tuple[float, float]:
    """Percentile interval of the mean of ``differences`` over users resampled with replacement."""
    rng = np.random.default_rng(seed)
    n = len(differences)
    means = np.empty(resamples)
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        means[start : start + size] = differences[rng.integers(0, n, size=(size, n))].mean(axis=1)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def paired_comparison(a: np.ndarray, b: np.ndarray, resamples: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """``a`` against ``b`` (per-user values, same users in the same order): means, mean difference a - b, its
    95% bootstrap interval, the two-sided Wilcoxon signed-rank p-value and whether p < ALPHA."""
    from scipy.stats import wilcoxon

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(f"expected two equal-length 1-d arrays of per-user values, got {a.shape} and {b.shape}")
    differences = a - b
    nonzero = int(np.count_nonzero(differences))
    p = 1.0 if nonzero == 0 else float(wilcoxon(differences, zero_method="wilcox").pvalue)
    low, high = bootstrap_interval(differences, resamples, seed)
    return {
        "users": len(a),
        "users_differing": nonzero,
        "mean_a": float(a.mean()),
        "mean_b": float(b.mean()),
        "difference": float(differences.mean()),
        "ci_low": low,
        "ci_high": high,
        "p_wilcoxon": p,
        "significant": p < ALPHA,
    }


def per_user_ndcg(ranks_files: list[str | Path], k: int = 20, stage: str = "test") -> np.ndarray:
    """Each user's NDCG@k averaged over the runs whose ranks files (``ranks.npz``) are given (one model's
    seeds); the runs must rank the same users."""
    values = [ndcg_per_user(io.read_ranks(f, stage), k) for f in ranks_files]
    if len({len(v) for v in values}) != 1:
        raise ValueError(f"runs {list(map(str, ranks_files))} ranked different numbers of users")
    return np.mean(values, axis=0)


def per_user_hits(ranks_files: list[str | Path], k: int = 20, stage: str = "test") -> np.ndarray:
    """(runs, users): whether each run (one model's seeds, by its ranks file) ranked each user's target in its
    top k."""
    hits = [io.read_ranks(f, stage) <= k for f in ranks_files]
    if len({len(h) for h in hits}) != 1:
        raise ValueError(f"runs {list(map(str, ranks_files))} ranked different numbers of users")
    return np.stack(hits)


def mcnemar_exact(a: np.ndarray, b: np.ndarray) -> tuple[int, int, float]:
    """McNemar's exact test on paired hits: the pairs that ``a`` alone and ``b`` alone hit, and the two-sided
    binomial p-value of the first count among the discordant pairs at 1/2 (1 with none)."""
    from scipy.stats import binomtest

    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    p = 1.0 if only_a + only_b == 0 else float(binomtest(only_a, only_a + only_b, 0.5).pvalue)
    return only_a, only_b, p


def paired_recall(
    runs_a: list[str | Path], runs_b: list[str | Path], k: int = 20, seed: int = 0, stage: str = "test"
) -> dict[str, Any]:
    """Recall@k of ``runs_a`` against ``runs_b`` (ranks files of the same seeds in the same order), paired over
    users: the mean difference of per-user Recall (a user's hits averaged over the seeds) with its bootstrap
    interval, and McNemar's exact test on the hits, its pairs being (user, seed) (with one seed, users), which
    decides ``significant``."""
    a, b = per_user_hits(runs_a, k, stage), per_user_hits(runs_b, k, stage)
    if a.shape != b.shape:
        raise ValueError(f"expected the same seeds and users, got {a.shape} and {b.shape}")
    comparison = paired_comparison(a.mean(0), b.mean(0), seed=seed)
    only_a, only_b, p = mcnemar_exact(a.ravel(), b.ravel())
    return {**comparison, "only_a": only_a, "only_b": only_b, "p_mcnemar": p, "significant": p < ALPHA}
