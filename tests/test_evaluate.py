"""Full-ranking metrics on hand-checked cases."""

from __future__ import annotations

import math

import numpy as np
import torch

from mdsrec_pyg.config import build_config
from mdsrec_pyg.evaluate import metrics_from_ranks, ranking_batches, target_ranks
from mdsrec_pyg.models.base import SequentialRecommender
from mdsrec_pyg.models.sasrec import SASRec


class FixedScores(SequentialRecommender):
    """Scores given as a table: row u of ``table`` for user u (the user's id is its only input item)."""

    def __init__(self, table: list[list[float]]) -> None:
        super().__init__()
        self.table = torch.tensor(table)

    def user_state(self, inputs, tables=None):
        return inputs[:, -1]

    def score(self, state, start, end):
        return self.table[state, start:end]


def ranks(table, targets, max_k=20, **kw):
    inputs = np.arange(len(targets))[:, None]
    return target_ranks(FixedScores(table), inputs, np.array(targets), max_k, num_items=len(table[0]), **kw)


def test_rank_counts_other_items_scoring_higher_or_equal():
    # items 0..4, item 0 is padding and must be ignored even with the highest score
    table = [
        [9.0, 0.5, 0.9, 0.1, 0.7],  # target 4 (0.7): only item 2 (0.9) above -> rank 2
        [9.0, 0.5, 0.5, 0.5, 0.1],  # target 2 ties with items 1 and 3 -> pessimistic rank 3
        [9.0, 0.3, 0.2, 0.1, 0.0],
    ]  # target 1 is the best real item -> rank 1
    assert ranks(table, [4, 2, 1]).tolist() == [2, 3, 1]


def test_constant_scorer_ranks_last():
    table = [[1.0] * 11]
    assert ranks(table, [3], max_k=20).tolist() == [10]  # 9 other real items tie with it


def test_ranks_beyond_max_k_are_capped_and_chunking_changes_nothing():
    rng = np.random.default_rng(0)
    table = rng.normal(size=(30, 200)).tolist()
    targets = rng.integers(1, 200, size=30).tolist()
    full = np.array(table)
    exact = np.array(
        [1 + sum(full[u, j] >= full[u, t] for j in range(1, 200) if j != t) for u, t in enumerate(targets)]
    )
    got = ranks(table, targets, max_k=20)
    assert np.array_equal(got, np.minimum(exact, 21))
    assert np.array_equal(ranks(table, targets, max_k=20, item_chunk=7, batch_size=4), got)


def test_metrics_by_hand():
    got = metrics_from_ranks(np.array([1, 3, 11, 25]), [10, 20])
    assert got["recall@10"] == 0.5
    assert got["recall@20"] == 0.75
    assert math.isclose(got["ndcg@10"], (1 + 1 / math.log2(4)) / 4)
    assert math.isclose(got["ndcg@20"], (1 + 1 / math.log2(4) + 1 / math.log2(12)) / 4)
    assert got["hit@10"] == 0.5 and got["hit@20"] == 0.75
    assert math.isclose(got["mrr@10"], (1 + 1 / 3) / 4)
    assert math.isclose(got["mrr@20"], (1 + 1 / 3 + 1 / 11) / 4)
    assert math.isclose(got["precision@10"], 0.5 / 10) and math.isclose(got["precision@20"], 0.75 / 20)


def test_mask_history_hides_seen_items_but_not_the_target():
    model = FixedScores([[0.0, 0.9, 0.8, 0.7, 0.1]])
    inputs = np.array([[1, 2, 3]])  # the user has seen items 1, 2, 3; user_state reads the last column
    model.user_state = lambda x, tables=None: torch.zeros(len(x), dtype=torch.long)
    plain = target_ranks(model, inputs, np.array([3]), 20, num_items=5)
    masked = target_ranks(model, inputs, np.array([3]), 20, num_items=5, mask_history=True)
    assert plain.tolist() == [3] and masked.tolist() == [1]


def test_non_finite_target_score_is_an_error():
    import pytest

    with pytest.raises(FloatingPointError):
        ranks([[0.0, float("nan"), 1.0]], [1])


def test_users_of_mixed_lengths_get_their_own_ranks_in_their_own_order():
    # histories of lengths 3, 1, 2, 1 (left-padded): batched by length, the ranks still come back per user,
    # and a trained model's rank of a user does not depend on who shares its batch
    inputs = np.array([[4, 2, 1], [0, 0, 3], [0, 5, 2], [0, 0, 1]])
    targets = np.array([3, 1, 4, 2])
    torch.manual_seed(0)
    config = build_config("synthetic", {"model": "sasrec", "hidden_size": 8, "num_heads": 1}, [])
    model = SASRec(6, {}, config)
    alone = [target_ranks(model, inputs[u : u + 1], targets[u : u + 1], 5, num_items=6)[0] for u in range(4)]
    together = target_ranks(model, inputs, targets, 5, num_items=6, batch_size=2)
    assert together.tolist() == alone
    table = [[0.0, 4.0, 3.0, 2.0, 1.0]] * 4  # FixedScores reads the last item: ranks 4, 1, 2, 3 by target
    fixed = target_ranks(FixedScores(table), inputs, np.array([4, 1, 2, 3]), 5, num_items=5, batch_size=2)
    assert fixed.tolist() == [4, 1, 2, 3]


def test_ranking_batches_keep_like_lengths_together_within_the_batch_size():
    # lengths by user: 9, 1, 3, 0, 2, 5, 1, 4; sorted (0 counts as 1): 0 1 1 2 | 3 4 5 | 9
    lengths = np.array([9, 1, 3, 0, 2, 5, 1, 4])
    batches = ranking_batches(lengths, batch_size=4)
    assert [lengths[b].tolist() for b in batches] == [[0, 1, 1, 2], [3, 4, 5], [9]]
    assert sorted(np.concatenate(batches).tolist()) == list(range(8))  # every user once
    assert [lengths[b].tolist() for b in ranking_batches(lengths, batch_size=2)] == [[0, 1], [1, 2], [3, 4], [5, 9]]
    # one long history among many short ones gets a batch of its own instead of padding every short row
    skewed = np.array([2] * 6 + [50])
    assert [len(b) for b in ranking_batches(skewed, batch_size=1024)] == [6, 1]
