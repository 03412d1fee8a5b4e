"""Time loading a trained run, side by side in one process: the model built through the relation-graph stage
(k-means on the features, graphs from the store: what loading did before the graphs were read from the
weights) against the model built from what ``best.pt`` holds (``Recommender.load`` now).

    python experiments/bench_load.py --runs runs/scientific_mm/mdsrec-42 --repeats 3 --out results/bench/load.json

Each repeat times both, alternately, on the same loaded dataset; the dataset's own load time is printed apart.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from mdsrec_pyg.cli import command_line
from mdsrec_pyg.data import load_dataset
from mdsrec_pyg.errors import InputError
from mdsrec_pyg.models import model_and_graphs
from mdsrec_pyg.recommend import trained_model
from mdsrec_pyg.registry.measurements import LoadSummary
from mdsrec_pyg.registry.store import write_summary
from mdsrec_pyg.runs import RunFolder


def through_the_stage(config, dataset, weights: Path) -> None:
    _, model = model_and_graphs(config, dataset, dataset.split())
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))


def one_run(run: str, repeats: int) -> dict:
    folder = RunFolder(run)
    if not folder.finished:
        raise InputError(run, "not a finished run (no results.json)")
    config = folder.located_config()
    tick = time.perf_counter()
    dataset = load_dataset(config.dataset, config.data.data_dir, config.data.feature_dir)
    dataset_seconds = time.perf_counter() - tick
    weights = folder.file(folder.BEST)
    before, after = [], []
    for _ in range(repeats):
        for out, build in ((before, through_the_stage), (after, trained_model)):
            tick = time.perf_counter()
            build(config, dataset, weights)
            out.append(time.perf_counter() - tick)
    print(f"{run}: stage {min(before):.2f} s, from best.pt {min(after):.2f} s (dataset {dataset_seconds:.2f} s)")
    features = {m: list(f.shape) for m, f in dataset.features.items()}
    return {
        "run": run,
        "model": config.model,
        "dataset": dataset.name,
        "items": dataset.num_items - 1,
        "features": features,
        "dataset_seconds": dataset_seconds,
        "stage_seconds": before,
        "stored_seconds": after,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", required=True, help="finished run folders")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="bench_load.json")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        raise InputError("--repeats", f"got {args.repeats}; expected an integer >= 1")
    rows = [one_run(run, args.repeats) for run in args.runs]
    machine = f"{platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}"
    summary = LoadSummary(machine=machine, repeats=args.repeats, rows=rows)
    write_summary(args.out, summary)
    print(summary.render())
    return summary.to_dict()


if __name__ == "__main__":
    command_line(main)
