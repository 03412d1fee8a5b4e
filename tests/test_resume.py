"""A run killed with SIGKILL in the middle of an epoch and resumed ends exactly as an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from conftest import ROOT

ARGS = [
    "--model",
    "sasrec",
    "--epochs",
    "4",
    "--set",
    "hidden_size=32",
    "--set",
    "patience=10",
    "--set",
    "batch_size=64",
    "--threads",
    "1",  # the same float rounding in both runs however busy the machine is
]


def run(out, *extra):
    return subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "run.py"), *ARGS, "--out", str(out), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_killed_run_resumes_to_the_same_metrics(tmp_path):
    reference = run(tmp_path / "whole")
    assert reference.returncode == 0, reference.stderr
    expected = json.loads((tmp_path / "whole" / "results.json").read_text())

    out = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "experiments" / "run.py"), *ARGS, "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    # wait until epoch 2 has been checkpointed, then kill during epoch 3
    deadline = time.time() + 300
    checkpoint = out / "checkpoint.pt"
    seen = 0
    while time.time() < deadline and process.poll() is None:
        if checkpoint.exists() and checkpoint.stat().st_mtime_ns != seen:
            seen = checkpoint.stat().st_mtime_ns
            import torch

            if torch.load(checkpoint, weights_only=True)["epoch"] >= 2:
                break
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "results.json").exists()

    resumed = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "run.py"), "--resume", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stderr
    got = json.loads((out / "results.json").read_text())
    assert got["test"] == expected["test"] and got["valid"] == expected["valid"]
    assert [h["loss"] for h in got["history"]] == [h["loss"] for h in expected["history"]]


def test_resume_without_a_run_folder_is_a_clear_error(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "run.py"), "--resume", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "config.json: not found" in done.stderr
