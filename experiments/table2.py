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
registry (``--registry``, default ``results``: ``<dataset>/<table>.json``, and each run's entry and per-user
ranks under ``<dataset>/<runs folder name>/`` as it finishes), written as ``<table>.md`` beside the runs, and
printed. A run the registry holds finished with the same settings is not made again, so a table too long for
one session grows run by run: commit the entries, and the next session runs the rest.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

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
from mdsrec_pyg.registry.store import check_recordable, ran_on, registry_hooks, run_ranks, write_table
from mdsrec_pyg.registry.tables import Table2Summary
from mdsrec_pyg.runs import grid_run_name
from mdsrec_pyg.significance import paired_comparison, paired_recall, per_user_ndcg
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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
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
    return args


class Plan:
    """The configurations of one Table 2: every model's default, its search grid (with ``--tune``), and every
    run the command may make, all built (and so checked) before any run."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out = output_folder(args, args.table)
        self.dataset = dataset_name(args.dataset)
        first = args.seeds[0]
        self.defaults = {m: self.config(m, first) for m in args.models}
        self.grids = {
            m: [self.config(m, first, lr, do) for lr in LR_GRID for do in DROPOUT_GRID]
            if self.tuned(m)
            else [self.defaults[m]]
            for m in args.models
        }
        self.planned = {  # every run this command may make: each setting it may choose, on every seed
            grid_run_name(c): c for m in args.models for g in self.grids[m] for c in self.on_every_seed(m, g)
        }
        self.facts = {"seeds": args.seeds, "models": args.models, "tuned": bool(args.tune)}

    def config(self, model: str, seed: int, lr: float | None = None, dropout: float | None = None) -> Config:
        grid = {**({"lr": lr} if lr is not None else {}), **({"dropout": dropout} if dropout is not None else {})}
        settings = {**experiment_settings(self.args, model), "seed": seed, **grid}
        return build_config(self.args.dataset, settings, self.args.sets, where_held=True)  # --set for every model

    def on_every_seed(self, model: str, setting: Config) -> list[Config]:
        return [self.config(model, s, setting.training.lr, setting.flat().get("dropout")) for s in self.args.seeds]

    def tuned(self, model: str) -> bool:
        return self.args.tune and MODELS[model].trainable

    def folder(self, config: Config) -> Path:
        return self.out / grid_run_name(config)

    def check(self, rows: list[str] | None = None) -> None:
        """Nothing recorded in the registry with other settings is replaced (before any run)."""
        elsewhere = "give --table NAME to record this one beside it"
        args = self.args
        check_recordable(
            args.registry,
            self.dataset,
            args.table,
            self.out.name,
            self.planned,
            self.facts,
            args.replace,
            elsewhere,
            rows,
        )

    def run(self, configs: list[Config], keep_failures: bool = False) -> dict[Path, dict | Exception]:
        """Each config's results: recorded in the registry (a run finished before, maybe elsewhere), else made
        (or reused from its run folder) now."""
        jobs = [(c, self.folder(c)) for c in configs]
        outcomes = run_all(
            jobs,
            self.args.jobs,
            keep_failures=keep_failures,
            replace=self.args.replace,
            **registry_hooks(self.args.registry, self.out.name),
        )
        return dict(zip([folder for _, folder in jobs], outcomes))

    def ranks(self, run: str) -> Path:
        """The per-user ranks of a recorded run, as the registry keeps them."""
        return run_ranks(self.args.registry, self.dataset, self.out.name, run)


def search(plan: Plan) -> tuple[dict[Path, dict | Exception], dict[str, Config]]:
    """Every setting of each model's grid on the first seed, and the one chosen per model on validation
    NDCG@20 (a setting whose training failed, e.g. diverged, is never chosen)."""
    outcomes = plan.run([c for m in plan.args.models for c in plan.grids[m]], keep_failures=True)

    def score(c: Config) -> float:
        result = outcomes[plan.folder(c)]
        return result["valid"]["ndcg@20"] if isinstance(result, dict) else float("-inf")

    return outcomes, {m: max(plan.grids[m], key=score) for m in plan.args.models}


def table_rows(plan: Plan, chosen: dict[str, Config]) -> list[dict]:
    """A row per model and setting: the chosen one, and the default one where the search chose another."""
    rows = []
    for m in plan.args.models:
        default, best = plan.defaults[m], chosen[m]
        settings = [("tuned" if plan.tuned(m) else "default", best)]
        if plan.tuned(m) and (best.training.lr, best.options.dropout) != (
            default.training.lr,
            default.options.dropout,
        ):
            settings.append(("default", default))
        rows += [{"model": m, "setting": label, "configs": plan.on_every_seed(m, c)} for label, c in settings]
    return rows


def summary_row(plan: Plan, row: dict, results: dict[Path, dict]) -> dict:
    """A row of the recorded table: its values per seed."""
    runs = [results[plan.folder(c)] for c in row["configs"]]
    trainable, first = MODELS[row["model"]].trainable, row["configs"][0]
    cold = {  # a cold-start run's metrics over the test users with a held-out target and the others
        stage: {m: [r[stage][m] for r in runs] for m in METRICS}
        for stage in ("test_cold", "test_warm")
        if stage in runs[0]
    }
    if cold:
        cold["cold_start"] = runs[0]["cold_start"]
    return {
        "model": row["model"],
        "setting": row["setting"],
        "seeds": plan.args.seeds,
        "lr": first.training.lr if trainable else None,
        "dropout": first.options.dropout if trainable else None,
        "test": {m: [r["test"][m] for r in runs] for m in METRICS},
        "valid_ndcg@20": [r["valid"]["ndcg@20"] for r in runs],
        "best_epochs": [r["best_epoch"] for r in runs],
        "seconds": [r["seconds"] for r in runs],
        "seconds_to_best": [r["seconds_to_best_epoch"] for r in runs],  # training and validation up to it
        "ran_on": sorted({ran_on(r) for r in runs}),
        "runs": [grid_run_name(c) for c in row["configs"]],
        **cold,
    }


def search_scores(plan: Plan, outcomes: dict[Path, dict | Exception]) -> dict[str, dict[str, float | str]]:
    """The validation NDCG@20 of every searched setting, or why its training failed."""
    return {
        m: {
            f"lr={c.training.lr:g} dropout={c.options.dropout:g}": (
                outcomes[plan.folder(c)]["valid"]["ndcg@20"]
                if isinstance(outcomes[plan.folder(c)], dict)
                else f"failed: {outcomes[plan.folder(c)]}"
            )
            for c in plan.grids[m]
        }
        for m in plan.args.models
        if plan.tuned(m)
    }


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    plan = Plan(args)
    plan.check()
    outcomes, chosen = search(plan)
    rows = table_rows(plan, chosen)
    plan.check([plan.folder(c).name for row in rows for c in row["configs"]])  # the search chose these runs
    results = plan.run([c for row in rows for c in row["configs"]])
    summary_rows = [summary_row(plan, row, results) for row in rows]
    stage = "test_cold" if plan.defaults[args.models[0]].data.cold_items else "test"  # --set: the same for all
    first = plan.defaults[args.models[0]].data
    loaded = load_dataset(args.dataset, first.data_dir, first.feature_dir)
    summary = Table2Summary(
        dataset=plan.dataset,
        seeds=args.seeds,
        models=args.models,
        features={m: int(t.shape[1]) for m, t in loaded.features.items()},
        run_entries=f"{plan.dataset}/{plan.out.name}",  # where record_run put each run's entry
        tuned=bool(args.tune),
        grid={"lr": LR_GRID, "dropout": DROPOUT_GRID} if args.tune else None,
        grid_valid_ndcg=search_scores(plan, outcomes),
        proposed=PROPOSED,
        k=K,
        note=note(args.tune),
        tests=paired_tests(summary_rows, plan.ranks, stage),
        rows=summary_rows,
        compared_on=stage,
    )
    recorded = write_table(args.registry, plan.dataset, args.table, summary)
    table = summary.render()
    io.write_text(plan.out / f"{args.table}.md", table)
    print(table)
    entries = len({folder for folder, r in {**outcomes, **results}.items() if isinstance(r, dict)})
    print(f"recorded {recorded} and {entries} run entries in {Path(args.registry) / plan.dataset / plan.out.name}")
    return table


def note(tune: bool) -> str:
    if not tune:
        return "every model at its default setting."
    return (
        "tuned: lr and dropout picked per model from {3e-4, 1e-3, 3e-3} x {0.2, 0.5} on validation NDCG@20 of "
        "the first seed; default: the default setting, shown where the tuned one differs."
    )


def paired_tests(rows: list[dict], ranks: Callable[[str], Path], stage: str = "test") -> list[dict]:
    """The proposed model against every other model, per setting (a model without a default row is compared
    by its tuned row, which then is its default setting too), ordered by the other's mean NDCG@K over the
    users of ``stage`` (``test``, or ``test_cold``: those with a held-out target); ``ranks(run)`` is the file of
    a run's per-user ranks (the registry's copy)."""
    tests = []
    for setting in ("tuned", "default"):
        mine = next((r for r in rows if r["model"] == PROPOSED and r["setting"] == setting), None)
        if mine is None:
            continue
        others = {}
        for r in rows:
            if r["model"] != PROPOSED and (r["setting"] == setting or r["model"] not in others):
                others[r["model"]] = r
        mine_runs = [ranks(run) for run in mine["runs"]]
        own = per_user_ndcg(mine_runs, K, stage)
        for model, r in sorted(others.items(), key=lambda item: -mean_std(item[1][stage][f"ndcg@{K}"])[0]):
            their_runs = [ranks(run) for run in r["runs"]]
            test = paired_comparison(own, per_user_ndcg(their_runs, K, stage))
            recall = paired_recall(mine_runs, their_runs, K, stage=stage)
            tests.append({"other": model, "setting": setting, **test, "recall": recall})
    return tests


if __name__ == "__main__":
    command_line(main)
