"""The results registry on disk: one file per finished run and one per table, each read and written through
the class of its kind.

``results/<dataset>/<table>/<run>.json`` holds one finished run (config, metrics, seed, best epoch, wall
time, machine, commit; no weights), ``<run>.ranks.txt`` beside it the rank of every user's target (what the
paired tests read; entries recorded before the registry kept them have none), and
``results/<dataset>/<table>.json`` the table made of them (a :class:`~.tables.Table2Summary`,
:class:`~.tables.AblationSummary` or :class:`~.tables.SweepSummary`); measurements (bench, exports, retrieval,
threads) are files of their own kinds. A file of no known kind is one line naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import io
from ..config import Config
from ..errors import InputError, shorten
from ..names import dataset_name
from ..runs import RunFolder, config_differences, listed
from .measurements import (
    BenchSummary,
    CatalogStepsSummary,
    ExportSummary,
    LoadSummary,
    RetrievalSummary,
    ThreadsSummary,
)
from .summary import Summary
from .tables import AblationSummary, PaperTable2, SweepSummary, Table2Summary

KINDS: dict[str, type[Summary]] = {
    cls.kind: cls
    for cls in (
        Table2Summary,
        AblationSummary,
        SweepSummary,
        PaperTable2,
        BenchSummary,
        ExportSummary,
        RetrievalSummary,
        ThreadsSummary,
        LoadSummary,
        CatalogStepsSummary,
    )
}
TABLE_KINDS = ("table2", "ablation", "sweep")  # the kinds made of run entries
RUN_KEYS = (
    "dataset",
    "model",
    "config",
    "best_epoch",
    "valid",
    "test",
    "test_cold",  # a cold-start run's metrics over the test users with a held-out target, and the others
    "test_warm",
    "cold_start",
    "seconds",
    "seconds_to_best_epoch",
    "train_rows",
    "train_targets",
    "mask_history",
    "versions",
    "machine",
    "data",
)


def read_json(path: Path) -> dict[str, Any]:
    """A registry file as a JSON object; one line naming it when it cannot be read."""
    return io.read_json_object(path, "restore it from git (git checkout -- FILE)")


def read_summary(path: str | Path) -> Summary:
    """The registry file ``path`` as the object of its kind; one line naming it when its kind is unknown."""
    path = Path(path)
    values = read_json(path)
    kind = values.get("kind")
    if kind not in KINDS:
        raise InputError(path, f"a registry file of unknown kind {shorten(kind)}; expected one of {', '.join(KINDS)}")
    return KINDS[kind].from_dict(values, path)


def write_summary(path: str | Path, summary: Summary) -> Path:
    """Write ``summary`` to ``path`` atomically, its kind first."""
    return io.write_json(path, summary.to_dict())


def table_path(registry: str | Path, dataset: str, table: str) -> Path:
    return Path(registry) / dataset / f"{table}.json"


def write_table(registry: str | Path, dataset: str, table: str, summary: Summary) -> Path:
    """Write a table's summary, ``<registry>/<dataset>/<table>.json``."""
    return write_summary(table_path(registry, dataset, table), summary)


def read_table(registry: str | Path, key: str) -> Summary:
    """The summary ``<registry>/<key>.json`` (``key`` as ``dataset/table``)."""
    path = Path(registry) / f"{key}.json"
    if not path.is_file():
        raise InputError(path, "not in the results registry; run the experiment script that writes it")
    return read_summary(path)


def run_entry(registry: str | Path, dataset: str, table: str, run: str) -> Path:
    """Where the registry holds one finished run: ``<registry>/<dataset>/<table>/<run>.json``."""
    return Path(registry) / dataset / table / f"{run}.json"


def run_ranks(registry: str | Path, dataset: str, table: str, run: str) -> Path:
    """The per-user target ranks of a recorded run, beside its entry, as text: ``<run>.ranks.txt``."""
    return run_entry(registry, dataset, table, run).with_suffix(".ranks.txt")


def record_run(registry: str | Path, table: str, run_dir: str | Path, results: dict[str, Any]) -> Path:
    """Write one finished run's entry, ``<registry>/<dataset>/<table>/<run folder name>.json``, and with it the
    per-user ranks of its folder (``ranks.npz``, as text: the paired tests read them from here, and a later session
    reuses the run without its folder; a run reused from the registry already has them)."""
    run = Path(run_dir).name
    entry = {"run": run, **{k: results[k] for k in RUN_KEYS if k in results}}
    dataset = dataset_name(results["dataset"])  # a dataset given as a folder path counts by its name
    path = run_entry(registry, dataset, table, run)
    files = {path.name: io.json_writer(entry)}
    ranks = RunFolder(run_dir).file(RunFolder.RANKS)
    if ranks.is_file():
        files = {run_ranks(registry, dataset, table, run).name: io.ranks_text_writer(**io.read_ranks(ranks)), **files}
    io.write_set(path.parent, files)
    return path


def recorded_run(registry: str | Path, table: str, run: str, config: Config) -> dict[str, Any] | None:
    """The results of run ``run`` of ``config`` as the registry holds them, where its entry is there, was made
    with the same settings and has its ranks beside it; else None (the run is still to be made)."""
    dataset = dataset_name(config.dataset)
    path = run_entry(registry, dataset, table, run)
    if not path.is_file() or not run_ranks(registry, dataset, table, run).is_file():
        return None
    entry = read_json(path)
    if config_differences(entry.get("config", {}), config):
        return None
    return {k: v for k, v in entry.items() if k != "run"}


def registry_hooks(registry: str | Path, table: str) -> dict[str, Any]:
    """``run_all``'s ``recorded`` and ``record`` for the run entries of ``table`` in ``registry``: a run held
    there with the same settings is taken from it, and each run made is recorded as it finishes."""
    return {
        "recorded": lambda config, folder: recorded_run(registry, table, Path(folder).name, config),
        "record": lambda folder, results: record_run(registry, table, folder, results),
    }


def entry_differences(entry: Path, config: Config) -> list[str]:
    """How the run entry ``entry`` differs from ``config`` (none where there is no entry)."""
    return config_differences(read_json(entry).get("config", {}), config) if entry.is_file() else []


def check_recordable(
    registry: str | Path,
    dataset: str,
    table: str,
    entry_dir: str,
    planned: dict[str, Config],
    facts: dict[str, Any],
    replace: bool,
    elsewhere: str,
    rows: list[str] | None = None,
) -> None:
    """Refuse, in one line and before any run, to record over a registry table or run entry made with other
    settings: the table ``<dataset>/<table>.json`` unless every run it lists is a run of ``planned`` (run name
    -> the config this command makes under it) with the same settings, its ``facts`` (``seeds``, ``models``,
    ...) are these, and (where the command knows them before it runs: ``rows``) it lists the same runs; and a
    run entry ``<dataset>/<entry_dir>/<run>.json`` unless it is the same run. ``replace`` allows it;
    ``elsewhere`` says how to record beside it instead."""
    if replace:
        return
    registry = Path(registry)
    path = registry / dataset / f"{table}.json"

    def refuse(why: str) -> None:
        raise InputError(
            path,
            f"the registry holds this table made with other settings ({why}); {elsewhere}, or --replace to replace it",
        )

    if path.is_file():
        summary = read_summary(path)
        for key, value in facts.items():
            if hasattr(summary, key) and getattr(summary, key) != value:
                refuse(f"{key} {shorten(getattr(summary, key))} there, {shorten(value)} here")
        runs = summary.runs()
        if not runs:
            refuse("it lists no runs to compare")
        if rows is not None and sorted(rows) != sorted(runs):
            refuse(f"runs {', '.join(sorted(set(runs) ^ set(rows))[:4])} in one and not the other")
        folder = registry / getattr(summary, "run_entries", f"{dataset}/{entry_dir}")
        for run in runs:
            if run not in planned:
                refuse(f"its run {run} is not one this command makes")
            if differences := entry_differences(folder / f"{run}.json", planned[run]):
                refuse(f"run {run}: {listed(differences, 2)}")
    for run, config in planned.items():
        entry = registry / dataset / entry_dir / f"{run}.json"
        if differences := entry_differences(entry, config):
            raise InputError(
                entry,
                f"the registry holds this run made with other settings ({listed(differences, 2)}); {elsewhere}, "
                "or --replace to replace it",
            )


def ran_on(results: dict[str, Any]) -> str:
    """The GPU a run used, else its processor and core count (runs made before machines were recorded: "?")."""
    where = results.get("machine") or {}
    if where.get("gpu"):
        return where["gpu"]
    return f"CPU {where['processor']} x{where['cpu_count']}" if where else "?"
