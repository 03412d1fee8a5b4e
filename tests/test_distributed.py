"""Two CPU processes under torchrun (gloo): the gathered evaluation is exactly that of one process for the
same weights, and training on two ranks lands where one process does."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, built_model

from mdsrec_pyg.data import load_dataset
from mdsrec_pyg.runs import RunFolder
from mdsrec_pyg.train import Trainer

ARGS = ["--model", "sasrec", "--epochs", "3", "--set", "hidden_size=32"]


def run(*args: str, processes: int = 1) -> None:
    launcher = (
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes), "--master_port", "29517"]
        if processes > 1
        else [sys.executable]
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [*launcher, str(ROOT / "experiments" / "run.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available")
def test_two_processes_match_one(tmp_path):
    run(*ARGS, "--out", str(tmp_path / "two"), processes=2)
    run(*ARGS, "--out", str(tmp_path / "one"))
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    one = json.loads((tmp_path / "one" / "results.json").read_text())
    assert two["world_size"] == 2 and one["world_size"] == 1

    # the metrics gathered from two ranks are exactly those one process computes for the same weights
    config = RunFolder(tmp_path / "two").saved_config()
    dataset = load_dataset(config.dataset, config.data.data_dir, config.data.feature_dir)
    split = dataset.split()
    model = built_model(config, dataset, split)
    model.load_state_dict(torch.load(tmp_path / "two" / "best.pt", weights_only=True))
    trainer = Trainer(model, split, config, dataset.num_items)
    assert trainer.evaluate("test") == two["test"] and trainer.evaluate("valid") == two["valid"]

    # the same global batches: training on two ranks ends close to one process (the loss is averaged per
    # rank, not over all positions at once, so not bit for bit)
    for metric in ("recall@20", "ndcg@20"):
        assert two["test"][metric] == pytest.approx(one["test"][metric], rel=0.15), (two["test"], one["test"])
    assert two["history"][-1]["loss"] < two["history"][0]["loss"]
