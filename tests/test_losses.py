"""The loss over items: the chunked softmax is the full one (value and gradient), the sampled one is
log-Q corrected and ignores accidental hits, and every model trains the same under full and chunked."""

from __future__ import annotations

import pytest
import torch
from conftest import built_model

from mdsrec_pyg.config import build_config
from mdsrec_pyg.data import make_synthetic
from mdsrec_pyg.errors import InputError
from mdsrec_pyg.losses import ItemSoftmax, chunked_softmax_loss, full_softmax_loss, sampled_softmax_loss
from mdsrec_pyg.train import Trainer


def tensors(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    hidden = torch.randn(37, 8, dtype=torch.float64, generator=generator, requires_grad=True)
    weights = torch.randn(53, 8, dtype=torch.float64, generator=generator, requires_grad=True)
    bias = torch.randn(53, dtype=torch.float64, generator=generator, requires_grad=True)
    targets = torch.randint(1, 53, (37,), generator=generator)
    targets[:5] = 7  # repeated targets
    return hidden, weights, bias, targets


@pytest.mark.parametrize("chunk", [1, 7, 53, 1000])
@pytest.mark.parametrize("with_bias", [False, True])
def test_chunked_softmax_equals_the_full_one_in_value_and_gradient(chunk, with_bias):
    hidden, weights, bias, targets = tensors()
    bias_arg = bias if with_bias else None
    full = full_softmax_loss(hidden, weights, targets, bias_arg)
    chunked = chunked_softmax_loss(hidden, weights, targets, bias_arg, chunk)
    inputs = (hidden, weights, bias) if with_bias else (hidden, weights)
    for a, b in zip(torch.autograd.grad(full, inputs), torch.autograd.grad(chunked, inputs)):
        assert torch.allclose(a, b, atol=1e-12)
    assert torch.allclose(full, chunked, atol=1e-12)


def test_the_padding_item_takes_no_probability_mass():
    hidden, weights, _, targets = tensors()
    loss = chunked_softmax_loss(hidden, weights, targets, chunk=10)
    (grad,) = torch.autograd.grad(loss, weights)
    assert torch.count_nonzero(grad[0]) == 0
    by_hand = torch.nn.functional.cross_entropy((hidden @ weights[1:].T), targets - 1)  # catalog without item 0
    assert torch.allclose(loss, by_hand)


def test_sampled_softmax_applies_log_q_and_masks_accidental_hits():
    hidden = torch.tensor([[1.0, 0.0]])
    weights = torch.tensor([[0.0, 0.0], [2.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    log_q = torch.tensor([0.0, 0.5, 0.25, 0.25]).clamp(min=1e-12).log()
    log_q[0] = float("-inf")
    torch.manual_seed(0)
    sampled = torch.multinomial(log_q.exp(), 200, replacement=True)
    loss = sampled_softmax_loss(hidden, weights, torch.tensor([1]), log_q, sampled)
    # by hand: logits s_i - log q_i over the target (item 1) and the sampled negatives, hits of item 1 dropped
    sampled = sampled[sampled != 1]
    logits = torch.cat([torch.tensor([2.0]), weights[sampled, 0]]) - torch.cat([log_q[1:2], log_q[sampled]])
    assert torch.allclose(loss, -logits.log_softmax(0)[0])


def test_sampled_softmax_is_for_training_only_and_options_are_checked():
    counts = torch.tensor([0, 5, 1, 1])
    softmax = ItemSoftmax("sampled", negatives=3, counts=counts).eval()
    hidden, weights = torch.randn(4, 2), torch.randn(4, 2)
    targets = torch.tensor([1, 2, 3, 1])
    assert torch.equal(softmax(hidden, weights, targets), full_softmax_loss(hidden, weights, targets))
    with pytest.raises(InputError, match="expected one of full, chunked, sampled"):
        ItemSoftmax("approximate")


@pytest.mark.parametrize("name", ["sasrec", "bert4rec", "mdsrec"])
def test_training_is_the_same_under_the_full_and_the_chunked_softmax(name, tmp_path):
    dataset = make_synthetic(seed=0)
    split = dataset.split()
    losses = {}
    for kind in ("full", "chunked"):
        config = build_config(
            "synthetic",
            {
                "model": name,
                "epochs": 2,
                "hidden_size": 16,
                "inner_size": 32,
                "softmax": kind,
                "softmax_chunk": 300,
                "graph_dir": str(tmp_path / "graphs"),
            },
        )
        results = Trainer(built_model(config, dataset, split), split, config, dataset.num_items).fit()
        losses[kind] = [h["loss"] for h in results["history"]]
    assert losses["full"] == pytest.approx(losses["chunked"], rel=1e-4)


def test_the_sampled_softmax_learns():
    dataset = make_synthetic(seed=0)
    split = dataset.split()
    config = build_config("synthetic", {"model": "sasrec", "epochs": 15, "softmax": "sampled", "negatives": 100})
    sampled = Trainer(built_model(config, dataset, split), split, config, dataset.num_items).fit()["test"]
    pop = Trainer(
        built_model(build_config("synthetic", {"model": "pop"}), dataset, split),
        split,
        config,
        dataset.num_items,
    ).fit()["test"]
    assert sampled["ndcg@20"] > 1.5 * pop["ndcg@20"], (sampled, pop)


def test_a_full_softmax_past_its_memory_budget_streams_the_same_loss_and_gradient():
    torch.manual_seed(0)
    hidden, weights = torch.randn(40, 8), torch.randn(30, 8)
    targets = torch.randint(1, 30, (40,))
    outcomes = {}
    for budget in (10**6, 4000):  # 40 x 29 float32 logits: 4,640 bytes, within 1 MB, past 4,000 bytes
        softmax = ItemSoftmax("full", chunk=7)
        softmax.budget = budget  # in bytes, so that a tiny batch can pass it
        h, w = hidden.clone().requires_grad_(), weights.clone().requires_grad_()
        loss = softmax(h, w, targets)
        loss.backward()
        outcomes[budget] = (loss.detach(), h.grad, w.grad, dict(softmax.calls))
    (loss_a, gh_a, gw_a, calls_a), (loss_b, gh_b, gw_b, calls_b) = outcomes[10**6], outcomes[4000]
    assert calls_a["full"] == 1 and calls_a["chunked"] == 0 and calls_b["chunked"] == 1 and calls_b["full"] == 0
    assert torch.allclose(loss_a, loss_b, atol=1e-6)
    assert torch.allclose(gh_a, gh_b, atol=1e-6) and torch.allclose(gw_a, gw_b, atol=1e-6)
    assert ItemSoftmax("full", budget_mb=1).way(512, 2**20 + 1, 4) == "chunked"  # 2 GiB of logits past 1 MiB
    assert ItemSoftmax("full", budget_mb=2048).way(512, 2**20 + 1, 4) == "full"


def test_the_sampled_loss_over_a_tables_rows_is_the_whole_tables():
    softmax = ItemSoftmax("sampled", negatives=4, counts=torch.tensor([0, 5, 1, 1, 3, 2]))
    torch.manual_seed(0)
    hidden, weights = torch.randn(5, 3), torch.randn(6, 3)
    targets, sampled = torch.tensor([1, 4, 4, 1, 5]), torch.tensor([3, 4, 4, 1])  # item 2 is not read
    rows = torch.tensor([0, 1, 3, 4, 5])
    whole = sampled_softmax_loss(hidden, weights, targets, softmax.log_q, sampled)
    assert torch.allclose(softmax.over_rows(hidden, weights[rows], rows, targets, sampled), whole)
    assert softmax.calls["sampled"] == 1
