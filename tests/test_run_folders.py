"""Run folders: a default name per distinct setting, a lock while a run writes, one line for an --out that
cannot be used, checkpoints checked before a resume, data checked on resume, Ctrl-C says how to resume."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import ROOT, script

from mdsrec_pyg.config import build_config
from mdsrec_pyg.runs import run_folder

TINY = ["--model", "sasrec", "--epochs", "2", "--set", "hidden_size=16", "--set", "inner_size=16", "--set", "max_len=8"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return script("run.py", *args)


def one_line_exit_2(done: subprocess.CompletedProcess, message: str) -> None:
    """Exit 2 with one error line, the last (progress lines of the loading may come before it)."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and message in lines[-1], done.stderr
    assert lines[-1].startswith("error: ") and sum(line.startswith("error") for line in lines) == 1
    assert "Traceback" not in done.stderr


def test_the_default_folder_names_the_settings_that_differ():
    plain = run_folder(build_config("scientific_mm", {"model": "mdsrec"}))
    assert plain.as_posix() == "runs/scientific_mm/mdsrec-42"
    lr = run_folder(build_config("scientific_mm", {"model": "mdsrec"}, ["lr=3e-4"]))
    dropout = run_folder(build_config("scientific_mm", {"model": "mdsrec"}, ["dropout=0.2"]))
    assert len({plain, lr, dropout}) == 3 and lr.name.startswith("mdsrec-42-")
    assert run_folder(build_config("scientific_mm", {"model": "mdsrec"}, ["lr=3e-4"])) == lr  # stable
    where = build_config("scientific_mm", {"model": "mdsrec", "threads": 1, "data_dir": "elsewhere"})
    assert run_folder(where) == plain  # how and where a run executes does not count
    assert run_folder(build_config("path/to/clothing/", {"model": "sasrec"})).as_posix() == "runs/clothing/sasrec-42"


@pytest.fixture(scope="module")
def unfinished(tmp_path_factory):
    """A two-epoch run with its checkpoint kept and its results removed: resumable."""
    out = tmp_path_factory.mktemp("folders") / "run"
    done = run_cli(*TINY, "--keep-checkpoint", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    (out / "results.json").unlink()
    return out


def copy(run, tmp_path):
    return shutil.copytree(run, tmp_path / "copy")


def test_out_that_is_a_file_or_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    one_line_exit_2(run_cli(*TINY, "--out", str(tmp_path / "file")), "is a file; expected a folder")
    one_line_exit_2(
        run_cli(*TINY, "--out", "/proc/no-such-place/run"), "/proc/no-such-place/run: cannot write in /proc"
    )


def test_a_folder_in_use_is_refused_and_a_stale_lock_taken_over(unfinished, tmp_path):
    run = copy(unfinished, tmp_path)
    hold = f"from mdsrec_pyg.runs import RunFolder; import time\nwith RunFolder({str(run)!r}).lock():\n"
    hold += "    print('held', flush=True); time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", hold], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        one_line_exit_2(run_cli("--resume", str(run)), f"in use by another run (process {holder.pid}")
    finally:
        holder.kill()
        holder.wait()
    assert (run / "run.lock").read_text().strip() == str(holder.pid)  # left by a killed process: no flock held
    resumed = run_cli("--resume", str(run))  # the lock's process has ended
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert (run / "results.json").is_file() and not (run / "run.lock").exists()


def test_a_truncated_checkpoint_is_refused_on_resume(unfinished, tmp_path):
    run = copy(unfinished, tmp_path)
    data = (run / "checkpoint.pt").read_bytes()
    (run / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    one_line_exit_2(run_cli("--resume", str(run)), "checkpoint.pt: cannot be read as a checkpoint")


def test_a_checkpoint_whose_weights_changed_is_refused_on_resume(unfinished, tmp_path):
    run = copy(unfinished, tmp_path)
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    name = next(iter(state["model"]))
    state["model"][name] = state["model"][name] + 1.0  # a valid file with other weights than it was saved with
    torch.save(state, run / "checkpoint.pt")
    one_line_exit_2(run_cli("--resume", str(run)), "corrupt: its weights do not match their checksum")


def test_resume_refuses_changed_data_unless_forced(unfinished, tmp_path):
    run = copy(unfinished, tmp_path)
    saved = json.loads((run / "data.json").read_text())
    (run / "data.json").write_text(json.dumps({**saved, "fingerprint": "0" * 64}))
    one_line_exit_2(run_cli("--resume", str(run)), "has changed since this run started")
    forced = run_cli("--resume", str(run), "--force")
    assert forced.returncode == 0, forced.stderr[-2000:]


def test_ctrl_c_says_how_to_resume_and_leaves_a_resumable_checkpoint(tmp_path):
    out = tmp_path / "run"
    args = [*TINY[:2], "--epochs", "6", *TINY[4:], "--set", "batch_size=32"]
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "experiments" / "run.py"), *args, "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as at a terminal, also under `cmd &`
    )
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None and not (out / "checkpoint.pt").exists():
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be interrupted"
    os.kill(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("interrupted:") and f"--resume {out}" in last and "Traceback" not in err
    assert not (out / "run.lock").exists()
    resumed = run_cli("--resume", str(out))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads((out / "results.json").read_text())["history"][-1]["epoch"] == 6
