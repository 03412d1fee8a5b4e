"""Table 3 of the paper: MDSRec and its four variants, Recall@20 and NDCG@20, the drop of each variant, and
whether that drop is more than noise.

    python experiments/ablation.py --dataset scientific_mm --data-dir ../shared/datasets --seeds 42 1 2

Each variant runs on every seed; a row is the mean ± std over the seeds. The full model is compared with each
variant paired over the test users (Wilcoxon signed-rank on per-user NDCG@20, each user's value the mean over
the seeds, and a bootstrap 95% interval of the mean difference; ``mdsrec_pyg/significance.py``). Runs go to
``--out`` (default ``runs/<dataset>/ablation``), reused when finished and resumed when interrupted; ``--jobs N``
trains N at once. The table is recorded in the results registry (``--registry``: ``<dataset>/ablation.json``,
and each run's entry and per-user ranks as it finishes), written as ``ablation.md`` beside the runs, and
printed. A run the registry holds finished with the same settings is not made again, so a table too long for
one session grows run by run across sessions.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mdsrec_pyg import io
from mdsrec_pyg.cli import add_experiment_arguments, check_registry, command_line, experiment_settings, output_folder
from mdsrec_pyg.config import TABLE3_VARIANTS, build_config
from mdsrec_pyg.experiment import run_all
from mdsrec_pyg.names import dataset_name
from mdsrec_pyg.registry.store import check_recordable, registry_hooks, run_ranks, write_table
from mdsrec_pyg.registry.tables import AblationSummary
from mdsrec_pyg.runs import variant_run_name
from mdsrec_pyg.significance import paired_comparison, paired_recall, per_user_ndcg

# Table 3's rows, the full model last: (label, run name, settings); switches combine freely in any run
# (e.g. --set dis=false --set ica=false)
VARIANTS = [(label, name, settings) for name, (label, settings) in TABLE3_VARIANTS.items()]
METRICS = ["recall@20", "ndcg@20"]
K = 20


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_experiment_arguments(parser)
    args = parser.parse_args(argv)
    check_registry(args)
    out = output_folder(args, "ablation")
    base = experiment_settings(args, "mdsrec")
    folders = {(label, seed): out / variant_run_name(name, seed) for label, name, _ in VARIANTS for seed in args.seeds}
    jobs = [
        (
            build_config(args.dataset, {**base, "seed": seed, **switches}, args.sets),
            folders[label, seed],
        )
        for label, _, switches in VARIANTS
        for seed in args.seeds
    ]  # all checked first
    dataset = dataset_name(args.dataset)
    planned = {folder.name: config for config, folder in jobs}
    check_recordable(
        args.registry,
        dataset,
        "ablation",
        out.name,
        planned,
        {"seeds": args.seeds},
        args.replace,
        "give --registry DIR to record this one elsewhere",
        rows=list(planned),
    )
    outcomes = run_all(
        jobs,
        args.jobs,
        replace=args.replace,
        **registry_hooks(args.registry, out.name),
    )
    results = dict(zip([folder for _, folder in jobs], outcomes))

    def ranks(label: str) -> list[Path]:  # the per-user ranks of a row's runs, as the registry keeps them
        return [run_ranks(args.registry, dataset, out.name, folders[label, s].name) for s in args.seeds]

    full_runs = ranks("MDSRec")
    full = per_user_ndcg(full_runs, K)
    rows = []
    for label, _, _ in VARIANTS:
        runs = [results[folders[label, s]] for s in args.seeds]
        variant = ranks(label)
        test = (
            None
            if label == "MDSRec"
            else {
                **paired_comparison(full, per_user_ndcg(variant, K)),
                "recall": paired_recall(full_runs, variant, K),
            }
        )
        rows.append(
            {
                "variant": label,
                "test": {m: [r["test"][m] for r in runs] for m in METRICS},
                "best_epochs": [r["best_epoch"] for r in runs],
                "runs": [folders[label, s].name for s in args.seeds],
                "test_against_full": test,
            }
        )
    config = jobs[-1][0]
    summary = AblationSummary(
        dataset=dataset_name(args.dataset),
        seeds=args.seeds,
        metrics=METRICS,
        run_entries=f"{dataset_name(args.dataset)}/{out.name}",  # where record_run put each run's entry
        k=K,
        users=len(full),
        rows=rows,
        note=f"lr {config.training.lr:g}, dropout {config.options.dropout:g}, "
        f"H {config.graphs.H}, k {config.graphs.k}.",
    )
    recorded = write_table(args.registry, dataset, "ablation", summary)
    table = summary.render()
    io.write_text(out / "ablation.md", table)
    print(table)
    print(f"recorded {recorded} and {len(results)} run entries in {Path(args.registry) / dataset / out.name}")
    return table


if __name__ == "__main__":
    command_line(main)
