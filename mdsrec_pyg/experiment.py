"""One experiment, end to end: dataset -> split -> model -> trainer -> results.json. Shared by the commands
under ``experiments/`` so that every table is made of runs done the same way."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any, Callable

from . import distributed, io
from .config import Config, build_config
from .data import SequentialDataset, load_dataset
from .errors import InputError
from .models import build_model
from .train import Trainer, TrainingError


def load_run_config(run_dir: str | Path) -> Config:
    """The config a run folder was started with (its ``config.json``)."""
    saved = Path(run_dir) / "config.json"
    if not saved.is_file():
        raise InputError(saved, "not found: a run folder written by experiments/run.py is expected")
    try:
        values = json.loads(saved.read_text())
    except json.JSONDecodeError as err:
        raise InputError(saved, f"not valid JSON ({err.msg} at line {err.lineno})") from None
    return build_config(values["dataset"], values)


def finished_results(out_dir: str | Path, config: Config) -> dict[str, Any] | None:
    """The results of a finished run in ``out_dir`` with exactly ``config``, or None. A key the saved config
    lacks (an option added after the run) counts as its default, which keeps the behaviour of before."""
    path = Path(out_dir) / "results.json"
    if not path.is_file():
        return None
    try:
        results = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    return results if same_config(results.get("config", {}), config) else None


def same_config(saved: dict[str, Any], config: Config) -> bool:
    """Whether a saved config dictionary is ``config``, a key it lacks counting as that key's default."""
    return {**Config().to_dict(), **saved} == config.to_dict()


def interrupted_run(out_dir: str | Path, config: Config) -> bool:
    """Whether ``out_dir`` holds an unfinished run of exactly ``config`` with a checkpoint to resume from."""
    out_dir = Path(out_dir)
    try:
        saved = json.loads((out_dir / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return (out_dir / "checkpoint.pt").is_file() and same_config(saved, config)


def run_or_reuse(config: Config, out_dir: str | Path, datasets: dict[str, SequentialDataset]) -> dict[str, Any]:
    """The results of ``config`` in ``out_dir``: reused when that run has finished, resumed from its checkpoint
    when it was interrupted, else trained now. ``datasets`` caches loaded datasets by name across calls."""
    results = finished_results(out_dir, config)
    if results is None:
        if config.dataset not in datasets:
            datasets[config.dataset] = load_dataset(config.dataset, config.data_dir, config.feature_dir)
        results = run_experiment(config, out_dir, resume=interrupted_run(out_dir, config),
                                 dataset=datasets[config.dataset])
    return results


def describe(dataset: SequentialDataset) -> str:
    paper = dataset.statistics()["paper"]
    numbers = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v:,}" for k, v in paper.items())
    features = ", ".join(f"{m} {tuple(t.shape)}" for m, t in dataset.features.items()) or "none"
    return (f"{dataset.name}: {numbers} (Table 1 conventions: padding counted, inters = training targets)\n"
            f"features: {features}")


def format_metrics(results: dict[str, Any]) -> str:
    keys = list(results["test"])
    lines = ["| split | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for split in ("valid", "test"):
        lines.append(f"| {split} | " + " | ".join(f"{results[split][k]:.4f}" for k in keys) + " |")
    return "\n".join(lines)


def run_experiment(config: Config, out_dir: str | Path, resume: bool = False,
                   dataset: SequentialDataset | None = None) -> dict[str, Any]:
    """Train and evaluate ``config``; writes config.json, checkpoints, best.pt and results.json to ``out_dir``."""
    out_dir = Path(out_dir)
    dataset = dataset or load_dataset(config.dataset, config.data_dir, config.feature_dir)
    main = distributed.is_main()
    if main:
        print(describe(dataset))
    split = dataset.split()
    if not main:  # rank 0 builds and stores the relation graphs first, the others then read them
        distributed.barrier()
    model = build_model(config, dataset, split)
    if main:
        distributed.barrier()
    data = {"dataset": dataset.name, "fingerprint": dataset.fingerprint(), "users": dataset.num_users,
            "items": dataset.num_items - 1}
    if main and not resume:
        io.write_json(out_dir / "config.json", config.to_dict())
        io.write_json(out_dir / "data.json", data)
    results = Trainer(model, split, config, dataset.num_items, out_dir).fit(resume=resume)
    results["statistics"] = dataset.statistics()
    results["data"] = data
    results["world_size"] = distributed.world_size()
    if main:
        io.write_json(out_dir / "results.json", results)
        print(f"\n{config.model} on {dataset.name}: best epoch {results['best_epoch']}, {results['seconds']:.1f}s\n"
              f"{format_metrics(results)}\nwritten {out_dir / 'results.json'}")
    return results


def command_line(main: Callable[[], Any]) -> None:
    """Run a command's ``main`` with INFO logging; bad input or a failed training ends with one line on
    stderr and exit status 2, never a traceback."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    try:
        main()
    except (InputError, TrainingError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
