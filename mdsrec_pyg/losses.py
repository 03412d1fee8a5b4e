"""The training objective over the item catalog (Eq. 23-24): cross-entropy of ``hidden @ weights.T (+ bias)``
against the target item, the padding item (row 0) taking no probability mass. Three ways to compute it:

- ``full``: all P x N logits at once, the fastest while they fit in memory: a batch whose logits would pass
  ``budget_mb`` (``training.logits_budget_mb``) is streamed as ``chunked`` instead, the same loss and gradient
  (logged the first time, counted in ``ItemSoftmax.calls``, recorded in results.json);
- ``chunked``: the same loss and the same gradient, streamed over item chunks (a running log-sum-exp forward,
  logits recomputed chunk by chunk backward), so that memory grows with P x chunk, not P x N;
- ``sampled``: a sampled softmax over the target and ``negatives`` items drawn from the training popularity,
  with the log-Q correction (every logit minus the log of its item's sampling probability), for catalogs where
  even the streamed full softmax is too slow; an approximation whose cost is measured in the README.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import register_names
from .errors import InputError

log = logging.getLogger(__name__)

KINDS = ("full", "chunked", "sampled")
register_names("softmax", KINDS)  # the values of training.softmax


def full_softmax_loss(hidden: Tensor, weights: Tensor, targets: Tensor, bias: Tensor | None = None) -> Tensor:
    """Logits of items 1..N-1 only (padding left out by slicing, not by an in-place -inf whose backward
    copies the whole P x N gradient); targets are never padding."""
    logits = hidden @ weights[1:].T
    if bias is not None:
        logits = logits + bias[1:]
    return F.cross_entropy(logits, targets - 1)


class _ChunkedSoftmaxCE(torch.autograd.Function):
    """Mean cross-entropy over all items, streamed in item chunks in both passes."""

    @staticmethod
    def forward(ctx, hidden: Tensor, weights: Tensor, bias: Tensor, targets: Tensor, chunk: int) -> Tensor:
        lse = torch.full((hidden.size(0),), float("-inf"), dtype=hidden.dtype, device=hidden.device)
        for start in range(0, weights.size(0), chunk):
            logits = hidden @ weights[start : start + chunk].T + bias[start : start + chunk]
            if start == 0:
                logits[:, 0] = float("-inf")
            lse = torch.logaddexp(lse, logits.logsumexp(1))
        target_logits = (hidden * weights[targets]).sum(1) + bias[targets]
        ctx.save_for_backward(hidden, weights, bias, targets, lse)
        ctx.chunk = chunk
        return (lse - target_logits).mean()

    @staticmethod
    def backward(ctx, grad: Tensor):
        hidden, weights, bias, targets, lse = ctx.saved_tensors
        scale = grad / hidden.size(0)
        grad_hidden = torch.zeros_like(hidden)
        grad_weights = torch.zeros_like(weights)
        grad_bias = torch.zeros_like(bias)
        for start in range(0, weights.size(0), ctx.chunk):
            block = weights[start : start + ctx.chunk]
            probs = (hidden @ block.T + bias[start : start + ctx.chunk] - lse[:, None]).exp() * scale
            if start == 0:
                probs[:, 0] = 0.0
            grad_hidden += probs @ block
            grad_weights[start : start + ctx.chunk] = probs.T @ hidden
            grad_bias[start : start + ctx.chunk] = probs.sum(0)
        grad_hidden -= weights[targets] * scale
        grad_weights.index_add_(0, targets, -hidden * scale)
        grad_bias.index_add_(0, targets, torch.full_like(targets, 1, dtype=bias.dtype) * -scale)
        return grad_hidden, grad_weights, grad_bias, None, None


def chunked_softmax_loss(
    hidden: Tensor, weights: Tensor, targets: Tensor, bias: Tensor | None = None, chunk: int = 8192
) -> Tensor:
    bias = torch.zeros(weights.size(0), dtype=weights.dtype, device=weights.device) if bias is None else bias
    return _ChunkedSoftmaxCE.apply(hidden, weights, bias, targets, chunk)


def sampled_softmax_loss(
    hidden: Tensor,
    weights: Tensor,
    targets: Tensor,
    log_q: Tensor,
    sampled: Tensor,
    bias: Tensor | None = None,
    sparse: bool = False,
) -> Tensor:
    """Cross-entropy over [target, the negatives ``sampled`` (S,), shared by the batch], logits corrected by
    - log q(item); a negative equal to the row's target is masked out (an accidental hit). ``sparse``: the rows
    of ``weights`` are read as sparse lookups, so that a leaf table's gradient holds the rows used only."""

    def rows(items: Tensor) -> Tensor:
        return F.embedding(items, weights, sparse=True) if sparse else weights[items]

    positive = (hidden * rows(targets)).sum(1) - log_q[targets]  # (P,)
    negative = hidden @ rows(sampled).T - log_q[sampled]  # (P, S)
    if bias is not None:
        positive, negative = positive + bias[targets], negative + bias[sampled]
    negative = negative.masked_fill(sampled[None, :] == targets[:, None], float("-inf"))
    logits = torch.cat([positive[:, None], negative], dim=1)
    return F.cross_entropy(logits, torch.zeros_like(targets))


class ItemSoftmax(nn.Module):
    """The configured objective, the same for every model: ``ItemSoftmax(kind, chunk, negatives, counts,
    budget_mb)``. ``calls`` counts the training losses computed each way (``full`` ones streamed past the
    budget count as ``chunked``)."""

    def __init__(
        self,
        kind: str = "full",
        chunk: int = 8192,
        negatives: int = 1000,
        counts: Tensor | None = None,
        budget_mb: int = 1024,
    ) -> None:
        super().__init__()
        if kind not in KINDS:
            raise InputError("--set softmax", f"expected one of {', '.join(KINDS)}, got {kind!r}")
        if kind == "sampled" and counts is None:
            raise InputError("--set softmax", "the sampled softmax needs the training item counts")
        self.kind, self.chunk, self.negatives = kind, chunk, negatives
        self.sparse_rows = False  # sampled rows read as sparse lookups (a sparse item table's, optim.py)
        self.budget = budget_mb * 2**20  # bytes of logits the full softmax may hold at once
        self.calls = {name: 0 for name in KINDS}
        if counts is not None:
            q = counts.double() + 1.0  # add-one smoothing: every item can be drawn
            q[0] = 0.0  # never the padding item
            self.register_buffer("log_q", (q / q.sum()).log().float(), persistent=False)

    def way(self, positions: int, items: int, element_size: int) -> str:
        """How a loss over ``positions`` x ``items`` logits is computed: the configured kind, except that a full
        softmax past the memory budget streams."""
        if self.kind == "full" and positions * (items - 1) * element_size > self.budget:
            return "chunked"
        return self.kind

    def forward(self, hidden: Tensor, weights: Tensor, targets: Tensor, bias: Tensor | None = None) -> Tensor:
        if self.training:
            way = self.way(hidden.size(0), weights.size(0), hidden.element_size())
            if way != self.kind and not self.calls[way]:
                log.info(
                    "softmax: %s x %s logits pass the budget of %d MiB; such batches stream in chunks of %d items "
                    "(the same loss and gradient)",
                    f"{hidden.size(0):,}",
                    f"{weights.size(0) - 1:,}",
                    self.budget // 2**20,
                    self.chunk,
                )
            self.calls[way] += 1
        else:  # no sampling outside training
            way = "chunked" if self.kind == "chunked" else "full"
        if way == "chunked":
            return chunked_softmax_loss(hidden, weights, targets, bias, self.chunk)
        if way == "sampled":
            sampled = self.draw()
            return sampled_softmax_loss(hidden, weights, targets, self.log_q, sampled, bias, self.sparse_rows)
        return full_softmax_loss(hidden, weights, targets, bias)

    def draw(self) -> Tensor:
        """``negatives`` item ids drawn from q (with replacement): the negatives of one sampled loss."""
        return torch.multinomial(self.log_q.exp(), self.negatives, replacement=True)

    def over_rows(self, hidden: Tensor, weights: Tensor, rows: Tensor, targets: Tensor, sampled: Tensor) -> Tensor:
        """The sampled loss where ``weights`` holds the rows ``rows`` (sorted item ids) of the item table only:
        ``targets`` and the negatives ``sampled`` (from :meth:`draw`) are item ids among ``rows``. The same
        loss as the sampled one over the whole table with those negatives."""
        self.calls["sampled"] += 1
        local = torch.searchsorted(rows, torch.cat([targets, sampled]))
        log_q = self.log_q[rows]
        return sampled_softmax_loss(hidden, weights, local[: len(targets)], log_q, local[len(targets) :])
