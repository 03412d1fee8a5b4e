"""The everyday command line of run.py: names listed and checked before data loads, config files, run.log,
the paper's datasets from an MMRec-format folder, threads recorded, finished runs left alone."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from conftest import ROOT, script

from mdsrec_pyg.models import MODELS

TINY = ["--epochs", "1", "--set", "hidden_size=16", "--set", "inner_size=16", "--set", "max_len=8"]


def run_cli(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return script("run.py", *args, cwd=cwd)


def test_list_models_and_datasets(tmp_path):
    models = run_cli("--list", "models")
    assert models.returncode == 0 and all(name in models.stdout for name in MODELS)
    (tmp_path / "clothing").mkdir()
    datasets = run_cli("--list", "datasets", "--data-dir", str(tmp_path))
    assert datasets.returncode == 0
    lines = {line.split()[0]: line for line in datasets.stdout.splitlines()}
    assert "found at" in lines["clothing"] and "not found at" in lines["baby"] and "built in" in lines["synthetic"]


def test_a_missing_paper_dataset_says_what_to_put_where(tmp_path):
    done = run_cli("--dataset", "clothing", "--data-dir", str(tmp_path))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert f"no folder {tmp_path / 'clothing'}" in done.stderr and "clothing.inter, image_feat.npy" in done.stderr


def test_an_unknown_model_is_refused_before_the_dataset_loads(tmp_path):
    done = run_cli("--model", "nope", "--dataset", "clothing", "--data-dir", str(tmp_path))
    assert done.returncode == 2 and "unknown model 'nope'" in done.stderr  # not the missing dataset


def write_mmrec_clothing(folder, users: int = 40, items: int = 30, seed: int = 0) -> None:
    """A small clothing set in MMRec's format: clothing.inter plus image and text features."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    rows = ["userID\titemID\trating\ttimestamp\tx_label"]
    for user in range(users):
        for step, item in enumerate(rng.choice(items, size=rng.integers(4, 9), replace=False)):
            rows.append(f"{user}\t{item}\t5\t{1000 * user + step}\t0")
    (folder / "clothing.inter").write_text("\n".join(rows) + "\n")
    np.save(folder / "image_feat.npy", rng.standard_normal((items, 12)).astype(np.float32))
    np.save(folder / "text_feat.npy", rng.standard_normal((items, 6)).astype(np.float32))


def test_run_clothing_reads_an_mmrec_folder_under_data(tmp_path):
    write_mmrec_clothing(tmp_path / "data" / "clothing")
    done = run_cli(
        "--dataset",
        "clothing",
        *TINY,
        "--set",
        f"graph_dir={tmp_path / 'graphs'}",
        "--set",
        f"feature_dir={tmp_path / 'none'}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    [folder] = (tmp_path / "runs" / "clothing").glob("mdsrec-42-*")  # the tiny settings name the folder
    results = json.loads((folder / "results.json").read_text())
    assert results["data"]["users"] == 40 and results["data"]["items"] == 30
    # the paper's clothing settings (H 15, k 64), with k fitted to the 30 items, as config.json records them too
    assert (results["config"]["graphs"]["H"], results["config"]["graphs"]["k"]) == (15, 30)
    assert json.loads((folder / "config.json").read_text())["graphs"]["k"] == 30


def test_a_config_file_is_read_and_set_overrides_it(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("model: sasrec\nepochs: 1\nhidden_size: 16\ninner_size: 16\nmax_len: 8\nlr: 0.003\n")
    out = tmp_path / "run"
    done = run_cli("--config", str(config), "--set", "lr=0.002", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    saved = json.loads((out / "config.json").read_text())
    assert saved["model"] == "sasrec" and saved["sasrec"]["hidden_size"] == 16
    assert saved["training"]["lr"] == 0.002 and "graphs" not in saved
    as_json = tmp_path / "run.json"
    as_json.write_text(json.dumps({"model": "pop"}))
    assert run_cli("--config", str(as_json), "--out", str(tmp_path / "pop")).returncode == 0


@pytest.mark.parametrize(
    "text, name, message",
    [
        ("model: [sasrec\n", "bad.yaml", "not valid YAML"),
        ("- 1\n- 2\n", "list.yaml", "expected a mapping of settings"),
        ('{"lr": }', "bad.json", "not valid JSON"),
        ("nosuchkey: 1\n", "unknown.yaml", "unknown config key 'nosuchkey'"),
        ("lr: fast\n", "type.yaml", "expected a value of type float"),
    ],
)
def test_a_bad_config_file_is_one_line(text, name, message, tmp_path):
    path = tmp_path / name
    path.write_text(text)
    done = run_cli("--config", str(path), "--out", str(tmp_path / "run"))
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "run").exists()


def test_a_finished_run_logs_drops_its_checkpoint_and_is_not_resumed(tmp_path):
    out = tmp_path / "run"
    done = run_cli("--model", "sasrec", *TINY, "--threads", "1", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "best.pt").is_file() and not (out / "checkpoint.pt").exists()
    results = json.loads((out / "results.json").read_text())
    assert results["threads"] == 1 and results["config"]["training"]["threads"] == 1
    log = (out / "run.log").read_text()
    assert "epoch   1" in log and "sasrec on synthetic: best epoch 1" in log and "| ndcg |" in log
    stamp = (out / "results.json").stat().st_mtime_ns
    again = run_cli("--resume", str(out))
    assert again.returncode == 0 and "is finished" in again.stdout
    assert (out / "results.json").stat().st_mtime_ns == stamp


def test_keep_checkpoint_keeps_it(tmp_path):
    out = tmp_path / "run"
    done = run_cli("--model", "sasrec", *TINY, "--keep-checkpoint", "--out", str(out))
    assert done.returncode == 0 and (out / "checkpoint.pt").is_file()
