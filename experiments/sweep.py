"""Figures 3-4 of the paper: a metric against one parameter (H, k, or any config field), as a PNG and a CSV.

    python experiments/sweep.py --dataset scientific_mm --data-dir ../shared/datasets --param H --values 0 5 10 20 30 50
    python experiments/sweep.py --dataset scientific_mm --data-dir ../shared/datasets --param k \
        --values 2 4 8 16 32 64 128

Resumable (finished runs are reused, from their folders or from the results registry, where each run's entry
and per-user ranks are recorded as it finishes; ``--jobs N`` trains N at once). Runs are named by their settings
(``run_folder``) in one folder for every sweep of a dataset, so the run at the defaults is shared by all of
them. The dataset's default value of the parameter (the paper's choice for H and k) is marked on the plot.
Writes ``sweep-<param>.png`` and ``sweep-<param>.csv`` in ``--out`` (default ``runs/<dataset>/sweeps``), and
records the sweep in the results registry (``<registry>/<dataset>/sweep-<param>.json`` and ``.png``, one file
per run).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from mdsrec_pyg import io  # noqa: E402
from mdsrec_pyg.cli import (  # noqa: E402
    add_experiment_arguments,
    check_registry,
    command_line,
    distinct,
    experiment_settings,
    output_folder,
)
from mdsrec_pyg.config import METRIC_NAMES, Config, build_config  # noqa: E402
from mdsrec_pyg.errors import InputError, shorten  # noqa: E402
from mdsrec_pyg.experiment import run_all  # noqa: E402
from mdsrec_pyg.names import dataset_name  # noqa: E402
from mdsrec_pyg.registry.store import check_recordable, registry_hooks, run_ranks, write_table  # noqa: E402
from mdsrec_pyg.registry.tables import SweepSummary  # noqa: E402
from mdsrec_pyg.runs import run_folder  # noqa: E402
from mdsrec_pyg.significance import paired_comparison, paired_recall, per_user_ndcg  # noqa: E402
from mdsrec_pyg.tables import mean_std, to_csv  # noqa: E402

K = 20  # the cut-off of the paired tests against the default


def plot(
    path: Path, model: str, param: str, values: list, curves: dict[str, list[float]], chosen, dataset: str
) -> None:
    figure, axis = plt.subplots(figsize=(6, 4))
    numeric = all(isinstance(v, (int, float)) for v in values)
    xs = values if numeric else list(range(len(values)))
    for metric, ys in curves.items():
        axis.plot(xs, ys, marker="o", label=metric.replace("recall", "Recall").replace("ndcg", "NDCG"))
    if chosen in values:
        axis.axvline(xs[values.index(chosen)], color="grey", linestyle="--", label=f"default {param}={chosen}")
    if numeric and min(values) > 0 and max(values) / min(values) >= 16:
        axis.set_xscale("log", base=2)
    axis.set_xticks(xs, [str(v) for v in values])
    axis.set_xlabel(param)
    axis.set_ylabel("test metric")
    axis.set_title(f"{model} on {dataset}: impact of {param}")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    io.atomic_file(path, lambda tmp: figure.savefig(tmp, format="png", dpi=120))
    plt.close(figure)


def check_metrics(metrics: list[str], config: Config) -> None:
    """Every metric a ``name@K`` the runs report (a K of topk), before any run."""
    known = [f"{name}@{k}" for name in METRIC_NAMES for k in config.evaluation.topk]
    unknown = [m for m in metrics if m not in known]
    if unknown:
        raise InputError("--metrics", f"unknown metric {shorten(unknown[0])}; the runs report {', '.join(known)}")


def against_default(points: list[dict], chosen, ranks: dict[str, Path], k: int = K) -> None:
    """Give each point other than the default one its paired test against the default (per-user NDCG@k:
    Wilcoxon and bootstrap; Recall@k: McNemar), from the runs' ranks files; none where the default was not
    swept."""
    default = next((p for p in points if p["value"] == chosen), None)
    if default is None:
        return
    base = [ranks[run] for run in default["runs"]]
    for point in points:
        if point is not default:
            runs = [ranks[run] for run in point["runs"]]
            point["test_against_default"] = {
                **paired_comparison(per_user_ndcg(runs, k), per_user_ndcg(base, k)),
                "recall": paired_recall(runs, base, k),
            }


def table_name(model: str, param: str) -> str:
    """The registry table of a sweep: ``sweep-<param>`` for MDSRec, ``sweep-<model>-<param>`` for another model."""
    return f"sweep-{param}" if model == "mdsrec" else f"sweep-{model}-{param}"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_experiment_arguments(parser)
    parser.add_argument("--model", default="mdsrec")
    parser.add_argument("--param", required=True)
    parser.add_argument("--values", nargs="+", required=True)
    parser.add_argument("--metrics", nargs="+", default=["recall@20", "ndcg@20"])
    args = parser.parse_args(argv)
    check_registry(args)
    distinct(args.values, "--values")
    distinct(args.metrics, "--metrics")
    out = output_folder(args, "sweeps")
    base = experiment_settings(args, args.model)
    chosen = build_config(args.dataset, base, args.sets).get(args.param)
    configs = {
        (raw, seed): build_config(args.dataset, {**base, "seed": seed}, [*args.sets, f"{args.param}={raw}"])
        for raw in args.values
        for seed in args.seeds
    }  # every config checked before any run
    folders = {key: out / run_folder(config).name for key, config in configs.items()}  # one run per config
    check_metrics(args.metrics, next(iter(configs.values())))
    dataset = dataset_name(args.dataset)
    name = table_name(args.model, args.param)
    planned = {folders[key].name: config for key, config in configs.items()}
    check_recordable(
        args.registry,
        dataset,
        name,
        out.name,
        planned,
        {"seeds": args.seeds, "param": args.param},
        args.replace,
        "give --registry DIR to record this one elsewhere",
        rows=list(planned),
    )
    jobs = [(configs[key], folders[key]) for key in configs]
    outcomes = run_all(
        jobs,
        args.jobs,
        replace=args.replace,
        **registry_hooks(args.registry, out.name),
    )
    results = dict(zip(configs, outcomes))
    points = [
        {
            "value": configs[raw, args.seeds[0]].get(args.param),
            "test": {m: [results[raw, seed]["test"][m] for seed in args.seeds] for m in args.metrics},
            "valid": {m: [results[raw, seed]["valid"][m] for seed in args.seeds] for m in args.metrics},
            "best_epochs": [results[raw, seed]["best_epoch"] for seed in args.seeds],
            "runs": [folders[raw, seed].name for seed in args.seeds],
        }
        for raw in args.values
    ]
    against_default(
        points, chosen, {f.name: run_ranks(args.registry, dataset, out.name, f.name) for f in folders.values()}
    )
    values = [p["value"] for p in points]
    curves = {m: [mean_std(p["test"][m])[0] for p in points] for m in args.metrics}
    rows = [[p["value"]] + [x for m in args.metrics for x in mean_std(p["test"][m])] for p in points]
    header = [args.param] + [f"{m}{suffix}" for m in args.metrics for suffix in ("", "_std")]
    io.write_text(out / f"{name}.csv", to_csv(header, rows))
    figure = Path(args.registry) / dataset / f"{name}.png"
    for path in (figure, out / f"{name}.png"):  # in the registry and beside the runs
        plot(path, args.model, args.param, values, curves, chosen, dataset)
    config = next(iter(configs.values()))
    summary = SweepSummary(
        dataset=dataset,
        model=args.model,
        param=args.param,
        default=chosen,
        seeds=args.seeds,
        metrics=args.metrics,
        points=points,
        figure=str(figure),
        run_entries=f"{dataset}/{out.name}",
        k=K,
        note=f"epochs at most {config.training.epochs}, patience {config.training.patience}.",
    )
    recorded = write_table(args.registry, dataset, name, summary)
    print(summary.render())
    print(f"written {out / f'{name}.png'}, .csv and {figure}")
    print(f"recorded {recorded} and {len(results)} run entries in {Path(args.registry) / dataset / out.name}")
    return {"values": values, "curves": curves}


if __name__ == "__main__":
    command_line(main)
