"""Full-ranking evaluation: every item is a candidate (never sampled negatives); Recall, NDCG, Hit, MRR and
Precision at each K.

Ties are ranked pessimistically: rank = 1 + the number of *other* items scoring greater than or equal to
the target, so a constant scorer cannot look good. Padding (item 0) is never ranked. Scores are computed in
chunks of users and items; for each user only the running top-``max(K)`` of the other items is kept, which
gives the exact rank whenever it is at most ``max(K)`` (all the metrics need) and in memory that does not
grow with users x items. Items of the user's history are ranked too unless ``mask_history`` is set
(RecBole's sequential full-sort protocol, which the paper's numbers come from, ranks them).
"""

from __future__ import annotations

import numpy as np
import torch

from .models.base import SequentialRecommender
from .progress import progress
from .retrieval import mask_items


def trim_left_padding(inputs: np.ndarray) -> np.ndarray:
    """Drop the leading columns that are padding in every row (left-padded batches)."""
    nonzero = (inputs != 0).any(axis=0)
    first = int(np.argmax(nonzero)) if nonzero.any() else inputs.shape[1] - 1
    return inputs[:, first:]


def ranking_batches(lengths: np.ndarray, batch_size: int, spread: float = 2.0) -> list[np.ndarray]:
    """The users (indices into ``lengths``, their history lengths) in batches for full ranking: in order of
    length, at most ``batch_size`` to a batch, and no batch's longest history more than ``spread`` times its
    shortest (an empty one counting as 1), so that trimming a batch to its longest row leaves at most
    1 - 1/spread of its cells padding, however few long histories there are."""
    order = np.argsort(lengths, kind="stable")
    ordered = np.maximum(lengths[order], 1)
    batches, start = [], 0
    while start < len(order):
        fits = int(np.searchsorted(ordered, spread * ordered[start], side="right"))
        end = min(start + batch_size, max(fits, start + 1))
        batches.append(order[start:end])
        start = end
    return batches


def metrics_from_ranks(ranks: np.ndarray, topk: list[int]) -> dict[str, float]:
    """Recall@K, NDCG@K, Hit@K, MRR@K and Precision@K averaged over users, for one target per user with
    1-based ``ranks`` (RecBole's definitions: with one target, Hit@K = Recall@K, Precision@K = Hit@K / K,
    MRR@K = 1 / rank within the top K, else 0)."""
    out: dict[str, float] = {}
    for k in topk:
        hit = ranks <= k
        out[f"recall@{k}"] = float(hit.mean())
        out[f"ndcg@{k}"] = float(np.where(hit, 1.0 / np.log2(ranks + 1.0), 0.0).mean())
        out[f"hit@{k}"] = float(hit.mean())
        out[f"mrr@{k}"] = float(np.where(hit, 1.0 / ranks, 0.0).mean())
        out[f"precision@{k}"] = float(hit.mean() / k)
    return out


@torch.no_grad()
def target_ranks(
    model: SequentialRecommender,
    inputs: np.ndarray,
    targets: np.ndarray,
    max_k: int,
    batch_size: int = 1024,
    item_chunk: int = 65536,
    mask_history: bool = False,
    num_items: int | None = None,
    device: str | torch.device = "cpu",
    desc: str | None = None,
) -> np.ndarray:
    """Pessimistic rank of each target among all items, exact up to ``max_k``; ``max_k + 1`` means beyond.
    Users go in batches of like history lengths (:func:`ranking_batches`, each trimmed to its longest: no
    padding columns computed, and positions count back from the newest item, so trimming changes no score);
    the ranks come back in the users' order. With ``desc``, progress is shown under that name."""
    model.eval()
    num_items = num_items if num_items is not None else int(max(inputs.max(), targets.max())) + 1
    ranks = np.empty(len(targets), dtype=np.int64)
    tables = model.item_tables()  # computed once for all user batches
    batches = ranking_batches((inputs != 0).sum(1), batch_size)
    for users in progress(batches, desc or "", unit="batch", enabled=desc is not None):
        rows = trim_left_padding(inputs[users])
        x = torch.as_tensor(rows, device=device)
        y = torch.as_tensor(targets[users], device=device)
        state = model.user_state(x, tables)
        target_score = torch.full((len(y),), float("nan"), device=device)
        best = torch.full((len(y), 0), float("-inf"), device=device)
        for start in range(0, num_items, item_chunk):
            end = min(start + item_chunk, num_items)
            scores = model.score(state, start, end).float()  # a fresh tensor: changed in place below
            if start == 0:
                scores[:, 0] = float("-inf")
            if mask_history:  # the user's items, but not the target itself
                mask_items(scores, x.masked_fill(x == y[:, None], 0), start, end)
            inside = (y >= start) & (y < end)
            local = (y - start).clamp(0, end - start - 1)[:, None]
            own = scores.gather(1, local).squeeze(1)
            target_score = torch.where(inside, own, target_score)
            scores[inside.nonzero().squeeze(1), local[inside, 0]] = float("-inf")  # rank the others only
            chunk_best = scores.topk(min(max_k, scores.size(1)), dim=1).values
            best = torch.cat([best, chunk_best], dim=1)
            best = best.topk(min(max_k, best.size(1)), dim=1).values
        if not torch.isfinite(target_score).all():
            raise FloatingPointError("the model gave a non-finite score to an evaluation target")
        ranks[users] = (1 + (best >= target_score[:, None]).sum(1)).cpu().numpy()
    return ranks


def evaluate(
    model: SequentialRecommender, inputs: np.ndarray, targets: np.ndarray, topk: list[int], num_items: int, **kwargs
) -> dict[str, float]:
    """The metrics of :func:`metrics_from_ranks` of ``model`` over all items for each ``(inputs[u], targets[u])``."""
    ranks = target_ranks(model, inputs, targets, max(topk), num_items=num_items, **kwargs)
    return metrics_from_ranks(ranks, topk)


__all__ = ["evaluate", "metrics_from_ranks", "ranking_batches", "target_ranks", "trim_left_padding"]
