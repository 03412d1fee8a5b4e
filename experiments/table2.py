"""Table 2 of the paper: models under one protocol, equal tuning, seeds and paired significance tests.

    python experiments/table2.py --dataset scientific_mm --data-dir ../shared/datasets \
        --models sasrecf unisrec missrec mdsrec --tune --seeds 42 1 2

``--tune`` gives every trainable model the same search, on validation NDCG@20 of the first seed only: lr in
{3e-4, 1e-3, 3e-3} x dropout in {0.2, 0.5}. The chosen setting then runs on every seed; where it differs from
the default one (lr 1e-3, dropout 0.5: the settings the paper fixes for every model), the default runs on
every seed too and gets a row of its own. Without ``--tune`` every model runs its default setting.

A row is the mean ± std over the seeds of test Recall@10, NDCG@10, Recall@20 and NDCG@20. The proposed model
(MDSRec) is compared with every other row of the same setting, paired over the test users: the Wilcoxon
signed-rank test on per-user NDCG@20 and a bootstrap 95% interval of the mean difference (see
``mdsrec_pyg/significance.py``). Runs go to ``--out`` (default ``runs/<dataset>/table2``), each reused when
finished and resumed when interrupted; ``--jobs N`` trains N at once. The table is recorded in the results
registry (``--registry``, default ``results``: ``<dataset>/<table>.json`` and one file per run under
``<dataset>/<runs folder name>/``), written as ``<table>.md`` beside the runs, and printed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mdsrec_pyg import io
from mdsrec_pyg.cli import (
    add_experiment_arguments,
    check_registry,
    command_line,
    distinct,
    experiment_settings,
    output_folder,
)
from mdsrec_pyg.config import Config, build_config
from mdsrec_pyg.data import load_dataset
from mdsrec_pyg.experiment import run_all
from mdsrec_pyg.models import MODELS
from mdsrec_pyg.names import dataset_name
from mdsrec_pyg.registry.store import check_recordable, ran_on, record_run, write_table
from mdsrec_pyg.registry.tables import Table2Summary
from mdsrec_pyg.runs import grid_run_name
from mdsrec_pyg.significance import paired_comparison, per_user_ndcg
from mdsrec_pyg.tables import mean_std

METRICS = ["recall@10", "ndcg@10", "recall@20", "ndcg@20"]
DEFAULT_MODELS = [
    "pop",
    "gru4rec",
    "sasrec",
    "bert4rec",
    "gru4recf",
    "sasrecf",
    "fdsa",
    "unisrec",
    "mmmlp",
    "missrec",
    "mdsrec",
]
LR_GRID = [3e-4, 1e-3, 3e-3]
DROPOUT_GRID = [0.2, 0.5]
PROPOSED = "mdsrec"
K = 20  # the paired tests are on NDCG@K


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_experiment_arguments(parser)
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS, choices=sorted(MODELS))
    parser.add_argument(
        "--tune",
        action="store_true",
        help="pick each trainable model's lr and dropout from the grid on validation NDCG@20",
    )
    parser.add_argument(
        "--table",
        default="table2",
        help="the table's name in the registry (<registry>/<dataset>/<table>.json); default table2",
    )
    args = parser.parse_args(argv)
    check_registry(args)
    distinct(args.models, "--models")
    out = output_folder(args, "table2")
    dataset = dataset_name(args.dataset)

    def config(model: str, seed: int, lr: float | None = None, dropout: float | None = None) -> Config:
        grid = {**({"lr": lr} if lr is not None else {}), **({"dropout": dropout} if dropout is not None else {})}
        return build_config(
            args.dataset, {**experiment_settings(args, model), "seed": seed, **grid}, args.sets, where_held=True
        )  # --set hidden_size=64 sets every model that has a width

    def tuned(model: str) -> bool:
        return args.tune and MODELS[model].trainable

    first = args.seeds[0]
    defaults = {m: config(m, first) for m in args.models}  # every model's settings checked before any run
    grids = {
        m: [config(m, first, lr, do) for lr in LR_GRID for do in DROPOUT_GRID] if tuned(m) else [defaults[m]]
        for m in args.models
    }
    planned = {  # every run this command may make: each setting it may choose, on every seed
        grid_run_name(c): c
        for m in args.models
        for g in grids[m]
        for c in [config(m, s, g.training.lr, g.flat().get("dropout")) for s in args.seeds]
    }
    facts = {"seeds": args.seeds, "models": args.models, "tuned": bool(args.tune)}
    elsewhere = "give --table NAME to record this one beside it"
    check_recordable(args.registry, dataset, args.table, out.name, planned, facts, args.replace, elsewhere)
    searched = [(c, out / grid_run_name(c)) for m in args.models for c in grids[m]]
    outcomes = dict(
        zip([folder for _, folder in searched], run_all(searched, args.jobs, keep_failures=True, replace=args.replace))
    )
    finished = {folder: r for folder, r in outcomes.items() if isinstance(r, dict)}

    def searched_score(c: Config) -> float:  # a setting whose training failed (diverged) is never chosen
        result = outcomes[out / grid_run_name(c)]
        return result["valid"]["ndcg@20"] if isinstance(result, dict) else float("-inf")

    chosen = {m: max(grids[m], key=searched_score) for m in args.models}

    rows = []
    for m in args.models:
        settings = [("tuned" if tuned(m) else "default", chosen[m])]
        if tuned(m) and (chosen[m].training.lr, chosen[m].options.dropout) != (
            defaults[m].training.lr,
            defaults[m].options.dropout,
        ):
            settings.append(("default", defaults[m]))
        for label, setting in settings:
            rows.append(
                {
                    "model": m,
                    "setting": label,
                    "configs": [config(m, s, setting.training.lr, setting.flat().get("dropout")) for s in args.seeds],
                }
            )
    jobs = [(c, out / grid_run_name(c)) for row in rows for c in row["configs"]]
    rows_runs = [folder.name for _, folder in jobs]  # the search chose them: the table is these runs
    check_recordable(args.registry, dataset, args.table, out.name, planned, facts, args.replace, elsewhere, rows_runs)
    results = dict(zip([folder for _, folder in jobs], run_all(jobs, args.jobs, replace=args.replace)))
    for folder, result in {**finished, **results}.items():
        record_run(args.registry, out.name, folder, result)

    summary_rows = []
    for row in rows:
        runs = [results[out / grid_run_name(c)] for c in row["configs"]]
        trainable = MODELS[row["model"]].trainable
        summary_rows.append(
            {
                "model": row["model"],
                "setting": row["setting"],
                "seeds": args.seeds,
                "lr": row["configs"][0].training.lr if trainable else None,
                "dropout": row["configs"][0].options.dropout if trainable else None,
                "test": {m: [r["test"][m] for r in runs] for m in METRICS},
                "valid_ndcg@20": [r["valid"]["ndcg@20"] for r in runs],
                "best_epochs": [r["best_epoch"] for r in runs],
                "seconds": [r["seconds"] for r in runs],
                "ran_on": sorted({ran_on(r) for r in runs}),
                "runs": [grid_run_name(c) for c in row["configs"]],
            }
        )
    grid_valid = {
        m: {
            f"lr={c.training.lr:g} dropout={c.options.dropout:g}": searched_score(c)
            if out / grid_run_name(c) in finished
            else f"failed: {outcomes[out / grid_run_name(c)]}"
            for c in grids[m]
        }
        for m in args.models
        if tuned(m)
    }
    loaded = load_dataset(
        args.dataset, defaults[args.models[0]].data.data_dir, defaults[args.models[0]].data.feature_dir
    )
    summary = Table2Summary(
        dataset=dataset,
        seeds=args.seeds,
        models=args.models,
        features={m: int(t.shape[1]) for m, t in loaded.features.items()},
        run_entries=f"{dataset_name(args.dataset)}/{out.name}",  # where record_run put each run's entry
        tuned=bool(args.tune),
        grid={"lr": LR_GRID, "dropout": DROPOUT_GRID} if args.tune else None,
        grid_valid_ndcg=grid_valid,
        proposed=PROPOSED,
        k=K,
        note=note(args.tune),
        tests=paired_tests(summary_rows, out),
        rows=summary_rows,
    )
    recorded = write_table(args.registry, dataset, args.table, summary)
    table = summary.render()
    io.write_text(out / f"{args.table}.md", table)
    print(table)
    entries = len({**finished, **results})
    print(f"recorded {recorded} and {entries} run entries in {Path(args.registry) / dataset / out.name}")
    return table


def note(tune: bool) -> str:
    if not tune:
        return "every model at its default setting."
    return (
        "tuned: lr and dropout picked per model from {3e-4, 1e-3, 3e-3} x {0.2, 0.5} on validation NDCG@20 of "
        "the first seed; default: the default setting, shown where the tuned one differs."
    )


def paired_tests(rows: list[dict], out: Path) -> list[dict]:
    """The proposed model against every other model, per setting (a model without a default row is compared
    by its tuned row, which then is its default setting too), ordered by the other's mean test NDCG@K; the
    per-user ranks are read from the rows' run folders in ``out``."""
    tests = []
    for setting in ("tuned", "default"):
        mine = next((r for r in rows if r["model"] == PROPOSED and r["setting"] == setting), None)
        if mine is None:
            continue
        others = {}
        for r in rows:
            if r["model"] != PROPOSED and (r["setting"] == setting or r["model"] not in others):
                others[r["model"]] = r
        own = per_user_ndcg([out / run for run in mine["runs"]], K)
        for model, r in sorted(others.items(), key=lambda item: -mean_std(item[1]["test"][f"ndcg@{K}"])[0]):
            test = paired_comparison(own, per_user_ndcg([out / run for run in r["runs"]], K))
            tests.append({"other": model, "setting": setting, **test})
    return tests


if __name__ == "__main__":
    command_line(main)
