"""The results registry: what the experiment scripts record, how a table renders, and that the README's tables
are exactly what the committed registry renders."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from mdsrec_pyg import io
from mdsrec_pyg.config import build_config
from mdsrec_pyg.errors import InputError
from mdsrec_pyg.experiment import run_all
from mdsrec_pyg.registry.pages import regenerate, render
from mdsrec_pyg.registry.store import TABLE_KINDS, read_summary, record_run, recorded_run, run_ranks, write_table
from mdsrec_pyg.registry.tables import AblationSummary, PaperTable2, Table2Summary
from mdsrec_pyg.runs import RunFolder


def comparison(p: float) -> Table2Summary:
    test = {
        "users": 100,
        "users_differing": 40,
        "mean_a": 0.11,
        "mean_b": 0.10,
        "difference": 0.01,
        "ci_low": -0.002,
        "ci_high": 0.022,
        "p_wilcoxon": p,
        "significant": p < 0.05,
    }
    rows = [
        {
            "model": m,
            "setting": "tuned",
            "seeds": [42, 1],
            "lr": 1e-3,
            "dropout": 0.5,
            "test": {k: values for k in ("recall@10", "ndcg@10", "recall@20", "ndcg@20")},
            "best_epochs": [3, 4],
            "seconds": [10.0, 12.0],
            "ran_on": ["CPU x86_64 x2"],
        }
        for m, values in (("sasrec", [0.10, 0.10]), ("mdsrec", [0.12, 0.10]))
    ]
    values = {
        "kind": "table2",
        "dataset": "toy",
        "seeds": [42, 1],
        "models": ["sasrec", "mdsrec"],
        "run_entries": "toy/table2",
        "tuned": True,
        "grid": {"lr": [1e-3, 3e-3]},
        "features": {"text": 8},
        "note": "a note.",
        "proposed": "mdsrec",
        "k": 20,
        "rows": rows,
        "tests": [{"other": "sasrec", "setting": "tuned", **test}],
        "grid_valid_ndcg@20": {
            "sasrec": {"lr=0.001": 0.2, "lr=0.003": "failed: loss became nan"},
            "mdsrec": {"lr=0.001": 0.25, "lr=0.003": 0.3},
        },
    }
    return Table2Summary.from_dict(values, "toy/table2.json")


def test_a_table_renders_mean_std_bold_best_and_the_verdict(tmp_path):
    write_table(tmp_path, "toy", "table2", comparison(0.3))
    text = render(tmp_path, "toy/table2")
    assert "| mdsrec | tuned | 0.001 | 0.5 | **0.1100 ± 0.0141** |" in text
    assert "| sasrec | tuned | 0.001 | 0.5 | 0.1000 ± 0.0000 |" in text
    assert "+10.0%" in text and "[-0.0020, +0.0220]" in text
    assert "(sasrec, tuned setting): +10.0% NDCG@20, p = 0.3: not significant at 0.05: noise." in text
    assert "| sasrec | **0.2000** | failed |" in text and "| mdsrec | 0.2500 | **0.3000** |" in text
    write_table(tmp_path, "toy", "table2", comparison(0.01))
    assert "p = 0.01: significant at 0.05." in render(tmp_path, "toy/table2")


def test_the_recall_verdict_stands_beside_the_ndcg_one_and_says_when_they_disagree(tmp_path):
    summary = comparison(0.01)
    recall = {"mean_a": 0.2, "mean_b": 0.19, "difference": 0.01, "ci_low": -0.01, "ci_high": 0.03}
    summary.tests[0]["recall"] = {**recall, "only_a": 30, "only_b": 25, "p_mcnemar": 0.59, "significant": False}
    write_table(tmp_path, "toy", "table2", summary)
    text = render(tmp_path, "toy/table2")
    assert "**Recall@20, mdsrec against sasrec: +5.3% (0.2000 against 0.1900; 95% CI [-0.0100, +0.0300])" in text
    assert "hit by one only: 30 against 25, McNemar's exact p = 0.59: not significant at 0.05: noise" in text
    assert "the Recall and the NDCG verdicts disagree" in text  # NDCG significant, Recall noise


def test_time_to_best_validation_is_shown_per_row_and_as_the_proposed_models_ratio_seed_by_seed(tmp_path):
    summary = comparison(0.3)
    assert "Time to the best validation epoch" not in summary.render()  # tables recorded before it: unchanged
    for row, times in zip(summary.rows, ([30.0, 40.0], [60.0, 20.0])):  # sasrec, mdsrec; best epochs 3, 4
        row["seconds_to_best"] = times
    text = summary.render()
    assert "| sasrec | tuned | 35.0 ± 7.1 | 30, 40 | 3,4 | 10.0 ± 0.0 |" in text
    assert "| mdsrec | tuned | 40.0 ± 28.3 | 60, 20 | 3,4 | 12.5 ± 10.6 |" in text
    assert "mdsrec's time to its best validation epoch against: sasrec (tuned) 2.00x, 0.50x (seed by seed)." in text


def test_regenerate_fills_marked_blocks_and_reports_what_changed(tmp_path):
    write_table(tmp_path, "toy", "table2", comparison(0.3))
    readme = "intro\n<!-- registry: toy/table2 -->\nstale\n<!-- /registry -->\nend\n"
    text, changed = regenerate(readme, tmp_path)
    assert changed == [("toy/table2", 3)] and "stale" not in text
    assert render(tmp_path, "toy/table2") in text and text.endswith("<!-- /registry -->\nend\n")
    assert regenerate(text, tmp_path) == (text, [])  # idempotent
    with pytest.raises(InputError, match="not in the results registry"):
        regenerate("<!-- registry: toy/missing -->\n<!-- /registry -->\n", tmp_path)


def test_a_run_entry_holds_what_a_reader_needs_and_no_weights(tmp_path):
    results = {
        "dataset": "toy",
        "model": "sasrec",
        "config": {"seed": 1},
        "best_epoch": 3,
        "valid": {},
        "test": {"ndcg@20": 0.1},
        "seconds": 5.0,
        "history": [{"epoch": 1}],
        "versions": {"commit": "abc"},
        "machine": {"device": "cpu"},
    }
    path = record_run(tmp_path, "table2", tmp_path / "runs" / "sasrec-s1", results)
    entry = json.loads(path.read_text())
    assert path == tmp_path / "toy" / "table2" / "sasrec-s1.json"
    assert entry["run"] == "sasrec-s1" and entry["versions"]["commit"] == "abc" and "history" not in entry
    assert "test_cold" not in entry  # a key the run has not is left out, not written as null


def test_a_recorded_run_keeps_its_ranks_and_is_reused_only_with_the_same_settings(tmp_path):
    config = build_config("synthetic", {"model": "sasrec", "seed": 1})
    folder = RunFolder(tmp_path / "runs" / "sasrec-s1")
    folder.path.mkdir(parents=True)
    io.save_ranks(folder.file(RunFolder.RANKS), valid=np.array([1, 21, 3]), test=np.array([2, 2, 21]))
    results = {"dataset": "synthetic", "model": "sasrec", "config": config.to_dict(), "test": {"ndcg@20": 0.5}}
    assert recorded_run(tmp_path, "table2", "sasrec-s1", config) is None  # nothing recorded yet
    record_run(tmp_path, "table2", folder.path, results)
    kept = run_ranks(tmp_path, "synthetic", "table2", "sasrec-s1")
    assert kept == tmp_path / "synthetic" / "table2" / "sasrec-s1.ranks.txt"
    assert kept.read_text().splitlines() == ["valid 1 21 3", "test 2 2 21"]  # text, a line a split
    assert io.read_ranks(kept, "test").tolist() == [2, 2, 21] and io.read_ranks(kept, "valid").tolist() == [1, 21, 3]
    assert recorded_run(tmp_path, "table2", "sasrec-s1", config) == results
    other = build_config("synthetic", {"model": "sasrec", "seed": 1, "lr": 0.01})
    assert recorded_run(tmp_path, "table2", "sasrec-s1", other) is None  # made with other settings: run again
    record_run(tmp_path, "table2", tmp_path / "gone" / "sasrec-s1", results)  # reused: no folder, ranks stay
    assert io.read_ranks(kept, "test").tolist() == [2, 2, 21]
    kept.unlink()
    assert recorded_run(tmp_path, "table2", "sasrec-s1", config) is None  # no ranks, no paired test: run again


def test_run_all_makes_only_the_runs_the_registry_lacks_and_records_each_as_it_finishes(tmp_path):
    configs = [build_config("synthetic", {"model": "pop", "seed": s}) for s in (1, 2)]
    jobs = [(c, tmp_path / f"pop-s{c.training.seed}") for c in configs]
    held = {"test": {"ndcg@20": -1.0}}
    recorded, made = [], []
    outcomes = run_all(
        jobs,
        recorded=lambda config, folder: held if config.training.seed == 1 else None,
        record=lambda folder, results: recorded.append(folder.name) or made.append(results),
    )
    assert outcomes[0] is held and not (tmp_path / "pop-s1").exists()  # taken from the registry, not run
    assert outcomes[1]["model"] == "pop" and recorded == ["pop-s2"] and made == [outcomes[1]]
    again = run_all(jobs, replace=True, recorded=lambda config, folder: held)
    assert again[0] is not held and (tmp_path / "pop-s1" / RunFolder.RANKS).is_file()  # --replace makes every run


PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_the_tables_of_every_page_are_what_the_committed_registry_renders():
    assert len(PAGES) >= 7 and ROOT / "docs" / "results.md" in PAGES
    done = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "readme_tables.py"), "--check", "--registry", "results"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert all(str(page.relative_to(ROOT)) in done.stdout for page in PAGES)  # every page was checked


def test_every_committed_file_renders_as_its_kind_and_a_page_shows_it():
    pages = "".join(page.read_text() for page in PAGES)
    files = sorted((ROOT / "results").glob("*/*.json"))  # the run entries lie a level below
    kinds = {read_summary(p).kind for p in files}
    assert kinds >= {"table2", "ablation", "sweep", "bench", "export", "retrieval", "threads", "paper"}
    for path in files:
        summary = read_summary(path)
        if summary.kind in TABLE_KINDS:
            key = f"{path.parent.name}/{path.stem}"
            assert render(ROOT / "results", key)
            assert f"<!-- registry: {key} -->" in pages, f"{key} is in the registry but on no page"
        assert summary.to_dict() == json.loads(path.read_text())  # read and written back unchanged


def test_a_file_of_no_known_kind_is_one_line_naming_it(tmp_path):
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "t.json").write_text('{"rows": []}')
    with pytest.raises(InputError, match=r"t.json: a registry file of unknown kind None; expected one of table2"):
        render(tmp_path, "toy/t")
    (tmp_path / "toy" / "t.json").write_text('{"kind": "sweep", "dataset": "toy"}')
    with pytest.raises(InputError, match=r"t.json: a sweep file without param, default, seeds"):
        render(tmp_path, "toy/t")


def test_a_bad_readme_or_a_missing_table_is_one_line_and_exit_2(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("<!-- registry: toy/none -->\n<!-- /registry -->\n")
    for args in (["--readme", str(tmp_path / "absent.md")], ["--readme", str(readme), "--registry", str(tmp_path)]):
        done = subprocess.run(
            [sys.executable, str(ROOT / "experiments" / "readme_tables.py"), "--check", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_the_paper_values_are_those_of_its_table_2():
    paper = json.loads((ROOT / "results" / "paper" / "table2.json").read_text())["datasets"]
    assert paper["sports"]["sasrec"] == {"recall@10": 0.0423, "ndcg@10": 0.0208, "recall@20": 0.0646, "ndcg@20": 0.0263}
    assert (paper["sports"]["mdsrec"]["recall@20"], paper["sports"]["mdsrec"]["ndcg@20"]) == (0.0989, 0.0401)
    assert (paper["sports"]["unisrec"]["recall@20"], paper["sports"]["missrec"]["ndcg@20"]) == (0.0901, 0.0349)
    assert paper["scientific"]["mdsrec"]["ndcg@20"] == 0.0873


def test_a_table_3_of_a_dataset_the_paper_reports_shows_the_papers_full_model_beside_ours(tmp_path):
    full = {"variant": "MDSRec", "test": {"recall@20": [0.16, 0.14], "ndcg@20": [0.09, 0.07]}, "runs": []}
    variant = {"variant": "w/o ICA", "test": {"recall@20": [0.1, 0.1], "ndcg@20": [0.05, 0.05]}, "runs": []}
    values = {"dataset": "toy", "seeds": [42, 1], "metrics": ["recall@20", "ndcg@20"], "run_entries": "toy/ablation"}
    table = AblationSummary.from_dict({**values, "k": 20, "users": 10, "rows": [variant, full], "note": "n."}, "a")
    write_table(tmp_path, "toy", "ablation", table)
    assert "The paper's full model" not in render(tmp_path, "toy/ablation")  # no paper file: our table alone
    reported = {"mdsrec": {"recall@20": 0.2, "ndcg@20": 0.1}}
    paper = {"source": "s", "features": "image and text", "datasets": {"toy": reported}}
    write_table(tmp_path, "paper", "table2", PaperTable2.from_dict(paper, "p"))
    text = render(tmp_path, "toy/ablation")
    assert "| MDSRec | 0.2000 | 0.1000 | 0.75 | 0.80 |" in text  # ours 0.15 / 0.2, 0.08 / 0.1
    assert text.index("| w/o ICA |") < text.index("The paper's full model on toy")


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--registry", "README.md"], "--registry: README.md is a file; expected the results registry folder"),
        (["--table", "../elsewhere"], "--table: '../elsewhere': expected a plain name (letters, digits, - and _)"),
    ],
)
def test_a_bad_registry_or_table_name_is_refused_before_any_run(args, expected):
    done = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "table2.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stderr.strip() == f"error: {expected}"


REGISTRY_RUNS = sorted((ROOT / "results").glob("*/*/*.json"))


def test_the_registry_holds_runs_of_both_config_forms():
    flat = [p for p in REGISTRY_RUNS if "ablation" in json.loads(p.read_text())["config"]]  # early runs' form
    sections = [p for p in REGISTRY_RUNS if "training" in json.loads(p.read_text())["config"]]
    assert len(flat) >= 100 and sections and len(flat) + len(sections) == len(REGISTRY_RUNS)


@pytest.mark.parametrize("path", REGISTRY_RUNS, ids=[str(p.relative_to(ROOT / "results")) for p in REGISTRY_RUNS])
def test_a_registry_run_is_still_the_run_its_command_makes_today(path):
    """Each committed run (a flat config with one ablation name, or sections) is the same experiment as the
    config its script builds now from the same command: a re-run of the table reuses it instead of training
    again."""
    from mdsrec_pyg.config import TABLE3_VARIANTS, Config, build_config, validate
    from mdsrec_pyg.runs import run_folder, same_config

    entry = json.loads(path.read_text())
    saved, folder = entry["config"], path.parent.name
    flat = Config.from_dict(saved, flat_form=True).flat()  # the flat form of early runs, or sections
    command = {k: flat[k] for k in ("model", "data_dir", "seed", "epochs")}
    sets = []
    if folder == "table2":  # the tuned grid gives lr and dropout
        command.update({k: flat[k] for k in ("lr", "dropout") if k in flat})
    elif folder == "ablation":  # the paper's four variants as switches
        switches = TABLE3_VARIANTS[path.stem.rsplit("-s", 1)[0]][1]
        sets = [f"{key}={str(value).lower()}" for key, value in switches.items()]
    else:  # sweeps: the sweep's own epochs, patience and the swept setting, as the flat config holds them
        default = build_config(flat["dataset"], {"model": flat["model"]}).flat()
        command.update({k: v for k, v in flat.items() if k in default and default[k] != v and k != "dataset"})
    config = build_config(flat["dataset"], command, sets, where_held=True)
    assert same_config(saved, config)
    if folder == "sweeps":  # named by the settings that differ from the defaults: the same name as before
        assert run_folder(config).name == path.stem
    assert validate(Config.from_dict(saved, flat_form=True)).flat() == {
        **config.flat(),
        "device": flat["device"],
        "threads": flat["threads"],
    }
    assert not same_config(
        saved, build_config(flat["dataset"], {**command, "seed": flat["seed"] + 1}, sets, where_held=True)
    )
