"""One experiment, end to end: dataset -> split -> model -> trainer -> results.json. Shared by the commands
under ``experiments/`` so that every table is made of runs done the same way."""
from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from . import distributed, io
from .config import RUNTIME_KEYS, Config, build_config
from .data import SequentialDataset, load_dataset
from .errors import InputError
from .models import build_model
from .progress import phase
from .threads import set_threads
from .train import Trainer

log = logging.getLogger(__name__)


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
    """Whether a saved config dictionary is ``config``, a key it lacks counting as that key's default and the
    runtime keys (threads) not counted."""
    def identity(values: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in values.items() if k not in RUNTIME_KEYS}

    return identity({**Config().to_dict(), **saved}) == identity(config.to_dict())


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
    """A table with a row per metric and a column per split and K."""
    names = list(dict.fromkeys(key.split("@")[0] for key in results["test"]))
    cutoffs = list(dict.fromkeys(key.split("@")[1] for key in results["test"]))
    columns = [(split, k) for split in ("valid", "test") for k in cutoffs]
    lines = ["| metric | " + " | ".join(f"{split} @{k}" for split, k in columns) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(f"{results[split][f'{name}@{k}']:.4f}" for split, k in columns)
                     + " |")
    return "\n".join(lines)


@contextmanager
def run_log(path: Path, enabled: bool = True) -> Iterator[Callable[[str], None]]:
    """Append everything logged during the block to ``path`` with timestamps, and give a ``say(text)`` that
    prints ``text`` and appends it there too (so that ``run.log`` holds what the run printed)."""
    if not enabled:
        yield print
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    handler.setLevel(logging.INFO)
    root, printed = logging.getLogger(), logging.getLogger("mdsrec_pyg.printed")
    printed.propagate = False
    level = root.level
    root.setLevel(min(level, logging.INFO) if level else logging.INFO)
    root.addHandler(handler)
    printed.addHandler(handler)
    printed.setLevel(logging.INFO)

    def say(text: str) -> None:
        print(text)
        printed.info(text)

    try:
        yield say
    finally:
        root.removeHandler(handler)
        printed.removeHandler(handler)
        root.setLevel(level)
        handler.close()


def run_experiment(config: Config, out_dir: str | Path, resume: bool = False,
                   dataset: SequentialDataset | None = None, keep_checkpoint: bool = False) -> dict[str, Any]:
    """Train and evaluate ``config``; writes config.json, data.json, run.log, checkpoints, best.pt and
    results.json to ``out_dir``; ``checkpoint.pt`` is removed at the end unless ``keep_checkpoint``. Resuming a
    finished run returns its results as they are."""
    out_dir = Path(out_dir)
    main = distributed.is_main()
    if resume and (out_dir / "results.json").is_file():
        results = json.loads((out_dir / "results.json").read_text())
        print(f"{out_dir} is finished (results.json is there): nothing to resume\n{format_metrics(results)}")
        return results
    with run_log(out_dir / "run.log", enabled=main) as say:
        threads = set_threads(config.threads, distributed.world_size())
        log.info("%s on %s: %d CPU thread(s)%s", config.model, config.dataset, threads,
                 "" if config.threads else " (the free cores; --threads to choose)")
        if dataset is None:
            with phase(f"loading {config.dataset}", enabled=main):
                dataset = load_dataset(config.dataset, config.data_dir, config.feature_dir)
        if main:
            say(describe(dataset))
        split = dataset.split()
        if not main:  # rank 0 builds and stores the relation graphs first, the others then read them
            distributed.barrier()
        with phase(f"building {config.model}", enabled=main):
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
        results["threads"] = threads
        if main:
            io.write_json(out_dir / "results.json", results)
            if not keep_checkpoint:
                (out_dir / "checkpoint.pt").unlink(missing_ok=True)
            say(f"\n{config.model} on {dataset.name}: best epoch {results['best_epoch']}, "
                f"{results['seconds']:.1f}s\n{format_metrics(results)}\nwritten {out_dir / 'results.json'}")
    return results
