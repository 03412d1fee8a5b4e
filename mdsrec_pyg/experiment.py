"""One experiment, end to end: dataset -> split -> model -> trainer -> results.json. Shared by the commands
under ``experiments/`` so that every table is made of runs done the same way."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from . import distributed, io
from .config import RUNTIME_KEYS, Config, build_config, validate
from .data import SequentialDataset, load_dataset
from .errors import InputError, RunInterrupted, TrainingError
from .graphs.relations import build_relation_graphs
from .hashing import fingerprint
from .models import MODELS, build_model
from .names import MODEL_NAMES, dataset_name
from .progress import phase
from .threads import set_threads
from .train import Trainer, read_checkpoint

log = logging.getLogger(__name__)


def load_run_config(run_dir: str | Path) -> Config:
    """The config a run folder was started with (its ``config.json``; one written before the config had
    sections is read too)."""
    saved = Path(run_dir) / "config.json"
    if not saved.is_file():
        raise InputError(saved, "not found: a run folder written by experiments/run.py is expected")
    try:
        values = json.loads(saved.read_text())
    except json.JSONDecodeError as err:
        raise InputError(saved, f"not valid JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(values, dict) or values.get("model") not in MODEL_NAMES:
        raise InputError(saved, "not a run's config (no known model in it)")
    return validate(Config.from_dict(values, legacy=True))


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
    """Whether a saved config dictionary is ``config``: a setting it lacks counts as its default, the runtime
    keys (threads, device) do not count, and a config saved before the sections is read as it was meant."""

    def identity(values: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in values.items() if k not in RUNTIME_KEYS}

    try:
        return identity(Config.from_dict(saved, legacy=True).flat()) == identity(config.flat())
    except InputError:  # a model or a setting this version does not know: not the same run
        return False


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
    when it was interrupted, else trained now; while another process trains it (its ``run.lock``), waited
    for. ``datasets`` caches loaded datasets by name across calls."""
    wait_for_other_run(Path(out_dir))
    results = finished_results(out_dir, config)
    if results is None:
        if config.dataset not in datasets:
            datasets[config.dataset] = load_dataset(config.dataset, config.data.data_dir, config.data.feature_dir)
        results = run_experiment(
            config, out_dir, resume=interrupted_run(out_dir, config), dataset=datasets[config.dataset]
        )
    return results


def wait_for_other_run(out_dir: Path, poll_seconds: float = 10.0) -> None:
    """Return once no other live process holds ``out_dir/run.lock`` (two scripts that share a run folder)."""
    said = False
    while owner := other_live_owner(out_dir / "run.lock"):
        if not said:
            log.info("%s is being trained by process %d: waiting for it", out_dir, owner)
            said = True
        time.sleep(poll_seconds)


def run_all(
    jobs: list[tuple[Config, Path]], workers: int = 1, keep_failures: bool = False
) -> list[dict[str, Any] | TrainingError]:
    """:func:`run_or_reuse` for each ``(config, folder)``, results in the same order. With ``workers`` > 1 that
    many runs go at once, each in a process of its own (each loads its dataset); a run that fails does not stop
    the others. A failed training (:class:`TrainingError`, e.g. a diverged loss) is returned in its place with
    ``keep_failures``; any other failure is raised once every run has ended."""

    def outcome(call: Callable[[], dict[str, Any]]) -> dict[str, Any] | TrainingError:
        try:
            return call()
        except TrainingError as err:
            if not keep_failures:
                raise
            log.warning("run failed: %s", err)
            return err

    if workers <= 1 or len(jobs) <= 1:
        datasets: dict[str, SequentialDataset] = {}
        return [outcome(lambda: run_or_reuse(config, folder, datasets)) for config, folder in jobs]
    context = multiprocessing.get_context("spawn")  # no forked copies of torch's thread pools
    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=context) as pool:
        futures = [pool.submit(run_or_reuse, config, folder, {}) for config, folder in jobs]
        wait(futures)
    return [outcome(future.result) for future in futures]


def describe(dataset: SequentialDataset) -> str:
    paper = dataset.statistics()["paper"]
    numbers = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v:,}" for k, v in paper.items())
    features = ", ".join(f"{m} {tuple(t.shape)}" for m, t in dataset.features.items()) or "none"
    return (
        f"{dataset.name}: {numbers} (Table 1 conventions: padding counted, inters = training targets)\n"
        f"features: {features}"
    )


def format_metrics(results: dict[str, Any]) -> str:
    """A table with a row per metric and a column per split and K."""
    names = list(dict.fromkeys(key.split("@")[0] for key in results["test"]))
    cutoffs = list(dict.fromkeys(key.split("@")[1] for key in results["test"]))
    columns = [(split, k) for split in ("valid", "test") for k in cutoffs]
    lines = [
        "| metric | " + " | ".join(f"{split} @{k}" for split, k in columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(f"{results[split][f'{name}@{k}']:.4f}" for split, k in columns) + " |")
    return "\n".join(lines)


LOCATION_KEYS = ("dataset", "model", "seed", "data_dir", "feature_dir", "graph_dir") + RUNTIME_KEYS


def run_folder(config: Config, root: str | Path = "runs") -> Path:
    """The default folder of a run: ``runs/<dataset>/<model>-<seed>``, plus ``-<8 hex>`` (a hash of the settings
    that differ from the dataset's defaults) when any do, so that runs differing in any setting never share a
    folder. Where a run executes and where its data lie do not count."""
    defaults = build_config(config.dataset, {"model": config.model}).flat()
    changed = {k: v for k, v in config.flat().items() if k not in LOCATION_KEYS and defaults.get(k) != v}
    name = f"{config.model}-{config.training.seed}"
    if changed:
        name += "-" + fingerprint(changed)[:8]
    return Path(root) / dataset_name(config.dataset) / name


def check_out_folder(out_dir: str | Path) -> Path:
    """``out_dir`` if a run can write there: not a file, and the nearest existing folder writable."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("--out", f"{out_dir} is a file; expected a folder for the run")
    existing = next(p for p in [out_dir, *out_dir.absolute().parents] if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise InputError("--out", f"cannot write in {existing}; give a folder you can write to")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError("--out", f"cannot create {out_dir} ({err.strerror}); give a folder you can write to") from None
    return out_dir


@contextmanager
def run_lock(out_dir: Path, enabled: bool = True) -> Iterator[None]:
    """Hold ``out_dir/run.lock`` (this process's id) while a run writes there; a second run on the folder is
    refused in one line. A lock whose process has ended is taken over."""
    if not enabled:
        yield
        return
    lock = out_dir / "run.lock"  # out_dir exists: check_out_folder made it
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            owner = other_live_owner(lock)
            if owner:
                raise InputError(
                    out_dir, f"in use by another run (process {owner}, {lock.name}); wait for it or give another --out"
                ) from None
            lock.unlink(missing_ok=True)  # left by a run that has ended
    else:
        raise InputError(out_dir, f"cannot take {lock.name}")
    with os.fdopen(fd, "w") as handle:
        handle.write(str(os.getpid()))
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def other_live_owner(lock: Path) -> int | None:
    """The id of the live process, other than this one, that holds ``lock`` (a ``run.lock``), or None."""
    try:
        owner = int(lock.read_text().strip() or 0)
    except (OSError, ValueError):
        return None
    return owner if owner and owner != os.getpid() and _alive(owner) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_same_data(out_dir: Path, name: str, fingerprint_now: str, force: bool) -> None:
    """Refuse to resume ``out_dir`` on data whose fingerprint differs from the one the run started with."""
    saved = out_dir / "data.json"
    if force or not saved.is_file():
        return
    try:
        recorded = json.loads(saved.read_text()).get("fingerprint")
    except json.JSONDecodeError:
        raise InputError(saved, "not valid JSON; cannot check the run's data (--force resumes anyway)") from None
    if recorded is not None and recorded != fingerprint_now:
        raise InputError(
            out_dir,
            f"dataset {name!r} has changed since this run started (its fingerprint "
            "differs); start a new run, or --force to resume on the new data",
        )


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


def run_experiment(
    config: Config,
    out_dir: str | Path,
    resume: bool = False,
    dataset: SequentialDataset | None = None,
    keep_checkpoint: bool = False,
    force: bool = False,
) -> dict[str, Any]:
    """Train and evaluate ``config``; writes config.json, data.json, run.log, checkpoints, best.pt and
    results.json to ``out_dir`` (locked meanwhile); ``checkpoint.pt`` is removed at the end unless
    ``keep_checkpoint``. Resuming a finished run returns its results as they are; resuming on changed data is
    refused unless ``force``. Ctrl-C ends with :class:`RunInterrupted`, the last checkpoint kept."""
    out_dir = check_out_folder(out_dir)
    main = distributed.is_main()
    if resume and (out_dir / "results.json").is_file():
        results = json.loads((out_dir / "results.json").read_text())
        print(f"{out_dir} is finished (results.json is there): nothing to resume\n{format_metrics(results)}")
        return results
    checkpoint = None
    if resume:  # read (and a missing or corrupt one refused) before anything else is loaded
        path = out_dir / "checkpoint.pt"
        if not path.is_file():
            raise InputError(path, "no checkpoint to resume from")
        checkpoint = read_checkpoint(path)
    try:
        with run_lock(out_dir, enabled=main):
            return _run(config, out_dir, checkpoint, dataset, keep_checkpoint, force, main)
    except KeyboardInterrupt:
        if (out_dir / "checkpoint.pt").is_file():
            message = (
                f"{out_dir}: the last finished epoch is checkpointed; resume with "
                f"python experiments/run.py --resume {out_dir}"
            )
        else:
            message = (
                f"{out_dir}: before the first epoch finished, so there is nothing to resume; "
                "run the same command again to start over"
            )
        if main:
            with open(out_dir / "run.log", "a", encoding="utf-8") as handle:
                handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} interrupted: {message}\n")
        raise RunInterrupted(message) from None


def _run(
    config: Config,
    out_dir: Path,
    checkpoint: dict[str, Any] | None,
    dataset: SequentialDataset | None,
    keep_checkpoint: bool,
    force: bool,
    main: bool,
) -> dict[str, Any]:
    with run_log(out_dir / "run.log", enabled=main) as say:
        threads = set_threads(config.training.threads, distributed.world_size())
        log.info(
            "%s on %s: %d CPU thread(s)%s",
            config.model,
            config.dataset,
            threads,
            "" if config.training.threads else " (the free cores; --threads to choose)",
        )
        if dataset is None:
            with phase(f"loading {config.dataset}", enabled=main):
                dataset = load_dataset(config.dataset, config.data.data_dir, config.data.feature_dir)
        if main:
            say(describe(dataset))
        data = {
            "dataset": dataset.name,
            "fingerprint": dataset.fingerprint(),
            "users": dataset.num_users,
            "items": dataset.num_items - 1,
        }
        if checkpoint is not None:
            check_same_data(out_dir, dataset.name, data["fingerprint"], force)
        split = dataset.split()
        if not main:  # rank 0 builds and stores the relation graphs first, the others then read them
            distributed.barrier()
        graphs = None
        if MODELS[config.model].needs_graphs:
            with phase("relation graphs", enabled=main):
                graphs = build_relation_graphs(config, dataset, split)
        with phase(f"building {config.model}", enabled=main):
            model = build_model(config, dataset, split, graphs)
        if main:
            distributed.barrier()
        if main and checkpoint is None:
            io.write_json(out_dir / "config.json", config.to_dict())
            io.write_json(out_dir / "data.json", data)
        results = Trainer(model, split, config, dataset.num_items, out_dir).fit(resume=checkpoint)
        results["statistics"] = dataset.statistics()
        results["data"] = data
        results["world_size"] = distributed.world_size()
        results["threads"] = threads
        if main:
            io.write_json(out_dir / "results.json", results)
            if not keep_checkpoint:
                (out_dir / "checkpoint.pt").unlink(missing_ok=True)
            say(
                f"\n{config.model} on {dataset.name}: best epoch {results['best_epoch']}, "
                f"{results['seconds']:.1f}s\n{format_metrics(results)}\nwritten {out_dir / 'results.json'}"
            )
    return results
