"""The analysis commands run on the synthetic set with tiny budgets, exit 0 and write their files."""
from __future__ import annotations

import csv
import subprocess
import sys

from conftest import ROOT

TINY = ["--epochs", "1", "--set", "hidden_size=16", "--set", "inner_size=16", "--set", "max_len=8"]


def command(script: str, *args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, str(ROOT / "experiments" / script), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_ablation_writes_table_3_and_reuses_finished_runs(tmp_path):
    graphs = ["--set", f"graph_dir={tmp_path / 'graphs'}"]
    command("ablation.py", *TINY, *graphs, "--out", str(tmp_path))
    table = (tmp_path / "ablation.md").read_text()
    for variant in ("w/o DIS", "w/o CRE", "w/o MRGC", "w/o ICA", "MDSRec"):
        assert f"| {variant} |" in table
    rows = list(csv.DictReader((tmp_path / "ablation.csv").open()))
    assert [r["variant"] for r in rows][-1] == "MDSRec" and float(rows[-1]["recall@20_drop_percent"]) == 0.0
    stamp = (tmp_path / "mdsrec-s42" / "results.json").stat().st_mtime_ns
    again = command("ablation.py", *TINY, *graphs, "--out", str(tmp_path))
    assert (tmp_path / "mdsrec-s42" / "results.json").stat().st_mtime_ns == stamp
    assert "w/o ICA" in again.stdout


def test_sweep_writes_a_png_and_a_csv_and_h_zero_runs(tmp_path):
    command("sweep.py", "--param", "H", "--values", "0", "3", *TINY, "--set", f"graph_dir={tmp_path / 'graphs'}",
            "--out", str(tmp_path))
    png = (tmp_path / "sweep-H.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    rows = list(csv.DictReader((tmp_path / "sweep-H.csv").open()))
    assert [r["H"] for r in rows] == ["0", "3"] and all(0 <= float(r["ndcg@20"]) <= 1 for r in rows)


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
    evaluator = target_ranks(model, inputs[u:u + 1], targets[u:u + 1], max_k=dataset.num_items,
                             num_items=dataset.num_items)
    assert report["channels"][f"MDSRec ({run.name}) fused"]["rank"] == int(evaluator[0])
    assert set(report["neighbours"]) == {"image", "text"}
    assert all(len(v) == 5 for v in report["neighbours"].values())
    assert "## Top-5 of each channel" in (run / "case_study.md").read_text()
    assert np.isfinite(report["target"])


def test_table2_marks_best_and_second_and_reuses_runs(tmp_path):
    args = ["--models", "pop", "sasrec", "sasrecf", *TINY, "--out", str(tmp_path)]
    done = command("table2.py", *args)
    lines = {line.split(" | ")[0].lstrip("| "): line for line in done.stdout.splitlines() if line.startswith("| ")}
    for metric in ("Recall@10", "NDCG@10", "Recall@20", "NDCG@20"):
        assert lines[metric].count("**") == 2 and lines[metric].count("<u>") == 1, lines[metric]
    rows = {r["metric"]: r for r in csv.DictReader((tmp_path / "table2.csv").open())}
    assert set(rows) == {"recall@10", "ndcg@10", "recall@20", "ndcg@20"}
    assert 0 <= float(rows["ndcg@20"]["sasrec"]) <= float(rows["recall@20"]["sasrec"]) <= 1
    stamp = (tmp_path / "sasrec-lr0.001-s42" / "results.json").stat().st_mtime_ns
    command("table2.py", *args)
    assert (tmp_path / "sasrec-lr0.001-s42" / "results.json").stat().st_mtime_ns == stamp


def test_a_run_saved_before_an_option_existed_is_reused(tmp_path):
    import json

    from mdsrec_pyg.config import build_config
    from mdsrec_pyg.experiment import finished_results

    config = build_config("synthetic", {"model": "sasrec"})
    saved = config.to_dict()
    del saved["interests"]  # an option added later, at its default
    (tmp_path / "results.json").write_text(json.dumps({"config": saved, "test": {}}))
    assert finished_results(tmp_path, config) is not None
    config.override("interests", "8")
    assert finished_results(tmp_path, config) is None


def test_an_interrupted_run_is_resumed_not_retrained(tmp_path, caplog):
    import json
    import logging

    from mdsrec_pyg.config import build_config
    from mdsrec_pyg.experiment import interrupted_run, run_experiment, run_or_reuse

    config = build_config("synthetic", {"model": "sasrec", "epochs": 2, "hidden_size": 16, "inner_size": 16,
                                        "max_len": 8})
    expected = run_experiment(config, tmp_path, keep_checkpoint=True)
    (tmp_path / "results.json").unlink()  # killed after its last checkpoint, before the results were written
    other = build_config("synthetic", {"model": "sasrec", "epochs": 3, "hidden_size": 16, "inner_size": 16,
                                       "max_len": 8})
    assert interrupted_run(tmp_path, config) and not interrupted_run(tmp_path, other)
    with caplog.at_level(logging.INFO):
        got = run_or_reuse(config, tmp_path, {})
    assert "resumed from" in caplog.text
    assert got["test"] == expected["test"]
    assert json.loads((tmp_path / "results.json").read_text())["test"] == expected["test"]
    assert not interrupted_run(tmp_path, config)  # finished: its checkpoint is gone


def test_bench_writes_the_figures_the_issue_asks_for(tmp_path):
    import json

    out = tmp_path / "runs" / "bench.json"  # a folder that does not exist yet
    command("bench.py", "--items", "3000", "--sequences", "600", "--knn-sample", "300", "--out", str(out),
            "--profile", "1", "--set", "hidden_size=16", "--set", "inner_size=16", "--set", "max_len=8")
    figures = json.loads(out.read_text())
    for key in ("cooc_seconds", "knn_seconds", "knn_exact_seconds", "knn_recall", "epoch_seconds_sasrec",
                "epoch_seconds_mdsrec", "eval_users_per_second", "peak_rss_mb", "items", "device"):
        assert key in figures, key
    assert figures["items"] == 2999 and 0.5 <= figures["knn_recall"] <= 1.0
    assert figures["epoch_seconds_mdsrec"] > 0 and figures["peak_rss_mb"] > 0
    profile = (tmp_path / "runs" / "bench-profile-mdsrec.txt").read_text()
    for stage in ("centralized attention", "sequence encoders", "softmax over all items", "item tables"):
        assert f"mdsrec: {stage}" in profile, stage
    assert "sasrec: softmax over all items" in (tmp_path / "runs" / "bench-profile-sasrec.txt").read_text()
