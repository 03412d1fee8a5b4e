"""Figures 3-4 of the paper: a metric against one parameter (H, k, or any config field), as a PNG and a CSV.

    python experiments/sweep.py --dataset scientific_mm --data-dir ../shared/datasets --param H --values 0 5 10 20 30 50
    python experiments/sweep.py --dataset scientific_mm --data-dir ../shared/datasets --param k \
        --values 2 4 8 16 32 64 128

Resumable (finished runs are reused). The dataset's default value of the parameter (the paper's choice
for H and k) is marked on the plot. Writes ``sweep-<param>.png`` and ``sweep-<param>.csv`` in ``--out``
(default ``runs/<dataset>/sweep-<param>``).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from mdsrec_pyg import io  # noqa: E402
from mdsrec_pyg.cli import add_experiment_arguments, command_line, experiment_settings, output_folder
from mdsrec_pyg.config import build_config  # noqa: E402
from mdsrec_pyg.errors import InputError  # noqa: E402
from mdsrec_pyg.experiment import run_or_reuse  # noqa: E402
from mdsrec_pyg.tables import mean_std, to_csv  # noqa: E402


def plot(path: Path, param: str, values: list, curves: dict[str, list[float]], chosen, dataset: str) -> None:
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
    axis.set_title(f"MDSRec on {dataset}: impact of {param}")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    io.atomic_file(path, lambda tmp: figure.savefig(tmp, format="png", dpi=120))
    plt.close(figure)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_experiment_arguments(parser)
    parser.add_argument("--model", default="mdsrec")
    parser.add_argument("--param", required=True)
    parser.add_argument("--values", nargs="+", required=True)
    parser.add_argument("--metrics", nargs="+", default=["recall@20", "ndcg@20"])
    args = parser.parse_args(argv)
    out = output_folder(args, f"sweep-{args.param}")
    base = experiment_settings(args, args.model)
    chosen = getattr(build_config(args.dataset, base, args.sets), args.param, None)
    configs = {(raw, seed): build_config(args.dataset, {**base, "seed": seed}, [*args.sets, f"{args.param}={raw}"])
               for raw in args.values for seed in args.seeds}  # every config checked before any run
    datasets: dict = {}
    values, rows = [], []
    curves: dict[str, list[float]] = {m: [] for m in args.metrics}
    for raw in args.values:
        per_metric: dict[str, list[float]] = {m: [] for m in args.metrics}
        for seed in args.seeds:
            config = configs[raw, seed]
            results = run_or_reuse(config, out / f"{args.param}-{raw}-s{seed}", datasets)
            for metric in args.metrics:
                if metric not in results["test"]:
                    raise InputError("--metrics", f"unknown metric {metric!r}; have {', '.join(results['test'])}")
                per_metric[metric].append(results["test"][metric])
        value = getattr(config, args.param)
        values.append(value)
        row: list[object] = [value]
        for metric in args.metrics:
            mean, std = mean_std(per_metric[metric])
            curves[metric].append(mean)
            row += [mean, std]
        rows.append(row)
    header = [args.param] + [f"{m}{suffix}" for m in args.metrics for suffix in ("", "_std")]
    io.write_text(out / f"sweep-{args.param}.csv", to_csv(header, rows))
    plot(out / f"sweep-{args.param}.png", args.param, values, curves, chosen, args.dataset)
    print(to_csv(header, rows))
    print(f"written {out / f'sweep-{args.param}.png'} and .csv")
    return {"values": values, "curves": curves}


if __name__ == "__main__":
    command_line(main)
