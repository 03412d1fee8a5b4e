"""Speed and memory of every stage, measured side by side in one process; prints a table, writes bench.json.

    python experiments/bench.py --dataset clothing --data-dir ../shared/datasets
    python experiments/bench.py --items 1000000 --sequences 200000

Stages: the co-occurrence graph (Eq. 1-2) and one propagation through it in each adjacency layout installed
(torch.sparse CSR, edge_index gather/scatter, and torch-sparse's SparseTensor where installed); the modal
top-H graph of the text modality (Eq. 4-5, on the behaviour-injected features, as MDSRec builds it and kept
for MDSRec to reuse) with pynndescent (its once-per-process numba compilation timed apart) against the exact
blocked path (timed on a sample of query items, scaled to all items, flagged ``knn_exact_extrapolated``
when the sample is smaller than the catalog), with recall@H of the approximate graph on that sample; one
training epoch of SASRec and of MDSRec (``--train-rows``: timed on the first batches of a shuffled,
length-bucketed epoch, the same rows for both models, scaled to the epoch, flagged ``epoch_extrapolated``;
rows drawn at random into one batch would carry the padding of their longest row, which no real epoch
does), after a warm-up epoch of the same rows (a stage of its own), and once more with the other setting of
``training.keep_freed_memory`` (``kept_memory_speedup``); full-ranking evaluation of every test user
(``--eval-users``: the first ones). ``--dataset`` takes real interactions and attaches stand-in feature
matrices of the paper's sizes (image 4,096-d, text 384-d) for the modalities it has no features of (its own
are read from ``--feature-dir`` where given, e.g. Sports' encoded text; the file lists the stand-ins); ``--items N``
generates a catalog of N items and ``--sequences`` users (topic-following sequences, popularity skewed
within a topic) with a stand-in 384-d text matrix. Stand-in features have a low intrinsic dimension (a 64-d
latent per item, its topic's centre plus noise, mapped to the output width), as encoder outputs have; they
are random, so the accuracy figures of a bench run mean
nothing, only its times and memory do. Peak resident memory is that of the whole process so far, read after each stage.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch_geometric.typing import WITH_TORCH_SPARSE

from mdsrec_pyg import io
from mdsrec_pyg.allocator import keep_freed_memory, release_free_memory
from mdsrec_pyg.benchmarks import (
    Stages,
    generated_catalog,
    multiply_adds,
    peak_rss_mb,
    step_peak_mb,
    with_stand_in_features,
)
from mdsrec_pyg.cli import add_set_argument, command_line
from mdsrec_pyg.config import Config, build_config
from mdsrec_pyg.data import SequentialDataset, load_dataset
from mdsrec_pyg.evaluate import evaluate, ranking_batches, trim_left_padding
from mdsrec_pyg.graphs import GraphStore, cooccurrence_graph
from mdsrec_pyg.graphs.knn import approximate_topk, exact_topk, knn_recall, neighbour_lists
from mdsrec_pyg.graphs.relations import inject_behaviour, modal_graph
from mdsrec_pyg.graphs.store import Graph
from mdsrec_pyg.models import SequentialRecommender, build_model, model_and_graphs
from mdsrec_pyg.nn.propagation import RelationGraph
from mdsrec_pyg.optim import Optimizer, make_optimizer
from mdsrec_pyg.provenance import source_commit
from mdsrec_pyg.registry.measurements import BenchSummary
from mdsrec_pyg.registry.store import write_summary
from mdsrec_pyg.train import Trainer, bucketed_batches


def propagation_layouts(
    stages: "Stages", graph: tuple[torch.Tensor, torch.Tensor], n: int, width: int = 64, repeats: int = 10
) -> dict:
    """Forward and backward of Eq. 3's ``O x`` in every adjacency layout installed, its matrices built before
    the timing, and their largest difference (the SparseTensor layout needs torch-sparse)."""
    x = torch.randn(n, width, generator=torch.Generator().manual_seed(0), requires_grad=True)
    layouts = ["csr", "edge_index"] + (["sparse_tensor"] if WITH_TORCH_SPARSE else [])
    out, outputs = {"sparse_tensor_available": WITH_TORCH_SPARSE}, {}
    for layout in layouts:
        propagate = RelationGraph(*graph, n, "lightgcn", layout)
        propagate(x)  # builds the layout's matrices once (as training does), outside the timing

        def steps() -> torch.Tensor:
            for _ in range(repeats):
                y = propagate(x)
                y.sum().backward()
            return y.detach()

        outputs[layout], seconds = stages.run(f"propagation O x, {layout} x{repeats}", steps, f"{width}-d")
        out[f"propagate_seconds_{layout}"] = seconds / repeats
    out["propagate_max_difference"] = max(float((o - outputs["csr"]).abs().max()) for o in outputs.values())
    return out


def profile_training(trainer: Trainer, optimizer: Optimizer, batches: int, out: Path) -> None:
    """Profile ``batches`` training batches (forward, backward, step; the trainer keeps only their rows): the
    operators by their own time, then the model's labelled stages (``record_function`` scopes: their forward
    time only, backward ops are listed as ``autograd::engine`` rows)."""
    from torch.profiler import ProfilerActivity, profile

    rows = min(len(trainer.windows), batches * trainer.config.training.batch_size)
    trainer.keep_rows(np.arange(rows))
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        trainer.train_epoch(optimizer, np.random.default_rng(1), 1)
    events = prof.key_averages()
    stages = [e for e in events if e.key.startswith(type(trainer.model).__name__.lower() + ":")]
    total = sum(e.self_cpu_time_total for e in events)
    lines = [
        f"{rows} rows in batches of {trainer.config.training.batch_size}; {total / 1e6:.1f} s of operator time",
        events.table(sort_by="self_cpu_time_total", row_limit=15),
        "labelled stages (forward only, including their operators):",
    ]
    lines += [
        f"  {e.key:<45} {e.cpu_time_total / 1e6:8.2f} s  {100 * e.cpu_time_total / total:5.1f}%"
        for e in sorted(stages, key=lambda e: -e.cpu_time_total)
    ]
    print("\n".join(lines))
    io.write_text(out, "\n".join(lines) + "\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", help="real interactions (stand-in features are attached)")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument(
        "--feature-dir", help="read the dataset's own features from here (stand-ins for the modalities it lacks)"
    )
    parser.add_argument("--items", type=int, help="generate a catalog of this many items instead")
    parser.add_argument("--sequences", type=int, default=100_000, help="users of a generated catalog")
    parser.add_argument("--knn-sample", type=int, default=2000, help="query items for exact search and recall")
    parser.add_argument(
        "--train-rows",
        type=int,
        default=0,
        help="time the epoch on about this many rows (whole batches of a length-bucketed epoch), "
        "scaled to all rows (0: all)",
    )
    parser.add_argument("--eval-users", type=int, default=0, help="evaluate this many users (0: all)")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="BATCHES",
        help="also profile this many training batches of each model (torch.profiler): top operators "
        "and the model's labelled stages, printed and written beside --out",
    )
    parser.add_argument("--out", default="bench.json")
    add_set_argument(parser, "a setting of the runs (see run.py --help)")
    args = parser.parse_args(argv)
    if bool(args.dataset) == bool(args.items):
        parser.error("give exactly one of --dataset and --items")
    return args


def bench_knn(stages: Stages, config: Config, dataset: SequentialDataset, cooccurrence: Graph, args) -> dict:
    """The modal graph of MDSRec's text modality with the relation-graph stage's own functions (pynndescent),
    against exact search on a sample of queries: time and recall."""
    settings, n = config.graphs, dataset.num_items
    injection = RelationGraph(*cooccurrence, n, settings.cooc_norm, settings.adjacency_layout)
    injected = inject_behaviour(settings, injection, dataset.features["text"])
    warm = torch.from_numpy(np.random.default_rng(0).standard_normal((3000, injected.size(1))).astype(np.float32))
    figures = {}
    _, figures["knn_compile_seconds"] = stages.run(
        "pynndescent start-up (numba compile)", lambda: approximate_topk(warm, settings.H), "once per process"
    )
    store = GraphStore(config.data.graph_dir, dataset.name)
    graph, figures["knn_seconds"] = stages.run(
        f"knn H={settings.H} pynndescent (all items)",
        lambda: modal_graph(store, settings, "text", injected, config.training.seed),
    )
    approximate = neighbour_lists(graph[0], n, settings.H) - 1
    real = injected[1:]
    sample = torch.from_numpy(
        np.random.default_rng(0).choice(len(real), min(args.knn_sample, len(real)), replace=False)
    )
    exact, sample_seconds = stages.run(
        f"knn H={settings.H} exact ({len(sample)} queries)", lambda: exact_topk(real, settings.H, rows=sample)
    )
    figures["knn_exact_seconds"] = sample_seconds * len(real) / len(sample)
    figures["knn_exact_extrapolated"] = len(sample) < len(real)
    figures["knn_recall"] = knn_recall(approximate[sample], exact)
    figures["knn_speedup"] = figures["knn_exact_seconds"] / figures["knn_seconds"]
    scaled = " (exact extrapolated)" if figures["knn_exact_extrapolated"] else ""
    print(
        f"recall@{settings.H} of pynndescent on {len(sample)} items: {figures['knn_recall']:.4f}; "
        f"exact/approx time {figures['knn_speedup']:.1f}x{scaled}"
    )
    return figures


def model_shape(config: Config, model: SequentialRecommender, items: int) -> dict[str, int]:
    """What :func:`multiply_adds` counts a model by: its width, depth, channels, encoders and ICA."""
    options, modalities = config.options, len(getattr(model, "modalities", []))
    return {
        "d": options.hidden_size,
        "inner": options.inner_size,
        "layers": options.num_layers,
        "heads": options.num_heads,
        "items": items,
        "channels": 1 + modalities,
        "encoders": 1 + modalities,
        "ica": modalities if getattr(model, "use_ica", False) else 0,
        "k": config.graphs.k if config.graphs is not None else 0,
    }


def batch_shapes(lengths: np.ndarray, rows: list[np.ndarray]) -> list[tuple[int, int, int]]:
    """(rows, input length after trimming, non-padding input positions) of each batch of window ``rows``,
    from the windows' ``lengths`` (items in each)."""
    return [(len(r), int(lengths[r].max()) - 1, int((lengths[r] - 1).sum())) for r in rows]


def longest_rows(trainer: Trainer) -> np.ndarray:
    """The training windows of the worst batch: the batch size's longest of the whole epoch."""
    return np.argsort(trainer.window_lengths, kind="stable")[-trainer.config.training.batch_size :]


def worst_batch(stages: Stages, trainer: Trainer, optimizer: Optimizer, windows: np.ndarray) -> dict:
    """One training step (forward, backward, Adam) on the training ``windows`` of :func:`longest_rows`: its
    time and the memory that step alone adds at its peak (after an epoch, so Adam's state exists already)."""
    config, name = trainer.config, trainer.config.model
    window = torch.as_tensor(trim_left_padding(windows), device=config.training.device)
    positions = int((window[:, :-1] != 0).sum())
    trainer.model.train()

    added_mb, seconds = stages.run(
        f"{name}: worst batch, one step",
        lambda: step_peak_mb(lambda: trainer.step(optimizer, windows), config.training.device),
        f"{len(windows)} rows of length {window.size(1) - 1}, softmax "
        + trainer.model.softmax.way(positions, trainer.num_items, 4),  # float32 logits
    )
    print(f"{name}: the worst batch's step adds {added_mb:,.0f} MB at its peak", flush=True)
    return {
        f"worst_step_seconds_{name}": seconds,
        f"worst_step_mb_{name}": added_mb,
        f"worst_step_multiply_adds_{name}": multiply_adds(
            model_shape(config, trainer.model, trainer.num_items - 1),
            batch_shapes((windows != 0).sum(1), [np.arange(len(windows))]),
        ),
        "worst_step_shape": [len(windows), int(window.size(1) - 1)],
    }


def keep_timed_share(trainer: Trainer, train_rows: int) -> None:
    """Keep the timed share of the epoch (``--train-rows``: whole batches of a shuffled, length-bucketed
    epoch, the same rows for every model)."""
    if train_rows and train_rows < len(trainer.windows):
        size = trainer.config.training.batch_size
        batches = bucketed_batches(trainer.window_lengths, size, np.random.default_rng(0))
        trainer.keep_rows(np.concatenate(batches[: -(-train_rows // size)]))


def bench_epoch(
    stages: Stages, label: str, trainer: Trainer, all_rows: int, warm_up: bool = True
) -> tuple[dict, Optimizer]:
    """The timed epoch of ``trainer`` scaled to ``all_rows``, with the multiply-adds its batches need; with
    ``warm_up``, after one epoch of the same rows first (a stage of its own: a process's and a model's first
    steps pay for memory, threads and the optimiser's state once, which is not the epoch's cost)."""
    config, model = trainer.config, trainer.model
    optimizer = make_optimizer(model, config.training)
    if warm_up:
        stages.run(f"{label}: warm-up epoch", lambda: trainer.train_epoch(optimizer, np.random.default_rng(0), 1))
    rng = np.random.default_rng(0)
    _, seconds = stages.run(
        f"{label}: one epoch",
        lambda: trainer.train_epoch(optimizer, rng, 1),
        f"{len(trainer.windows):,} rows, softmax {config.training.softmax}",
    )
    figures = {f"sequences_per_second_{label}": len(trainer.windows) / seconds}
    figures[f"epoch_seconds_{label}"] = all_rows / figures[f"sequences_per_second_{label}"]
    figures["epoch_extrapolated"] = len(trainer.windows) < all_rows
    timed = bucketed_batches(trainer.window_lengths, config.training.batch_size, np.random.default_rng(0))
    figures[f"multiply_adds_{label}"] = multiply_adds(
        model_shape(config, model, trainer.num_items - 1), batch_shapes(trainer.window_lengths, timed)
    )
    figures[f"softmax_calls_{label}"] = dict(model.softmax.calls)  # the timed epoch's losses, full or streamed
    return figures, optimizer


def other_allocator_epoch(stages: Stages, label: str, trainer: Trainer, all_rows: int) -> dict:
    """After the timed (warm) epoch, the same epoch with the other setting of ``training.keep_freed_memory``
    (``allocator.py``), side by side; then the run's own setting back. Nothing where the allocator is not
    glibc's."""
    kept = trainer.config.training.keep_freed_memory
    if not keep_freed_memory(not kept):
        return {}
    release_free_memory()
    other = f"{label}_{'returned' if kept else 'kept'}"
    figures, _ = bench_epoch(stages, other, trainer, all_rows, warm_up=False)
    keep_freed_memory(kept)
    release_free_memory()
    return {f"epoch_seconds_{other}": figures[f"epoch_seconds_{other}"]}


def bench_ranking(stages: Stages, config: Config, model: SequentialRecommender, n: int, evaluation) -> dict:
    """Full-ranking evaluation of ``evaluation`` (inputs, targets): users per second and the counted work."""
    inputs, targets = evaluation
    settings, name = config.evaluation, config.model
    _, seconds = stages.run(
        f"{name}: evaluate {len(targets):,} users",
        lambda: evaluate(
            model,
            inputs,
            targets,
            settings.topk,
            n,
            batch_size=settings.eval_batch_size,
            item_chunk=settings.item_chunk,
            device=config.training.device,
        ),
    )
    batches = ranking_batches((inputs != 0).sum(1), settings.eval_batch_size)  # as evaluate forms them
    shapes = [(len(users), trim_left_padding(inputs[users]).shape[1], len(users)) for users in batches]
    return {
        f"eval_users_per_second_{name}": len(targets) / seconds,
        f"eval_multiply_adds_{name}": multiply_adds(model_shape(config, model, n - 1), shapes, backward=False),
    }


def bench_model(stages: Stages, config: Config, dataset: SequentialDataset, args, evaluation) -> dict:
    """One model: build (with its relation graphs), one training epoch (or a share of it, scaled), the worst
    batch's step, the profile where asked, and full-ranking evaluation of ``evaluation`` (inputs, targets).
    For MDSRec, also the same epoch without ICA (``ica=false``), which says what the centralized attention
    costs."""
    name, split = config.model, dataset.split()
    (config, model), _ = stages.run(f"{name}: build", lambda: model_and_graphs(config, dataset, split))
    trainer = Trainer(model, split, config, dataset.num_items)
    all_rows, worst_rows = len(trainer.windows), trainer.windows[longest_rows(trainer)]
    keep_timed_share(trainer, args.train_rows)
    figures, optimizer = bench_epoch(stages, name, trainer, all_rows)
    figures.update(other_allocator_epoch(stages, name, trainer, all_rows))
    figures.update(worst_batch(stages, trainer, optimizer, worst_rows))
    if args.profile:
        profile_out = Path(args.out).with_name(f"{Path(args.out).stem}-profile-{name}.txt")
        profile_training(trainer, optimizer, args.profile, profile_out)
    figures.update(bench_ranking(stages, config, model, dataset.num_items, evaluation))
    if name == "mdsrec" and config.options.ica:
        without = dataclasses.replace(config, options=dataclasses.replace(config.options, ica=False))
        graphs = type(model).graphs_in(config, dataset, model.state_dict())  # the graphs just built, not again
        plain, _ = stages.run("mdsrec w/o ICA: build", lambda: build_model(without, dataset, split, graphs))
        plain_trainer = Trainer(plain, split, without, dataset.num_items)
        keep_timed_share(plain_trainer, args.train_rows)
        epoch, _ = bench_epoch(stages, "mdsrec_no_ica", plain_trainer, all_rows)
        figures.update({k: v for k, v in epoch.items() if k != "epoch_extrapolated"})
    return figures


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    kept = build_config(args.dataset or "synthetic", {}, args.sets, where_held=True).training.keep_freed_memory
    kept = kept and keep_freed_memory()
    stages = Stages()
    own: set[str] = set()  # the modalities whose features are the dataset's own
    if args.items:
        dataset, _ = stages.run("generate catalog", lambda: generated_catalog(args.items, args.sequences))
    else:
        dataset, _ = stages.run(
            "load dataset", lambda: load_dataset(args.dataset, args.data_dir, feature_dir=args.feature_dir)
        )
        own = set(dataset.features)
        dataset = with_stand_in_features(dataset)
    name, n, split = args.dataset or "synthetic", dataset.num_items, dataset.split()
    figures: dict = {
        "kind": "bench",
        "command": "python experiments/bench.py " + shlex.join(sys.argv[1:] if argv is None else argv),
        "commit": source_commit(),
        "dataset": dataset.name,
        "items": n - 1,
        "users": dataset.num_users,
        "features": {m: list(f.shape) for m, f in dataset.features.items()},
        "stand_in_features": sorted(set(dataset.features) - own),
        "device": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
        + (", freed memory kept (keep_freed_memory=true)" if kept else ""),
        "torch": torch.__version__,
    }
    cooccurrence, figures["cooc_seconds"] = stages.run(
        "co-occurrence graph", lambda: cooccurrence_graph(split.train, n)
    )
    figures["cooc_edges"] = int(cooccurrence[0].size(1))
    figures.update(propagation_layouts(stages, cooccurrence, n))
    out_dir = Path(args.out).resolve().parent
    out_dir.mkdir(parents=True, exist_ok=True)
    graph_dir = Path(tempfile.mkdtemp(prefix="bench-graphs-", dir=out_dir))
    base = {"data_dir": args.data_dir, "graph_dir": str(graph_dir), "knn_method": "nndescent"}
    config = build_config(name, {**base, "model": "mdsrec"}, args.sets)
    figures.update(bench_knn(stages, config, dataset, cooccurrence, args))  # stored for MDSRec's build to read
    inputs, targets = split.eval_inputs("test", config.data.max_len)
    if args.eval_users:
        inputs, targets = inputs[: args.eval_users], targets[: args.eval_users]
    for model_name in ("sasrec", "mdsrec"):  # MDSRec's graph settings pass over SASRec
        model_config = build_config(name, {**base, "model": model_name}, args.sets, where_held=True)
        figures.update(bench_model(stages, model_config, dataset, args, (inputs, targets)))
    figures["eval_users_per_second"] = figures["eval_users_per_second_mdsrec"]
    speedup = {}  # the warm epoch with freed memory returned over the same epoch with it kept
    for m in ("sasrec", "mdsrec"):
        own, twin = figures[f"epoch_seconds_{m}"], figures.get(f"epoch_seconds_{m}_{'returned' if kept else 'kept'}")
        if twin is not None:
            speedup[m] = twin / own if kept else own / twin
    figures["kept_memory_speedup"] = speedup or None
    figures["epoch_ratio_mdsrec_sasrec"] = figures["epoch_seconds_mdsrec"] / figures["epoch_seconds_sasrec"]
    if "epoch_seconds_mdsrec_no_ica" in figures:
        figures["epoch_ratio_mdsrec_no_ica_sasrec"] = (
            figures["epoch_seconds_mdsrec_no_ica"] / figures["epoch_seconds_sasrec"]
        )
    counted = {m: sum(figures[f"multiply_adds_{m}"].values()) for m in ("sasrec", "mdsrec")}
    figures["floor_ratio_mdsrec_sasrec"] = counted["mdsrec"] / counted["sasrec"]
    figures["eval_ratio_sasrec_mdsrec"] = (
        figures["eval_users_per_second_sasrec"] / figures["eval_users_per_second_mdsrec"]
    )
    evaluated = {m: sum(figures[f"eval_multiply_adds_{m}"].values()) for m in ("sasrec", "mdsrec")}
    figures["eval_floor_ratio_sasrec_mdsrec"] = evaluated["mdsrec"] / evaluated["sasrec"]
    figures["peak_rss_mb"] = peak_rss_mb()
    shutil.rmtree(graph_dir, ignore_errors=True)
    figures["stages"] = [{"stage": s, "seconds": t, "peak_rss_mb": m, "note": note} for s, t, m, note in stages.rows]
    write_summary(args.out, BenchSummary.from_dict(figures, args.out))
    terms = ", ".join(f"{t} {v / 1e12:.2f} T" for t, v in figures["multiply_adds_mdsrec"].items())
    print(
        f"MDSRec/SASRec epoch time: {figures['epoch_ratio_mdsrec_sasrec']:.2f}x measured, "
        f"{figures['floor_ratio_mdsrec_sasrec']:.2f}x the counted floor (MDSRec's multiply-adds: {terms}; "
        f"SASRec's {counted['sasrec'] / 1e12:.2f} T); worst-batch step memory: SASRec "
        f"+{figures['worst_step_mb_sasrec']:,.0f} MB, MDSRec +{figures['worst_step_mb_mdsrec']:,.0f} MB; "
        f"evaluation: SASRec {figures['eval_ratio_sasrec_mdsrec']:.2f}x MDSRec's users/s measured, "
        f"{figures['eval_floor_ratio_sasrec_mdsrec']:.2f}x counted; peak RSS "
        f"{figures['peak_rss_mb']:.0f} MB; written {args.out}"
    )
    return figures


if __name__ == "__main__":
    command_line(main)
