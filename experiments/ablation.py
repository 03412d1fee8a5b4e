"""Table 3 of the paper: MDSRec and its four variants, Recall@20 and NDCG@20, and the drop of each variant.

    python experiments/ablation.py --dataset scientific_mm --data-dir ../shared/datasets --seeds 42 1 2

Resumable: a variant whose results.json already exists for the same config is not retrained. Writes
``ablation.md`` and ``ablation.csv`` beside the runs in ``--out`` (default ``runs/<dataset>/ablation``).
"""
from __future__ import annotations

import argparse

from mdsrec_pyg import io
from mdsrec_pyg.cli import add_experiment_arguments, command_line, experiment_settings, output_folder
from mdsrec_pyg.config import build_config
from mdsrec_pyg.experiment import run_or_reuse
from mdsrec_pyg.tables import cell, mean_std, to_csv, to_markdown

VARIANTS = [("w/o DIS", "no_dis"), ("w/o CRE", "no_cre"), ("w/o MRGC", "no_mrgc"), ("w/o ICA", "no_ica"),
            ("MDSRec", "")]
METRICS = ["recall@20", "ndcg@20"]


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_experiment_arguments(parser)
    args = parser.parse_args(argv)
    out = output_folder(args, "ablation")
    base = experiment_settings(args, "mdsrec")
    configs = {(label, seed): build_config(args.dataset, {**base, "seed": seed, "ablation": ablation}, args.sets)
               for label, ablation in VARIANTS for seed in args.seeds}  # every config checked before any run
    datasets: dict = {}
    scores: dict[str, dict[str, list[float]]] = {label: {m: [] for m in METRICS} for label, _ in VARIANTS}
    for (label, seed), config in configs.items():
        results = run_or_reuse(config, out / f"{config.ablation or 'mdsrec'}-s{seed}", datasets)
        for metric in METRICS:
            scores[label][metric].append(results["test"][metric])
    full = {m: mean_std(scores["MDSRec"][m])[0] for m in METRICS}
    header = ["variant"] + [m.replace("recall", "R").replace("ndcg", "N") for m in METRICS] + \
             [f"drop {m.replace('recall', 'R').replace('ndcg', 'N')}" for m in METRICS]
    rows, csv_rows = [], []
    for label, _ in VARIANTS:
        means = [mean_std(scores[label][m])[0] for m in METRICS]
        drops = [100 * (full[m] - mean) / full[m] if full[m] else 0.0 for m, mean in zip(METRICS, means)]
        rows.append([label] + [cell(scores[label][m]) for m in METRICS] +
                    (["-", "-"] if label == "MDSRec" else [f"{d:.2f}%" for d in drops]))
        csv_rows.append([label] + means + [mean_std(scores[label][m])[1] for m in METRICS] + drops)
    table = (f"Ablations of MDSRec on {args.dataset}, test split, seeds {args.seeds} (Table 3 layout; drop: how much "
             f"lower than MDSRec)\n\n" + to_markdown(header, rows))
    io.write_text(out / "ablation.md", table)
    io.write_text(out / "ablation.csv", to_csv(["variant", *METRICS, *(f"{m}_std" for m in METRICS),
                                                 *(f"{m}_drop_percent" for m in METRICS)], csv_rows))
    print(table)
    return table


if __name__ == "__main__":
    command_line(main)
