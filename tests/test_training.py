"""End to end on the synthetic set: SASRec clears the most-popular floor, runs repeat, run.py's contract."""

from __future__ import annotations

import json
import subprocess

import pytest
import torch
from conftest import ROOT, built_model, script

from mdsrec_pyg.config import build_config
from mdsrec_pyg.data import make_synthetic
from mdsrec_pyg.train import Trainer, TrainingError


def trainer_for(model: str, **overrides) -> Trainer:
    config = build_config("synthetic", {"model": model, **overrides})
    dataset = make_synthetic(seed=0)
    split = dataset.split()
    return Trainer(built_model(config, dataset, split), split, config, dataset.num_items)


def fit(model: str, **overrides):
    return trainer_for(model, **overrides).fit()


def test_sasrec_clears_most_popular_by_a_clear_margin():
    pop = fit("pop")["test"]["ndcg@20"]
    sasrec = fit("sasrec", epochs=15)["test"]["ndcg@20"]
    assert sasrec > 2 * pop, (sasrec, pop)


def test_same_seed_same_metrics():
    first = fit("sasrec", epochs=2, hidden_size=32)
    second = fit("sasrec", epochs=2, hidden_size=32)
    assert first["test"] == second["test"] and first["valid"] == second["valid"]
    assert [h["loss"] for h in first["history"]] == [h["loss"] for h in second["history"]]


def test_nan_loss_stops_with_the_step():
    trainer = trainer_for("sasrec", epochs=1, hidden_size=16)
    real_loss = trainer.model.loss
    calls = []

    def loss_turning_nan(inputs, targets):
        calls.append(1)
        loss = real_loss(inputs, targets)
        return loss * float("nan") if len(calls) == 3 else loss

    trainer.model.loss = loss_turning_nan
    with pytest.raises(TrainingError, match=r"loss became nan at epoch 1, step 2"):
        trainer.fit()


def run_cli(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return script("run.py", *args, cwd=cwd)


def test_run_writes_results_json(tmp_path):
    out = tmp_path / "run"
    done = run_cli("--model", "sasrec", "--epochs", "2", "--set", "hidden_size=32", "--out", str(out))
    assert done.returncode == 0, done.stderr
    results = json.loads((out / "results.json").read_text())
    for key in ("dataset", "model", "config", "best_epoch", "valid", "test", "history", "seconds"):
        assert key in results
    assert set(results["test"]) == {f"{m}@{k}" for m in ("recall", "ndcg", "hit", "mrr", "precision") for k in (10, 20)}
    assert len(results["history"]) == 2 and (out / "best.pt").is_file()
    assert "| ndcg |" in done.stdout and "test @20" in done.stdout


@pytest.mark.parametrize(
    "args, expected",
    [
        (("--dataset", "nope"), "unknown dataset 'nope'"),
        (("--dataset", "baby", "--data-dir", "/nonexistent"), "baby: no folder /nonexistent/baby; put MMRec's Baby"),
        (("--set", "nosuchkey=1"), "unknown config key 'nosuchkey'"),
        (("--set", "lr=fast"), "expected a value of type float"),
        (("--model", "nope"), "unknown model 'nope'"),
    ],
)
def test_run_bad_arguments_end_with_one_line(args, expected):
    done = run_cli(*args)
    assert done.returncode == 2
    assert expected in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_multiply_adds_count_a_hand_checked_batch():
    from mdsrec_pyg.benchmarks import multiply_adds

    shape = {"d": 2, "inner": 3, "layers": 2, "heads": 1, "items": 10, "channels": 3, "encoders": 3, "ica": 2, "k": 4}
    counts = multiply_adds(shape, [(1, 5, 4)])  # one row of length 5 with 4 real positions
    assert counts["softmax"] == 3 * 3 * 4 * 10 * 2  # backward 2x forward; 3 channels of P x N x d
    per_layer = 5 * (4 * 4 + 2 * 2 * 3) + 2 * 25 * 2  # B L (4 d^2 + 2 d inner) + 2 B L^2 d
    assert counts["encoders"] == 3 * 3 * 2 * per_layer
    assert counts["ica"] == 3 * 2 * (4 * 5 * 2 + 2 * 4 * 4 * 5 * 2)  # first layer B k L d, then 2 P k L d


def test_stand_in_features_fill_only_the_modalities_a_dataset_lacks():
    from mdsrec_pyg.benchmarks import with_stand_in_features
    from mdsrec_pyg.data import build_dataset

    base = make_synthetic(seed=1, num_users=40, num_items=30, clusters=3, dim=8)
    text = base.features["text"].numpy()
    own = with_stand_in_features(build_dataset("own", base.sequences, base.item_ids, base.user_ids, {"text": text}))
    bare = with_stand_in_features(build_dataset("bare", base.sequences, base.item_ids, base.user_ids))
    assert torch.equal(own.features["text"], torch.as_tensor(text))  # its own text kept
    assert own.features["image"].shape == (31, 4096) and bare.features["text"].shape == (31, 384)
    assert torch.equal(own.features["image"], bare.features["image"])  # the same stand-in draw either way
