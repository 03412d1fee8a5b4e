"""Training step time against catalog size, dense Adam against the row-wise optimiser, side by side in one process.

    python experiments/bench_catalog.py --items 100000 1000000 --sequences 50000 --batches 8

For each catalog size a generated catalog (``benchmarks.generated_catalog``: the same number of users with the
same sequence lengths at every size, so every size trains on batches of the same shapes, with the same number
of sampled negatives) and, for each model and optimiser, a fresh model at the synthetic settings with the
sampled softmax: one warm-up step (Adam's state is made there), then ``--batches`` steps timed one by one
(forward, backward, optimiser step); the figure is the median step. A model and optimiser run at the two
sizes one right after the other, so the two figures of a ratio see the same machine. ``lazy_adam`` is
``training.optimizer`` (see ``mdsrec_pyg/optim.py``); a model that refuses it is timed with Adam only. The
floor: the sampled softmax, the encoder and the rows a step reads are the same at every size, so a step need
not grow with the catalog; dense Adam reads and writes every parameter with a row per item (and its two
moments) each step, a count the table prints beside each figure. A ``--set`` in a model's own section
(``mdsrec.centre_sample=16``) applies to that model only. Writes ``--out`` (a registry ``catalog_steps`` file)
and prints its table.
"""

from __future__ import annotations

import argparse
import platform
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mdsrec_pyg.allocator import keep_freed_memory
from mdsrec_pyg.benchmarks import generated_catalog
from mdsrec_pyg.cli import add_set_argument, command_line
from mdsrec_pyg.config import build_config
from mdsrec_pyg.data import LeaveOneOutSplit, SequentialDataset
from mdsrec_pyg.errors import InputError
from mdsrec_pyg.models import MODELS, model_and_graphs
from mdsrec_pyg.optim import make_optimizer
from mdsrec_pyg.provenance import source_commit
from mdsrec_pyg.registry.measurements import CatalogStepsSummary
from mdsrec_pyg.registry.store import write_summary
from mdsrec_pyg.threads import set_threads
from mdsrec_pyg.train import Trainer, bucketed_batches

OPTIMIZERS = ("adam", "lazy_adam")


def step_seconds(
    catalog: tuple[SequentialDataset, LeaveOneOutSplit],
    model_name: str,
    optimizer_name: str,
    batches: int,
    sets: list[str],
    graphs: Path,
) -> dict:
    """The median of ``batches`` timed training steps of a fresh ``model_name`` on ``dataset`` (after one
    warm-up step; a model made from relation graphs builds them in ``graphs`` first, untimed), with the
    number of its parameters that have a row per item."""
    settings = {"model": model_name, "softmax": "sampled", "optimizer": optimizer_name, "graph_dir": str(graphs)}
    dataset, split = catalog
    config, model = model_and_graphs(build_config("synthetic", settings, sets), dataset, split)
    trainer = Trainer(model, split, config, dataset.num_items)
    optimizer = make_optimizer(model, config.training)
    order = bucketed_batches(trainer.window_lengths, config.training.batch_size, np.random.default_rng(0))
    if len(order) <= batches:
        raise InputError(
            "--batches",
            f"{batches} timed steps and a warm-up need {batches + 1} batches; the catalog's users make "
            f"{len(order)} of {config.training.batch_size} rows: give more --sequences or fewer --batches",
        )
    model.train()
    seconds = []
    for rows in order[: batches + 1]:
        tick = time.perf_counter()
        trainer.step(optimizer, trainer.windows[rows])
        seconds.append(time.perf_counter() - tick)
    by_item = sum(p.numel() for p in model.parameters() if p.dim() and p.size(0) == dataset.num_items)
    return {
        "step_seconds": statistics.median(seconds[1:]),  # the first step makes Adam's state
        "steps": len(seconds) - 1,
        "catalog_parameters": by_item,  # the parameters with a row per item, which dense Adam updates each step
        "other_parameters": sum(p.numel() for p in model.parameters()) - by_item,
        "batch_shapes": [[len(r), int(trainer.window_lengths[r].max())] for r in order[1 : batches + 1]],
    }


def supports(model_name: str, optimizer_name: str, sets: list[str]) -> bool:
    """Whether ``model_name`` with ``sets`` takes ``optimizer_name`` (the configuration's own check)."""
    try:
        build_config("synthetic", {"model": model_name, "softmax": "sampled", "optimizer": optimizer_name}, sets)
    except InputError:
        return False
    return True


def sets_of(model_name: str, sets: list[str]) -> list[str]:
    """The ``--set`` settings that apply to ``model_name``: all but those in another model's section."""
    others = {f"{name}." for name in MODELS if name != model_name}
    return [s for s in sets if not any(s.startswith(section) for section in others)]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, nargs=2, default=[100_000, 1_000_000], metavar=("SMALL", "LARGE"))
    parser.add_argument("--sequences", type=int, default=50_000, help="users of each generated catalog")
    parser.add_argument("--batches", type=int, default=8, help="timed steps per model, optimiser and size")
    parser.add_argument("--models", nargs="+", default=["sasrec", "gru4rec", "sasrecf"])
    parser.add_argument("--out", default="catalog_steps.json")
    add_set_argument(parser, "a setting of the runs (see run.py --help)")
    args = parser.parse_args(argv)
    small, large = args.items
    if not 2 <= small < large or args.sequences < 1 or args.batches < 1:
        raise InputError("bench_catalog.py", "expected 2 <= SMALL < LARGE items, --sequences >= 1, --batches >= 1")
    for model_name in args.models:  # every setting checked before any catalog is made
        config = build_config("synthetic", {"model": model_name, "softmax": "sampled"}, sets_of(model_name, args.sets))
    set_threads(config.training.threads)
    kept = config.training.keep_freed_memory and keep_freed_memory()
    catalogs = {n: generated_catalog(n, args.sequences) for n in (small, large)}
    catalogs = {n: (dataset, dataset.split()) for n, dataset in catalogs.items()}  # one split per size
    rows = []
    graphs = Path(tempfile.mkdtemp(prefix="bench-catalog-graphs-"))
    for model_name in args.models:
        sets = sets_of(model_name, args.sets)
        for optimizer_name in (o for o in OPTIMIZERS if supports(model_name, o, sets)):
            figures = {
                n: step_seconds(catalogs[n], model_name, optimizer_name, args.batches, sets, graphs / str(n))
                for n in catalogs
            }
            rows.append(
                {
                    "model": model_name,
                    "optimizer": optimizer_name,
                    **{f"{key}_{n}": value for n, f in figures.items() for key, value in f.items()},
                    "ratio": figures[large]["step_seconds"] / figures[small]["step_seconds"],
                }
            )
            print(
                f"{model_name}, {optimizer_name}: {figures[small]['step_seconds']:.3f} s a step at {small:,} items, "
                f"{figures[large]['step_seconds']:.3f} s at {large:,}: {rows[-1]['ratio']:.2f}x",
                flush=True,
            )
    summary = CatalogStepsSummary(
        command="python experiments/bench_catalog.py " + shlex.join(sys.argv[1:] if argv is None else argv),
        commit=source_commit(),
        machine=f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        + ("freed memory kept (keep_freed_memory=true), " if kept else "")
        + f"torch {torch.__version__}",
        items=[small, large],
        sequences=args.sequences,
        rows=rows,
    )
    shutil.rmtree(graphs, ignore_errors=True)
    write_summary(args.out, summary)
    print(summary.render())
    print(f"written {args.out}")
    return summary.to_dict()


if __name__ == "__main__":
    command_line(main)
