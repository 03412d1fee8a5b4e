"""Paired significance between two models: per-user NDCG from ranks, the Wilcoxon signed-rank test against an
exact enumeration, the bootstrap interval, and the ranks a run stores."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mdsrec_pyg import io
from mdsrec_pyg.errors import InputError
from mdsrec_pyg.runs import RunFolder
from mdsrec_pyg.significance import (
    bootstrap_interval,
    mcnemar_exact,
    ndcg_per_user,
    paired_comparison,
    paired_recall,
    per_user_ndcg,
)


def test_ndcg_per_user_by_hand():
    got = ndcg_per_user(np.array([1, 3, 20, 21, 500]), k=20)
    assert got[0] == 1.0 and got[1] == pytest.approx(0.5)  # 1 / log2(4)
    assert got[2] == pytest.approx(1 / np.log2(21)) and got[3] == 0.0 and got[4] == 0.0


def exact_wilcoxon_p(differences: np.ndarray) -> float:
    """Reference: the two-sided p-value by enumerating every sign pattern of the nonzero differences (no ties
    among their magnitudes)."""
    d = differences[differences != 0]
    ranks = np.argsort(np.argsort(np.abs(d))) + 1
    observed = ranks[d > 0].sum()
    mean = ranks.sum() / 2
    count = sum(
        abs(sum(r for r, s in zip(ranks, signs) if s) - mean) >= abs(observed - mean) - 1e-9
        for signs in itertools.product([0, 1], repeat=len(d))
    )
    return count / 2 ** len(d)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wilcoxon_p_matches_an_exact_enumeration(seed):
    rng = np.random.default_rng(seed)
    a = rng.random(11)
    b = a - rng.normal(0.1, 0.3, 11)  # distinct magnitudes, no zeros
    got = paired_comparison(a, b, resamples=200)
    assert got["p_wilcoxon"] == pytest.approx(exact_wilcoxon_p(a - b), rel=1e-9)


def test_equal_users_carry_no_sign_and_identical_models_are_not_significant():
    a = np.array([0.5, 0.0, 0.0, 1.0])
    same = paired_comparison(a, a.copy(), resamples=100)
    assert same["p_wilcoxon"] == 1.0 and not same["significant"] and same["users_differing"] == 0
    assert same["difference"] == 0.0 and same["ci_low"] == same["ci_high"] == 0.0


def test_a_clearly_better_model_is_significant_and_its_interval_excludes_zero():
    rng = np.random.default_rng(0)
    base = ndcg_per_user(rng.integers(1, 40, 3000), 20)
    better = ndcg_per_user(rng.integers(1, 25, 3000), 20)
    got = paired_comparison(better, base, resamples=2000)
    assert got["significant"] and got["ci_low"] > 0 and got["mean_a"] > got["mean_b"]
    assert got["ci_low"] <= got["difference"] <= got["ci_high"]


def test_noise_is_not_significant():
    rng = np.random.default_rng(1)
    a = ndcg_per_user(rng.integers(1, 40, 2000), 20)
    b = ndcg_per_user(rng.integers(1, 40, 2000), 20)  # the same model, drawn twice
    got = paired_comparison(a, b, resamples=2000)
    assert not got["significant"] and got["ci_low"] < 0 < got["ci_high"]


def test_bootstrap_interval_is_seeded_and_centred():
    d = np.random.default_rng(3).normal(0.2, 1.0, 500)
    first, again = bootstrap_interval(d, 1000, seed=5), bootstrap_interval(d, 1000, seed=5)
    assert first == again and first[0] < d.mean() < first[1]
    half_width = (first[1] - first[0]) / 2
    assert half_width == pytest.approx(1.96 * d.std(ddof=1) / np.sqrt(len(d)), rel=0.15)


def test_unequal_users_are_refused():
    with pytest.raises(ValueError, match="equal-length"):
        paired_comparison(np.zeros(3), np.zeros(4))


def test_a_run_stores_ranks_that_give_its_metrics(tmp_path):
    from mdsrec_pyg.config import build_config
    from mdsrec_pyg.evaluate import metrics_from_ranks
    from mdsrec_pyg.experiment import run_experiment

    config = build_config(
        "synthetic", {"model": "sasrec", "epochs": 2, "hidden_size": 16, "inner_size": 16, "max_len": 8}
    )
    results = run_experiment(config, tmp_path)
    for stage in ("valid", "test"):
        ranks = RunFolder(tmp_path).ranks(stage)
        assert len(ranks) == 2000 and ranks.min() >= 1 and ranks.max() <= 21
        assert metrics_from_ranks(ranks, config.evaluation.topk) == pytest.approx(results[stage])
    assert per_user_ndcg([tmp_path / RunFolder.RANKS] * 2).mean() == pytest.approx(results["test"]["ndcg@20"])
    assert "commit" in results["versions"] and results["machine"]["device"] == "cpu"


def test_a_run_without_stored_ranks_is_named(tmp_path):
    with pytest.raises(InputError, match="ranks.npz: not found"):
        RunFolder(tmp_path).ranks()


@pytest.mark.parametrize("text", ["valid 1 2 x\n", "valid 1 2.5\n", "\xff\n"])
def test_a_registry_ranks_file_that_is_not_ranks_is_one_line(tmp_path, text):
    path = tmp_path / "run.ranks.txt"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(InputError, match="run.ranks.txt: not a ranks file"):
        io.read_ranks(path)


def test_mcnemars_exact_test_counts_the_pairs_one_model_alone_hits():
    a = np.array([1, 1, 1, 0, 0], dtype=bool)
    b = np.array([0, 0, 0, 0, 1], dtype=bool)
    only_a, only_b, p = mcnemar_exact(a, b)
    assert (only_a, only_b) == (3, 1) and p == pytest.approx(10 / 16)  # P(X <= 1) + P(X >= 3), X ~ Bin(4, 1/2)
    assert mcnemar_exact(a, a) == (0, 0, 1.0)
    assert mcnemar_exact(np.ones(20, bool), np.zeros(20, bool))[2] == pytest.approx(2 * 0.5**20)


def test_paired_recall_pools_hits_over_users_and_seeds(tmp_path):
    def run(name, *test_ranks):
        folders = []
        for seed, ranks in enumerate(test_ranks):
            folder = tmp_path / f"{name}-{seed}"
            folder.mkdir()
            io.save_ranks(folder / RunFolder.RANKS, valid=np.array(ranks), test=np.array(ranks))
            folders.append(folder / RunFolder.RANKS)
        return folders

    a = run("a", [1, 5, 30, 2], [3, 40, 30, 2])  # hits @20: [1, 1, 0, 1], [1, 0, 0, 1]
    b = run("b", [25, 5, 1, 30], [25, 5, 30, 30])  # hits @20: [0, 1, 1, 0], [0, 1, 0, 0]
    got = paired_recall(a, b, k=20)
    assert (got["only_a"], got["only_b"]) == (4, 2)  # pairs (user, seed) hit by one model alone
    assert got["mean_a"] == pytest.approx((1 + 0.5 + 0 + 1) / 4) and got["mean_b"] == pytest.approx(1.5 / 4)
    assert got["p_mcnemar"] == pytest.approx(mcnemar_exact(np.array([1] * 4 + [0] * 2), np.array([0] * 4 + [1] * 2))[2])
    assert got["significant"] is False
