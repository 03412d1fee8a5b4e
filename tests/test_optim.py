"""``training.optimizer``: lazy Adam keeps the item table's gradient to the rows a step uses, is Adam on the
first step (up to where eps sits), leaves unused rows alone afterwards (where Adam keeps moving them),
resumes exactly, trains a model past the popularity floor, and is refused in one line where it cannot apply."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest
import torch
from conftest import ROOT

from mdsrec_pyg.benchmarks import generated_catalog
from mdsrec_pyg.config import build_config
from mdsrec_pyg.data import load_dataset
from mdsrec_pyg.errors import InputError
from mdsrec_pyg.models import MODELS, model_and_graphs
from mdsrec_pyg.optim import RowwiseAdam, make_optimizer

LAZY = {"softmax": "sampled", "optimizer": "lazy_adam", "negatives": 50}


@pytest.fixture(scope="module")
def synthetic():
    dataset = load_dataset("synthetic", "data")
    return dataset, dataset.split()


def built(synthetic, model: str, **settings):
    dataset, split = synthetic
    config = build_config("synthetic", {"model": model, **settings})
    config, net = model_and_graphs(config, dataset, split)
    return config, net, torch.as_tensor(split.train_windows(config.data.max_len)[:64])


def step(net, optimizer, window, seed: int) -> None:
    torch.manual_seed(seed)  # the same negatives and dropout for both optimisers
    loss = net(window[:, :-1], window[:, 1:])
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


@pytest.fixture(scope="module")
def catalog():
    dataset = generated_catalog(20_000, 3_000)  # one-hop neighbourhoods of a batch are a small share here
    return dataset, dataset.split()


@pytest.mark.parametrize("model", [m for m, cls in MODELS.items() if cls.sparse_item_table])
def test_a_step_touches_the_rows_of_its_batch_and_negatives_only(synthetic, catalog, model):
    own = {"centre_sample": 4} if model == "mdsrec" else {}  # MDSRec: Eq. 11 from drawn members
    config, net, window = built(catalog if model == "mdsrec" else synthetic, model, **LAZY, **own)
    optimizer = make_optimizer(net, config.training)
    table = optimizer.sparse_adam.param_groups[0]["params"][0]  # the item table, sparse now
    before = table.detach().clone()
    torch.manual_seed(0)
    net(window[:, :-1], window[:, 1:]).backward()
    assert table.grad.is_sparse
    used = set(table.grad.coalesce().indices()[0].tolist())
    optimizer.step()
    moved = set((table.detach() != before).any(1).nonzero()[:, 0].tolist())
    assert moved <= used and 0 not in moved  # the padding row never trains
    assert set(window.unique().tolist()) - {0} <= used < set(range(len(before)))


def test_lazy_adam_is_adam_on_the_first_step_and_leaves_unused_rows_alone_after(synthetic):
    tables = {}
    for name in ("adam", "lazy_adam"):
        torch.manual_seed(0)
        config, net, window = built(synthetic, "sasrec", softmax="sampled", negatives=50, optimizer=name)
        optimizer = make_optimizer(net, config.training)
        start = net.items.id_embedding.weight.detach().clone()
        step(net, optimizer, window[:32], seed=1)
        first = net.items.id_embedding.weight.detach().clone()
        step(net, optimizer, window[32:], seed=2)
        tables[name] = start, first, net.items.id_embedding.weight.detach().clone()
    start, first, second = tables["lazy_adam"]
    adam_step, lazy_step = tables["adam"][1] - start, first - start
    assert torch.equal(adam_step != 0, lazy_step != 0) and torch.equal(adam_step.sign(), lazy_step.sign())
    # where |g| is far above eps the two steps are lr * sign(g); SparseAdam adds eps to the uncorrected sqrt(v)
    clear = adam_step.abs() > 0.9999e-3
    assert clear.sum() > 100 and torch.allclose(adam_step[clear], lazy_step[clear], rtol=5e-3, atol=0)
    trained_once = (first != start).any(1) & (second == first).all(1)  # used by step 1, not by step 2
    assert trained_once.sum() > 10
    adam_first, adam_second = tables["adam"][1], tables["adam"][2]
    assert (adam_second[trained_once] != adam_first[trained_once]).any(1).all()  # Adam's momentum moves them


def test_the_two_optimisers_state_resumes_exactly(synthetic):
    config, net, window = built(synthetic, "sasrec", **LAZY)
    optimizer = make_optimizer(net, config.training)
    step(net, optimizer, window, seed=1)
    saved_model, saved_optimizer = copy.deepcopy(net.state_dict()), copy.deepcopy(optimizer.state_dict())
    step(net, optimizer, window, seed=2)
    expected = net.items.id_embedding.weight.detach().clone()
    config, again, _ = built(synthetic, "sasrec", **LAZY)
    again.load_state_dict(saved_model)
    resumed = make_optimizer(again, config.training)
    assert isinstance(resumed, RowwiseAdam)
    resumed.load_state_dict(saved_optimizer)
    step(again, resumed, window, seed=2)
    assert torch.equal(again.items.id_embedding.weight.detach(), expected)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"model": "sasrec", "optimizer": "lazy_adam"}, "with softmax=full every row has a gradient"),
        ({"model": "sasrec", **LAZY, "weight_decay": 0.01}, "has no weight decay; got weight_decay=0.01"),
        ({"model": "mdsrec", **LAZY}, "lazy_adam with mdsrec's ICA needs Eq. 11's centres from a sample"),
        ({"model": "bert4rec", **LAZY}, "model bert4rec has no ID table read by the rows a step uses"),
        ({"model": "unisrec", **LAZY}, "lazy_adam takes gru4rec, sasrec"),
        ({"model": "sasrec", "optimizer": "sgd"}, "expected one of 'adam', 'lazy_adam'"),
    ],
)
def test_lazy_adam_is_refused_where_it_cannot_apply(settings, message):
    with pytest.raises(InputError, match=message):
        build_config("synthetic", settings)


def test_sasrec_trained_with_lazy_adam_clears_the_popularity_floor(tmp_path):
    def run(out, *extra):
        done = subprocess.run(
            [sys.executable, str(ROOT / "experiments" / "run.py"), "--out", str(out), "--threads", "1", *extra],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads((out / "results.json").read_text())["test"]["ndcg@20"]

    lazy = ["--model", "sasrec", "--epochs", "25", "--set", "lr=0.003", "--set", "softmax=sampled"]
    popular = run(tmp_path / "pop", "--model", "pop")  # 0.039 here; lazy Adam 0.128, dense Adam 0.130
    assert run(tmp_path / "lazy", *lazy, "--set", "negatives=100", "--set", "optimizer=lazy_adam") > 2.5 * popular
