"""Table 2 of the paper: every baseline and MDSRec on one dataset, under one trainer, split and evaluator.

    python experiments/table2.py --dataset scientific_mm --data-dir ../shared/datasets
    python experiments/table2.py --dataset scientific --data-dir ../shared/datasets --seeds 42 1 2 \
        --lr-search gru4rec gru4recf

Rows Recall@10, NDCG@10, Recall@20, NDCG@20 (test split, full ranking); one column per model; the best value
of a row in bold, the second underlined; "improv." is MDSRec over the best other model, in percent; a
cell is the mean ± standard deviation over the seeds. ``--lr-search M ...`` first picks the learning rate of
the models named (of every model when none is named) from {1e-4, 1e-3, 1e-2} by validation NDCG@20 on the
first seed. Resumable: a run whose results.json exists for the same config is reused. Writes ``table2.md``
and ``table2.csv`` in ``--out`` (default ``runs/<dataset>/table2``).
"""
from __future__ import annotations

import argparse

from mdsrec_pyg import io
from mdsrec_pyg.cli import add_experiment_arguments, command_line, experiment_settings, output_folder
from mdsrec_pyg.config import build_config
from mdsrec_pyg.experiment import run_or_reuse
from mdsrec_pyg.models import MODELS
from mdsrec_pyg.tables import mean_std, to_csv, to_markdown

METRICS = ["recall@10", "ndcg@10", "recall@20", "ndcg@20"]
DEFAULT_MODELS = ["pop", "gru4rec", "sasrec", "bert4rec", "gru4recf", "sasrecf", "fdsa", "unisrec", "mmmlp",
                  "missrec", "mdsrec"]
LR_GRID = [1e-4, 1e-3, 1e-2]
PROPOSED = "mdsrec"


def ranked_cells(values: dict[str, list[float]]) -> dict[str, str]:
    """Mean (± std) per model, the best in bold and the second underlined."""
    means = {name: mean_std(v)[0] for name, v in values.items()}
    order = sorted(means, key=means.get, reverse=True)
    cells = {}
    for name, v in values.items():
        mean, std = mean_std(v)
        text = f"{mean:.4f}" + (f" ± {std:.4f}" if len(v) > 1 else "")
        if name == order[0]:
            text = f"**{text}**"
        elif len(order) > 1 and name == order[1]:
            text = f"<u>{text}</u>"
        cells[name] = text
    return cells


def improvement(values: dict[str, list[float]]) -> float | None:
    """MDSRec's mean over the best other model's mean, in percent (None without MDSRec or another model)."""
    others = [mean_std(v)[0] for name, v in values.items() if name != PROPOSED]
    if PROPOSED not in values or not others or max(others) == 0:
        return None
    return 100 * (mean_std(values[PROPOSED])[0] / max(others) - 1)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_experiment_arguments(parser)
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS, choices=sorted(MODELS))
    parser.add_argument("--lr-search", nargs="*", metavar="MODEL",
                        help="pick the lr of these models (none named: of every model) from {1e-4, 1e-3, 1e-2}")
    args = parser.parse_args(argv)
    out = output_folder(args, "table2")
    for model in args.models:  # every model's settings checked before any run
        build_config(args.dataset, {**experiment_settings(args, model), "seed": args.seeds[0]}, args.sets)
    datasets: dict = {}

    def run(model: str, seed: int, lr: float | None = None) -> dict:
        overrides = {**experiment_settings(args, model), "seed": seed, **({"lr": lr} if lr else {})}
        config = build_config(args.dataset, overrides, args.sets)
        return run_or_reuse(config, out / f"{model}-lr{config.lr:g}-s{seed}", datasets)

    scores: dict[str, dict[str, list[float]]] = {}
    seconds: dict[str, list[float]] = {}
    chosen_lr: dict[str, float | None] = {}
    searched_models = set()
    for model in args.models:
        lr = None
        searched = args.lr_search is not None and (not args.lr_search or model in args.lr_search)
        if searched and MODELS[model].trainable:
            valid = {g: run(model, args.seeds[0], g)["valid"]["ndcg@20"] for g in LR_GRID}
            lr = max(valid, key=valid.get)
            searched_models.add(model)
        runs = [run(model, seed, lr) for seed in args.seeds]
        chosen_lr[model] = runs[0]["config"]["lr"] if MODELS[model].trainable else None
        scores[model] = {m: [r["test"][m] for r in runs] for m in METRICS}
        seconds[model] = [r["seconds"] for r in runs]

    names = list(scores)
    header = ["metric", *names, "improv."]
    rows, csv_rows = [], []
    for metric in METRICS:
        values = {name: scores[name][metric] for name in names}
        cells = ranked_cells(values)
        gain = improvement(values)
        rows.append([metric.replace("recall", "Recall").replace("ndcg", "NDCG")] + [cells[n] for n in names] +
                    ["-" if gain is None else f"{gain:+.2f}%"])
        csv_rows.append([metric] + [mean_std(values[n])[0] for n in names] + [mean_std(values[n])[1] for n in names]
                        + ["" if gain is None else gain])
    rows.append(["wall s"] + [f"{mean_std(seconds[n])[0]:.0f}" for n in names] + [""])
    rows.append(["lr"] + [f"{chosen_lr[n]:g}{'*' if n in searched_models else ''}" if chosen_lr[n] else "-"
                          for n in names] + [""])
    table = (f"{args.dataset}: test split, full ranking over all items, seeds {args.seeds}"
             f"{', lr picked on validation NDCG@20 where marked *' if args.lr_search is not None else ''}. "
             "Best in bold, second underlined; "
             f"improv.: {PROPOSED} over the best other model. wall s: seconds of training and evaluation per "
             f"run.\n\n" + to_markdown(header, rows))
    io.write_text(out / "table2.md", table)
    io.write_text(out / "table2.csv", to_csv(["metric", *names, *(f"{n}_std" for n in names), "improv_percent"],
                                             csv_rows))
    print(table)
    return table


if __name__ == "__main__":
    command_line(main)
