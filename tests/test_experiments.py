"""The analysis commands run on the synthetic set with tiny budgets, exit 0 and write their files."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
from conftest import ROOT

TINY = ["--epochs", "1", "--set", "hidden_size=16", "--set", "inner_size=16", "--set", "max_len=8"]


def command(script: str, *args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_ablation_writes_table_3_with_paired_tests_and_reuses_finished_runs(tmp_path):
    registry = tmp_path / "registry"
    args = [
        *TINY,
        "--set",
        f"graph_dir={tmp_path / 'graphs'}",
        "--out",
        str(tmp_path / "runs"),
        "--registry",
        str(registry),
        "--jobs",
        "2",
    ]
    command("ablation.py", *args)
    table = (tmp_path / "runs" / "ablation.md").read_text()
    for variant in ("w/o DIS", "w/o CRE", "w/o MRGC", "w/o ICA", "MDSRec"):
        assert f"| {variant} |" in table
    summary = json.loads((registry / "synthetic" / "ablation.json").read_text())
    assert [r["variant"] for r in summary["rows"]][-1] == "MDSRec" and summary["rows"][-1]["test_against_full"] is None
    for row in summary["rows"][:-1]:
        assert len(row["test"]["ndcg@20"]) == 1 and 0 <= row["test_against_full"]["p_wilcoxon"] <= 1
        assert 0 <= row["test_against_full"]["recall"]["p_mcnemar"] <= 1  # Recall@20 tested beside NDCG@20
    assert table.count("McNemar's exact p") == 4  # a Recall line per variant
    assert len(list((registry / "synthetic" / "runs").glob("*.json"))) == 5  # one run per variant
    stamp = (tmp_path / "runs" / "mdsrec-s42" / "results.json").stat().st_mtime_ns
    again = command("ablation.py", *args)
    assert (tmp_path / "runs" / "mdsrec-s42" / "results.json").stat().st_mtime_ns == stamp
    assert "w/o ICA" in again.stdout and "beyond noise" in again.stdout


def test_sweep_writes_a_png_a_csv_its_registry_table_and_tests_each_value_against_the_default(tmp_path):
    registry = tmp_path / "registry"
    done = command(
        "sweep.py",
        "--param",
        "H",
        "--values",
        "0",
        "10",  # the synthetic default
        *TINY,
        "--set",
        f"graph_dir={tmp_path / 'graphs'}",
        "--out",
        str(tmp_path),
        "--registry",
        str(registry),
    )
    for png in (tmp_path / "sweep-H.png", registry / "synthetic" / "sweep-H.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    rows = list(csv.DictReader((tmp_path / "sweep-H.csv").open()))
    assert [r["H"] for r in rows] == ["0", "10"] and all(0 <= float(r["ndcg@20"]) <= 1 for r in rows)
    summary = json.loads((registry / "synthetic" / "sweep-H.json").read_text())
    assert [p["value"] for p in summary["points"]] == [0, 10]
    assert summary["points"][1]["test"]["ndcg@20"] == [pytest.approx(float(rows[1]["ndcg@20"]))]
    zero, default = summary["points"]
    assert "test_against_default" not in default  # the default is what the others are tested against
    test = zero["test_against_default"]
    assert test["mean_a"] == pytest.approx(zero["test"]["ndcg@20"][0], abs=1e-9)  # one seed: the run's NDCG@20
    assert test["mean_b"] == pytest.approx(default["test"]["ndcg@20"][0], abs=1e-9)
    assert test["recall"]["mean_a"] == pytest.approx(zero["test"]["recall@20"][0], abs=1e-9)
    assert "**NDCG@20, H=0 against 10:" in done.stdout and "McNemar's exact p" in done.stdout


def test_a_sweep_of_another_model_has_its_own_table(tmp_path):
    registry = tmp_path / "registry"
    args = ["--model", "sasrec", "--param", "dropout", "--values", "0.1", "0.2", *TINY]
    done = command("sweep.py", *args, "--out", str(tmp_path), "--registry", str(registry))
    summary = json.loads((registry / "synthetic" / "sweep-sasrec-dropout.json").read_text())
    assert summary["model"] == "sasrec" and [p["value"] for p in summary["points"]] == [0.1, 0.2]
    assert "test_against_default" in summary["points"][0]  # 0.2 is the synthetic default
    assert "sasrec on synthetic against dropout, test split" in done.stdout
    assert not (registry / "synthetic" / "sweep-dropout.json").exists()


def test_stats_prints_table_1(tmp_path):
    out = tmp_path / "stats.md"
    done = command("stats.py", "--data-dir", str(tmp_path), "--out", str(out))
    assert "| synthetic | 2,001 | 1,001 | 11,991 |" in done.stdout
    assert "| synthetic | 2,001 | 1,001 | 11,991 |" in out.read_text()


def test_case_study_ranks_agree_with_the_evaluator(tmp_path):
    import importlib.util

    import numpy as np

    from mdsrec_pyg.evaluate import target_ranks

    run = tmp_path / "run"
    command("run.py", *TINY, "--set", f"graph_dir={tmp_path / 'graphs'}", "--out", str(run))
    spec = importlib.util.spec_from_file_location("case_study", ROOT / "experiments" / "case_study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    report = module.case_study(run, auto=True)
    _, dataset, model = module.load_trained(run)
    split = dataset.split()
    inputs, targets = split.eval_inputs("test", 8)
    u = report["index"]
    evaluator = target_ranks(
        model, inputs[u : u + 1], targets[u : u + 1], max_k=dataset.num_items, num_items=dataset.num_items
    )
    assert report["channels"][f"MDSRec ({run.name}) fused"]["rank"] == int(evaluator[0])
    assert set(report["neighbours"]) == {"image", "text"}
    assert all(len(v) == 5 for v in report["neighbours"].values())
    assert "## Top-5 of each channel" in (run / "case_study.md").read_text()
    assert np.isfinite(report["target"])


def test_table2_tunes_every_model_alike_tests_pairs_and_reuses_runs(tmp_path):
    registry = tmp_path / "registry"
    args = [
        "--models",
        "pop",
        "sasrec",
        "mdsrec",
        "--tune",
        *TINY,
        "--set",
        f"graph_dir={tmp_path / 'graphs'}",
        "--out",
        str(tmp_path / "runs"),
        "--registry",
        str(registry),
        "--jobs",
        "2",
    ]
    done = command("table2.py", *args)
    summary = json.loads((registry / "synthetic" / "table2.json").read_text())
    entries = {p.stem: json.loads(p.read_text()) for p in (registry / "synthetic" / "runs").glob("*.json")}
    assert len(entries) == 13  # pop once; sasrec and mdsrec over the same 3 x 2 grid
    for model in ("sasrec", "mdsrec"):
        grid = {name: e for name, e in entries.items() if e["model"] == model}
        assert {(e["config"]["training"]["lr"], e["config"][model]["dropout"]) for e in grid.values()} == {
            (lr, do) for lr in (3e-4, 1e-3, 3e-3) for do in (0.2, 0.5)
        }
        best = max(grid.values(), key=lambda e: e["valid"]["ndcg@20"])
        rows = [r for r in summary["rows"] if r["model"] == model]
        assert rows[0]["setting"] == "tuned"
        assert (rows[0]["lr"], rows[0]["dropout"]) == (
            best["config"]["training"]["lr"],
            best["config"][model]["dropout"],
        )
        default = (1e-3, 0.2)  # the synthetic config's dropout is 0.2
        assert len(rows) == (1 if (rows[0]["lr"], rows[0]["dropout"]) == default else 2)
    assert {(t["other"], t["setting"]) for t in summary["tests"]} >= {("pop", "tuned"), ("sasrec", "tuned")}
    assert all(0 <= t["recall"]["p_mcnemar"] <= 1 for t in summary["tests"]) and "McNemar's exact p" in done.stdout
    assert "p < 0.05" in done.stdout and (tmp_path / "runs" / "table2.md").read_text() in done.stdout
    stamp = (tmp_path / "runs" / "sasrec-lr0.001-do0.2-s42" / "results.json").stat().st_mtime_ns
    command("table2.py", *args)
    assert (tmp_path / "runs" / "sasrec-lr0.001-do0.2-s42" / "results.json").stat().st_mtime_ns == stamp
    # another machine, no run folders: the registry's entries and ranks give the same table and tests
    elsewhere = tmp_path / "elsewhere" / "runs"  # the same runs folder name: the same registry entries
    again = command(
        "table2.py", *args[: args.index("--out")], "--out", str(elsewhere), *args[args.index("--out") + 2 :]
    )
    assert "13 of 13 runs are finished in the results registry" in again.stderr
    assert sorted(p.name for p in elsewhere.iterdir()) == ["table2.md"]  # nothing trained there
    assert json.loads((registry / "synthetic" / "table2.json").read_text()) == summary


def test_a_run_saved_before_an_option_existed_is_reused(tmp_path):
    import json

    from mdsrec_pyg.config import build_config
    from mdsrec_pyg.runs import RunFolder

    config = build_config("synthetic", {"model": "mdsrec"})
    saved = config.to_dict()
    del saved["mdsrec"]["modal_positions"]  # an option added later, at its default
    (tmp_path / "results.json").write_text(json.dumps({"config": saved, "test": {}}))
    assert RunFolder(tmp_path).finished_results(config) is not None
    config.override("modal_positions", "0.5")
    assert RunFolder(tmp_path).finished_results(config) is None


def test_an_interrupted_run_is_resumed_not_retrained(tmp_path, caplog):
    import json
    import logging

    from mdsrec_pyg.config import build_config
    from mdsrec_pyg.experiment import run_experiment, run_or_reuse
    from mdsrec_pyg.runs import RunFolder

    config = build_config(
        "synthetic", {"model": "sasrec", "epochs": 2, "hidden_size": 16, "inner_size": 16, "max_len": 8}
    )
    expected = run_experiment(config, tmp_path, keep_checkpoint=True)
    (tmp_path / "results.json").unlink()  # killed after its last checkpoint, before the results were written
    other = build_config(
        "synthetic", {"model": "sasrec", "epochs": 3, "hidden_size": 16, "inner_size": 16, "max_len": 8}
    )
    assert RunFolder(tmp_path).interrupted(config) and not RunFolder(tmp_path).interrupted(other)
    with caplog.at_level(logging.INFO):
        got = run_or_reuse(config, tmp_path, {})
    assert "resumed from" in caplog.text
    assert got["test"] == expected["test"]
    assert json.loads((tmp_path / "results.json").read_text())["test"] == expected["test"]
    assert not RunFolder(tmp_path).interrupted(config)  # finished: its checkpoint is gone


def test_bench_writes_the_figures_the_issue_asks_for(tmp_path):
    import json

    out = tmp_path / "runs" / "bench.json"  # a folder that does not exist yet
    command(
        "bench.py",
        "--items",
        "3000",
        "--sequences",
        "600",
        "--knn-sample",
        "300",
        "--out",
        str(out),
        "--profile",
        "1",
        "--set",
        "hidden_size=16",
        "--set",
        "inner_size=16",
        "--set",
        "max_len=8",
    )
    figures = json.loads(out.read_text())
    for key in (
        "cooc_seconds",
        "knn_seconds",
        "knn_exact_seconds",
        "knn_recall",
        "epoch_seconds_sasrec",
        "epoch_seconds_mdsrec",
        "eval_users_per_second",
        "peak_rss_mb",
        "items",
        "device",
    ):
        assert key in figures, key
    assert figures["items"] == 2999 and 0.5 <= figures["knn_recall"] <= 1.0
    assert figures["epoch_seconds_mdsrec"] > 0 and figures["peak_rss_mb"] > 0
    profile = (tmp_path / "runs" / "bench-profile-mdsrec.txt").read_text()
    for stage in ("centralized attention", "sequence encoders", "softmax over all items", "item tables"):
        assert f"mdsrec: {stage}" in profile, stage
    assert "sasrec: softmax over all items" in (tmp_path / "runs" / "bench-profile-sasrec.txt").read_text()
    from mdsrec_pyg.registry.measurements import BenchSummary

    table = BenchSummary.from_dict(figures, "bench.json").render()
    assert figures["kind"] == "bench" and figures["command"].startswith("python experiments/bench.py --items 3000")
    assert "| co-occurrence graph |" in table and f"{figures['epoch_ratio_mdsrec_sasrec']:.2f}x" in table
    assert f"{figures['floor_ratio_mdsrec_sasrec']:.2f}x** counted" in table and "without ICA" in table
    assert figures["worst_step_mb_sasrec"] >= 0 and figures["worst_step_mb_mdsrec"] >= 0
    # MDSRec's objective counts a softmax and an encoder per channel (ID + the text modality here), and ICA,
    # against SASRec's one each
    sasrec, mdsrec = figures["multiply_adds_sasrec"], figures["multiply_adds_mdsrec"]
    assert list(figures["features"]) == ["text"]
    assert figures["stand_in_features"] == ["text"] and "text 384-d (stand-in, random)" in table
    old_file = BenchSummary.from_dict({**figures, "stand_in_features": True}, "bench.json").render()
    assert "stand-in random features: text 384-d;" in old_file  # files made before the list read as before
    assert mdsrec["softmax"] == pytest.approx(2 * sasrec["softmax"]) and sasrec["ica"] == 0 < mdsrec["ica"]
    assert mdsrec["encoders"] == pytest.approx(2 * sasrec["encoders"]) and figures["floor_ratio_mdsrec_sasrec"] > 2
    ranking = figures["eval_multiply_adds_sasrec"], figures["eval_multiply_adds_mdsrec"]
    assert ranking[1]["softmax"] == pytest.approx(2 * ranking[0]["softmax"])  # scoring: one query per user
    assert figures["eval_floor_ratio_sasrec_mdsrec"] > 2 and "counted" in table


def test_bench_catalog_times_each_model_and_optimiser_at_both_sizes(tmp_path):
    import json

    from mdsrec_pyg.registry.store import read_summary

    out = tmp_path / "steps.json"
    args = ["--items", "500", "4000", "--sequences", "400", "--batches", "2", "--models", "sasrec", "mdsrec"]
    sets = [*TINY[2:], "--set", "negatives=50", "--set", "batch_size=64", "--set", "mdsrec.centre_sample=4"]
    done = command("bench_catalog.py", *args, *sets, "--out", str(out))  # mdsrec.* applies to MDSRec alone
    figures = json.loads(out.read_text())
    assert figures["kind"] == "catalog_steps" and figures["items"] == [500, 4000]
    rows = {(r["model"], r["optimizer"]): r for r in figures["rows"]}
    assert list(rows) == [(m, o) for m in ("sasrec", "mdsrec") for o in ("adam", "lazy_adam")]
    for r in rows.values():
        assert r["ratio"] == pytest.approx(r["step_seconds_4000"] / r["step_seconds_500"])
        assert r["steps_500"] == r["steps_4000"] == 2 and r["batch_shapes_500"] == r["batch_shapes_4000"]
    assert rows["sasrec", "adam"]["catalog_parameters_4000"] == 4000 * 16  # the ID table, d = 16
    assert rows["sasrec", "adam"]["other_parameters_4000"] == rows["sasrec", "adam"]["other_parameters_500"]
    table = read_summary(out).render()
    assert "| mdsrec | lazy_adam |" in table and "MDSRec's step at 4,000 items:" in done.stdout
    assert "SASRec's with adam" in done.stdout and "SASRec's with lazy_adam" in done.stdout
    bad = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "bench_catalog.py"), "--items", "4000", "500"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "error: bench_catalog.py: expected 2 <= SMALL < LARGE items, --sequences >= 1, --batches >= 1"
    ]
    assert not out.with_name("catalog_steps.json").exists()
    short = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "bench_catalog.py"), *args, *sets, "--out", str(out)]
        + ["--batches", "50"],
        capture_output=True,
        text=True,
    )
    assert short.returncode == 2 and "--batches: 50 timed steps and a warm-up need 51 batches" in short.stderr
    assert json.loads(out.read_text()) == figures  # the file written before is still there, unchanged


def test_runs_side_by_side_give_the_results_of_runs_one_at_a_time(tmp_path):
    from mdsrec_pyg.config import build_config
    from mdsrec_pyg.experiment import run_all

    tiny = {"model": "sasrec", "epochs": 1, "hidden_size": 16, "inner_size": 16, "max_len": 8}
    configs = [build_config("synthetic", {**tiny, "seed": seed}) for seed in (1, 2)]
    alone = run_all([(c, tmp_path / "alone" / str(c.training.seed)) for c in configs])
    together = run_all([(c, tmp_path / "together" / str(c.training.seed)) for c in configs], workers=2)
    assert [r["test"] for r in alone] == [r["test"] for r in together]
    assert alone[0]["test"] != alone[1]["test"]  # in order: each seed its own result


def test_a_failed_training_is_kept_in_its_place_or_raised(tmp_path, monkeypatch):
    from mdsrec_pyg import experiment
    from mdsrec_pyg.config import build_config
    from mdsrec_pyg.errors import TrainingError

    def fake(config, folder, datasets, replace):
        if config.training.lr > 0.5:
            raise TrainingError("loss became nan at epoch 1, step 0; try a lower learning rate")
        return {"lr": config.training.lr}

    monkeypatch.setattr(experiment, "run_or_reuse", fake)
    jobs = [(build_config("synthetic", {"lr": lr}), tmp_path / str(lr)) for lr in (1e-3, 1.0)]
    kept = experiment.run_all(jobs, keep_failures=True)
    assert kept[0] == {"lr": 1e-3} and isinstance(kept[1], TrainingError)
    with pytest.raises(TrainingError, match="loss became nan"):
        experiment.run_all(jobs)


def test_an_input_error_crosses_processes_whole():
    import pickle

    from mdsrec_pyg.errors import InputError

    err = pickle.loads(pickle.dumps(InputError("data/x.txt", "expected a tab", 3)))
    assert str(err) == "data/x.txt:3: expected a tab" and err.line == 3
