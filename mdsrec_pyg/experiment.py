"""One experiment, end to end: dataset -> split -> model -> trainer -> results.json. Shared by the commands
under ``experiments/`` so that every table is made of runs done the same way."""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

from . import distributed, io
from .allocator import keep_freed_memory
from .config import LOCATION_KEYS, Config
from .data import SequentialDataset, load_dataset
from .data.cold import hold_out_items
from .errors import InputError, RunInterrupted, Terminated, TrainingError
from .models import model_and_graphs
from .names import dataset_name
from .progress import phase
from .runs import RunFolder, listed, read_checkpoint
from .threads import set_threads
from .train import Trainer

log = logging.getLogger(__name__)


def run_or_reuse(
    config: Config, out_dir: str | Path, datasets: dict[str, SequentialDataset], replace: bool = False
) -> dict[str, Any]:
    """The results of ``config`` in ``out_dir``: reused when that run has finished, resumed from its checkpoint
    when it was interrupted, else trained now; while another process trains it (its ``run.lock``), waited
    for. ``datasets`` caches loaded datasets by name across calls. A folder holding a run of other settings
    is refused unless ``replace``."""
    folder = RunFolder(out_dir)
    folder.wait_for_other()
    results = folder.finished_results(config)
    if results is None:
        if config.dataset not in datasets:
            datasets[config.dataset] = load_dataset(config.dataset, config.data.data_dir, config.data.feature_dir)
        results = run_experiment(
            config, out_dir, resume=folder.interrupted(config), dataset=datasets[config.dataset], replace=replace
        )
    return results


def run_all(
    jobs: list[tuple[Config, Path]],
    workers: int = 1,
    keep_failures: bool = False,
    replace: bool = False,
    recorded: Callable[[Config, Path], dict[str, Any] | None] | None = None,
    record: Callable[[Path, dict[str, Any]], Any] | None = None,
) -> list[dict[str, Any] | TrainingError]:
    """:func:`run_or_reuse` for each ``(config, folder)``, results in the same order. With ``workers`` > 1 that
    many runs go at once, each in a process of its own (each loads its dataset); a run that fails does not stop
    the others. A failed training (:class:`TrainingError`, e.g. a diverged loss) is returned in its place with
    ``keep_failures``; any other failure is raised once every run has ended.

    The results registry, where given: ``recorded(config, folder)`` is the results of a finished run that it
    holds, or None; such a run is not made again, except with ``replace`` (see :func:`run_or_reuse`), which
    makes every run. ``record(folder, results)`` is called for each run made as soon as it finishes, so that an
    interrupted command keeps what it finished."""
    held = (
        {} if recorded is None or replace else {i: recorded(config, folder) for i, (config, folder) in enumerate(jobs)}
    )
    held = {i: results for i, results in held.items() if results is not None}
    if held:
        log.info("%d of %d runs are finished in the results registry; not made again", len(held), len(jobs))
    todo = [job for i, job in enumerate(jobs) if i not in held]
    made = iter(_run_each(todo, workers, keep_failures, replace, record or (lambda folder, results: None)))
    return [held[i] if i in held else next(made) for i in range(len(jobs))]


def _run_each(
    jobs: list[tuple[Config, Path]],
    workers: int,
    keep_failures: bool,
    replace: bool,
    record: Callable[[Path, dict[str, Any]], Any],
) -> list[dict[str, Any] | TrainingError]:
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
        outcomes = []
        for config, folder in jobs:
            outcomes.append(outcome(partial(run_or_reuse, config, folder, datasets, replace)))
            if isinstance(outcomes[-1], dict):
                record(folder, outcomes[-1])
        return outcomes
    context = multiprocessing.get_context("spawn")  # no forked copies of torch's thread pools
    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=context) as pool:
        futures = {pool.submit(run_or_reuse, config, folder, {}, replace): folder for config, folder in jobs}
        for future in as_completed(futures):
            if future.exception() is None:
                record(futures[future], future.result())
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
    splits = [split for split in ("valid", "test", "test_cold", "test_warm") if split in results]
    columns = [(split, k) for split in splits for k in cutoffs]
    lines = [
        "| metric | " + " | ".join(f"{split} @{k}" for split, k in columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(f"{results[split][f'{name}@{k}']:.4f}" for split, k in columns) + " |")
    return "\n".join(lines)


def check_out_folder(out_dir: str | Path) -> Path:
    """``out_dir`` if a run can write there (nothing is made yet): not a file, and the nearest existing
    folder writable."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("--out", f"{out_dir} is a file; expected a folder for the run")
    return io.check_folder(out_dir, "--out")


def make_out_folder(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError("--out", f"cannot create {out_dir} ({err.strerror}); give a folder you can write to") from None


def check_can_start(folder: RunFolder, config: Config, replace: bool) -> dict[str, Any] | None:
    """Whether a new run of ``config`` may train in ``folder``: the results when the same run has finished
    there already; None when it may start (an empty folder, one whose run never finished an epoch, or
    ``replace``); one line when the folder holds a finished or resumable run of other settings, or a resumable
    run of these (which ``--resume`` continues)."""
    if replace or not folder.is_run:
        return None
    if not folder.finished and not folder.has_checkpoint:
        return None  # it never finished an epoch: nothing to lose
    differences = folder.differences(config)
    state = "a finished" if folder.finished else "an unfinished"
    if differences:
        raise InputError(
            folder.path,
            f"holds {state} run of other settings ({listed(differences)}); give another --out, or "
            "--replace to discard that run",
        )
    if folder.finished:
        return folder.read_json(folder.RESULTS)
    raise InputError(
        folder.path,
        f"holds an unfinished run of these settings: python experiments/run.py --resume {folder.path} "
        "continues it; --replace starts it over",
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
    replace: bool = False,
) -> dict[str, Any]:
    """Train and evaluate ``config``; writes config.json, data.json, run.log, checkpoints, best.pt and
    results.json to ``out_dir`` (locked meanwhile); ``checkpoint.pt`` is removed at the end unless
    ``keep_checkpoint``. Resuming a finished run returns its results as they are; resuming with a config.json
    that is not the checkpoint's, or on changed data (unless ``force``), is refused. A new run into a folder of
    another run is refused unless ``replace`` (:func:`check_can_start`). Bad data is refused before the
    folder is made. Ctrl-C or SIGTERM ends with :class:`RunInterrupted`, the last checkpoint kept."""
    folder = RunFolder(out_dir)
    main = distributed.is_main()
    checkpoint = None
    if resume:
        if folder.finished:
            results = folder.read_json(folder.RESULTS)
            folder.check_consistent(results)
            print(f"{folder} is finished (results.json is there): nothing to resume\n{format_metrics(results)}")
            return results
        path = folder.file(folder.CHECKPOINT)  # read (a missing or corrupt one refused) before anything else
        if not path.is_file():
            raise InputError(path, f"no checkpoint to resume from: {folder.advice_to_finish()}")
        checkpoint = read_checkpoint(path)
        folder.check_resumable(checkpoint.get("config"), config)
    elif (results := check_can_start(folder, config, replace)) is not None:
        print(f"{folder} holds this run, finished: nothing to train (--replace trains it again)")
        print(format_metrics(results))
        return results
    check_out_folder(folder.path)
    if dataset is None:  # bad data is refused before the run folder is made
        with phase(f"loading {config.dataset}", enabled=main):
            dataset = load_dataset(config.dataset, config.data.data_dir, config.data.feature_dir)
    make_out_folder(folder.path)
    try:
        with folder.lock(enabled=main):
            if not resume and main:
                if check_can_start(folder, config, replace) is not None:  # finished meanwhile by another process
                    return folder.read_json(folder.RESULTS)
                if replace:
                    folder.clear_outcome()
            return _run(config, folder, checkpoint, dataset, keep_checkpoint, force, main)
    except KeyboardInterrupt as err:
        if folder.has_checkpoint:
            message = (
                f"{folder}: the last finished epoch is checkpointed; resume with "
                f"python experiments/run.py --resume {folder}"
            )
        else:
            message = (
                f"{folder}: before the first epoch finished, so there is nothing to resume; "
                "run the same command again to start over"
            )
        if main:
            folder.append_log(f"interrupted: {message}")
        raise RunInterrupted(message, 143 if isinstance(err, Terminated) else 130) from None


def _run(
    config: Config,
    folder: RunFolder,
    checkpoint: dict[str, Any] | None,
    dataset: SequentialDataset,
    keep_checkpoint: bool,
    force: bool,
    main: bool,
) -> dict[str, Any]:
    with run_log(folder.file(folder.LOG), enabled=main) as say:
        threads = set_threads(config.training.threads, distributed.world_size())
        kept = config.training.keep_freed_memory and keep_freed_memory()
        log.info(
            "%s on %s: %d CPU thread(s)%s; freed memory %s",
            config.model,
            config.dataset,
            threads,
            "" if config.training.threads else " (the free cores; --threads to choose)",
            "kept for reuse" if kept else "returned as malloc does",
        )
        if main:
            say(describe(dataset))
        data = {
            "dataset": dataset.name,
            "fingerprint": dataset.fingerprint(),
            "users": dataset.num_users,
            "items": dataset.num_items - 1,
            "folders": resolved_folders(config),  # where the data and graphs are, from any working directory
        }
        if checkpoint is not None:
            folder.check_same_data(dataset.name, data["fingerprint"], force)
        cold = (
            hold_out_items(dataset, config.data.cold_items, config.data.cold_seed) if config.data.cold_items else None
        )
        split = (cold.dataset if cold else dataset).split()
        catalog = cold.catalog if cold else dataset  # what the model trains on
        if not main:  # rank 0 builds and stores the relation graphs first, the others then read them
            distributed.barrier()
        with phase(f"relation graphs and {config.model}", enabled=main):
            config, model = model_and_graphs(config, catalog, split)  # the graph settings as the stage used them
        if main:
            distributed.barrier()
        if main and checkpoint is None:
            folder.write_json(folder.CONFIG, config.to_dict())
            folder.write_json(folder.DATA, data)
        trainer = Trainer(model, split, config, catalog.num_items, folder.path, cold)
        results = trainer.fit(resume=checkpoint)
        results["statistics"] = dataset.statistics()
        results["data"] = data
        results["world_size"] = distributed.world_size()
        results["threads"] = threads
        if main:
            folder.write_json(folder.RESULTS, results)
            if not keep_checkpoint:
                folder.file(folder.CHECKPOINT).unlink(missing_ok=True)
            say(
                f"\n{config.model} on {dataset.name}: best epoch {results['best_epoch']}, "
                f"{results['seconds']:.1f}s\n{format_metrics(results)}\nwritten {folder.file(folder.RESULTS)}"
            )
    return results


def resolved_folders(config: Config) -> dict[str, str]:
    """The run's data, feature and graph folders, and its dataset's folder where the dataset is given as a
    path, as absolute paths (``data.json`` records them; ``RunFolder.located_config`` reads them)."""
    folders = {name: str(Path(getattr(config.data, name)).absolute()) for name in LOCATION_KEYS}
    if config.dataset != dataset_name(config.dataset):
        folders["dataset"] = str(Path(config.dataset).absolute())
    return folders
