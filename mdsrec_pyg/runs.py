"""A run folder and the files it holds: their names, reading them with one-line errors, the lock of the
process training there, and what the folder is (finished, resumable, of which settings).

    runs/<dataset>/<model>-<seed>[-<hash>]/
        config.json    the settings the run was started with (sections)
        data.json      the dataset's name, fingerprint, size and resolved folders
        run.lock       held (flock) by the process training there; its id inside, for messages
        run.log        what the run printed, timestamped
        checkpoint.pt  the last finished epoch (model, optimiser, random states, the config it trained with)
        best.pt        the best weights
        ranks.npz      every user's valid / test target rank
        results.json   the metrics, the config, best.pt's SHA-256: its presence means finished

The lock is an ``flock`` on ``run.lock``: the kernel grants it to one process at a time and releases it when
that process ends however it ends, so neither a crash nor a recycled process id leaves the folder blocked.
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from . import io
from .config import LOCATION_KEYS, RUNTIME_KEYS, Config, build_config, validate
from .errors import InputError, shorten
from .graphs.settings import fitted_to_catalog
from .hashing import fingerprint
from .models import MODELS
from .names import dataset_name

log = logging.getLogger(__name__)


def config_differences(saved: dict[str, Any], config: Config) -> list[str]:
    """The settings in which a saved config dictionary differs from ``config``, as ``key: A there, B here``
    lines (a setting the saved one lacks counts as its default; the runtime keys threads and device and the
    folders of the data and graphs do not count, and the dataset counts by its name, not its path; a config
    in the flat form of early runs is read as it was meant)."""
    try:
        old = Config.from_dict(saved, flat_form=True).flat()
    except InputError as err:
        return [f"the saved config cannot be read ({err.message})"]
    new = config.flat()
    old["dataset"], new["dataset"] = dataset_name(old["dataset"]), dataset_name(new["dataset"])  # by name, not path
    ignored = RUNTIME_KEYS + LOCATION_KEYS
    keys = [k for k in dict.fromkeys([*old, *new]) if k not in ignored and old.get(k) != new.get(k)]
    return [f"{k}: {shorten(old.get(k))} there, {shorten(new.get(k))} here" for k in keys]


def same_config(saved: dict[str, Any], config: Config) -> bool:
    """Whether a saved config dictionary is ``config`` (see :func:`config_differences`)."""
    return not config_differences(saved, config)


# ----- the names of run folders -----
NAMED_KEYS = ("dataset", "model", "seed") + LOCATION_KEYS + RUNTIME_KEYS  # in the name, or not the run's identity


def run_folder(config: Config, root: str | Path = "runs") -> Path:
    """The default folder of a run: ``runs/<dataset>/<model>-<seed>``, plus ``-<8 hex>`` (a hash of the settings
    that differ from the dataset's defaults) when any do, so that runs differing in any setting never share a
    folder. Where a run executes and where its data lie do not count."""
    defaults = build_config(config.dataset, {"model": config.model}).flat()
    changed = {k: v for k, v in config.flat().items() if k not in NAMED_KEYS and defaults.get(k) != v}
    name = f"{config.model}-{config.training.seed}"
    if changed:
        name += "-" + fingerprint(changed)[:8]
    return Path(root) / dataset_name(config.dataset) / name


def grid_run_name(config: Config) -> str:
    """The folder name of a run of a search grid (``table2.py``): ``<model>-lr<lr>[-do<dropout>]-s<seed>``,
    the point of the grid it is."""
    dropout = config.flat().get("dropout")  # most popular has none
    return (
        f"{config.model}-lr{config.training.lr:g}"
        + (f"-do{dropout:g}" if dropout is not None else "")
        + f"-s{config.training.seed}"
    )


def variant_run_name(variant: str, seed: int) -> str:
    """The folder name of a run of a named variant (``ablation.py``'s Table 3 rows): ``<variant>-s<seed>``."""
    return f"{variant}-s{seed}"


def listed(differences: list[str], most: int = 4) -> str:
    """The first ``most`` differences in one line."""
    more = len(differences) - most
    return "; ".join(differences[:most]) + (f"; and {more} more" if more > 0 else "")


class RunFolder:
    """The folder of one run (see the module docstring for its files)."""

    CONFIG, DATA, RESULTS, BEST, CHECKPOINT, RANKS, LOCK, LOG = io.RUN_FILES  # the writer refuses them as outputs
    OUTCOME = (RESULTS, BEST, RANKS, CHECKPOINT)  # what training makes; --replace removes them first

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __str__(self) -> str:
        return str(self.path)

    def file(self, name: str) -> Path:
        return self.path / name

    # ----- what the folder is -----
    @property
    def is_run(self) -> bool:
        """Whether a run was started here (its config.json is written)."""
        return self.file(self.CONFIG).is_file()

    @property
    def finished(self) -> bool:
        return self.file(self.RESULTS).is_file()

    @property
    def has_checkpoint(self) -> bool:
        return self.file(self.CHECKPOINT).is_file()

    def read_json(self, name: str) -> dict[str, Any]:
        """One of the run's JSON files; one line if it is missing, not JSON, or not an object."""
        path = self.file(name)
        if not path.is_file():
            raise InputError(path, "not found: a run folder written by experiments/run.py is expected")
        return io.read_json_object(path)

    def ranks(self, stage: str = "test") -> np.ndarray:
        """The per-user target ranks of ``stage`` the finished run stored (``ranks.npz``)."""
        return io.read_ranks(
            self.file(self.RANKS), stage, "the run has not finished, or its folder lost its ranks; run it again"
        )

    def saved_config(self) -> Config:
        """The config the run was started with (``config.json``)."""
        values = self.read_json(self.CONFIG)
        if values.get("model") not in MODELS:
            raise InputError(self.file(self.CONFIG), "not a run's config (no known model in it)")
        return validate(Config.from_dict(values, flat_form=True))

    def located_config(self) -> Config:
        """:meth:`saved_config` with the data, feature and graph folders the run recorded (``data.json``, as
        absolute paths) where they exist now, so that the run is found from any working directory."""
        config = self.saved_config()
        recorded = self.read_json(self.DATA).get("folders", {}) if self.file(self.DATA).is_file() else {}
        for name, where in recorded.items():
            if not isinstance(where, str) or not Path(where).is_dir():
                continue  # the run moved to another machine: its config's own paths
            if name in LOCATION_KEYS:
                setattr(config.data, name, where)
            elif name == "dataset" and config.dataset != dataset_name(config.dataset):  # given as a path
                config.dataset = where
        return config

    def as_run_here(self, config: Config) -> Config:
        """``config`` as a run of it here records it: its graph settings fitted to the catalog the run's
        ``data.json`` names (a run records the H and k it used)."""
        if config.graphs is None or not self.file(self.DATA).is_file():
            return config
        items = self.read_json(self.DATA).get("items")
        if not isinstance(items, int) or isinstance(items, bool):
            return config
        return dataclasses.replace(config, graphs=fitted_to_catalog(config.graphs, items, warn=False))

    def differences(self, config: Config) -> list[str]:
        """How the run here differs from ``config`` (empty: the same settings; no run here: empty)."""
        if not self.is_run:
            return []
        return config_differences(self.read_json(self.CONFIG), self.as_run_here(config))

    def finished_results(self, config: Config) -> dict[str, Any] | None:
        """The results of a finished run here with exactly ``config``, or None."""
        if not self.finished:
            return None
        try:
            results = self.read_json(self.RESULTS)
        except InputError:
            return None
        return results if same_config(results.get("config", {}), self.as_run_here(config)) else None

    def interrupted(self, config: Config) -> bool:
        """Whether an unfinished run of exactly ``config`` with a checkpoint to resume from is here."""
        if self.finished or not self.has_checkpoint:
            return False
        try:
            return same_config(self.read_json(self.CONFIG), self.as_run_here(config))
        except InputError:
            return False

    def check_consistent(self, results: dict[str, Any]) -> None:
        """Refuse a finished run whose ``config.json`` is not the config its ``results.json`` recorded (an
        edited config.json, or results.json and best.pt copied from another run)."""
        config = self.saved_config()
        differences = config_differences(results.get("config") or {}, config)
        if differences:
            raise InputError(
                self.path,
                f"config.json is not the config results.json recorded ({listed(differences)}, 'there' being "
                "results.json): the files come from different runs; retrain, or restore the run's own files",
            )

    def check_resumable(self, trained_with: dict[str, Any] | None, config: Config) -> None:
        """Refuse to resume when ``config.json`` (``config``) is not the config the checkpoint was trained with
        (``trained_with``; checkpoints written before it was recorded are resumed with a warning)."""
        if trained_with is None:
            log.warning("%s: the checkpoint does not record its config; cannot check config.json against it", self)
            return
        differences = config_differences(trained_with, config)
        if differences:
            raise InputError(
                self.file(self.CONFIG),
                f"is not the config the checkpoint was trained with ({listed(differences)}, 'there' being the "
                "checkpoint); restore config.json, or start a new run with the new settings",
            )

    def check_same_data(self, name: str, fingerprint_now: str, force: bool) -> None:
        """Refuse to resume on data whose fingerprint differs from the one the run started with."""
        if force or not self.file(self.DATA).is_file():
            return
        recorded = self.read_json(self.DATA).get("fingerprint")
        if recorded is not None and recorded != fingerprint_now:
            raise InputError(
                self.path,
                f"dataset {name!r} has changed since this run started (its fingerprint "
                "differs); start a new run, or --force to resume on the new data",
            )

    def advice_to_finish(self) -> str:
        """What finishes this unfinished run: waiting for the process training it, resuming it, or training it
        again."""
        owner = self.holder()
        if owner is not None:
            return f"process {owner} is training it now: wait for it to finish"
        if self.has_checkpoint:
            return f"finish it with python experiments/run.py --resume {self.path}"
        return "it never finished an epoch (no checkpoint): train it again with the command that started it"

    def clear_outcome(self) -> None:
        """Remove what an earlier training left (results first, so the folder never looks finished)."""
        for name in self.OUTCOME:
            self.file(name).unlink(missing_ok=True)

    # ----- writing -----
    def write_json(self, name: str, values: dict[str, Any]) -> Path:
        return io.write_json(self.file(name), values)

    def append_log(self, text: str) -> None:
        with open(self.file(self.LOG), "a", encoding="utf-8") as handle:
            handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")

    # ----- the lock -----
    @contextmanager
    def lock(self, enabled: bool = True) -> Iterator[None]:
        """Hold ``run.lock`` while a run writes here; another process holding it is one line. The folder must
        exist."""
        if not enabled:
            yield
            return
        path = self.file(self.LOCK)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                owner = self.holder()
                who = f"process {owner}" if owner else "another process"
                raise InputError(
                    self.path, f"in use by another run ({who}, {self.LOCK}); wait for it or give another --out"
                ) from None
            try:  # the holder before may have removed the file between our open and our flock: take the new one
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        try:
            yield
        finally:
            path.unlink(missing_ok=True)  # while still held, so that a process waiting on it sees it is gone
            os.close(fd)

    def holder(self) -> int | None:
        """The id of the process other than this one that holds ``run.lock`` now (0 where it has not written
        its id yet), or None."""
        try:
            fd = os.open(self.file(self.LOCK), os.O_RDONLY)
        except OSError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                text = os.read(fd, 32).decode(errors="replace").strip()
                owner = int(text) if text.isdigit() else 0
                return None if owner == os.getpid() else owner
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    def wait_for_other(self, poll_seconds: float = 10.0) -> None:
        """Return once no other process holds ``run.lock`` (two scripts that share a run folder)."""
        said = False
        while (owner := self.holder()) is not None:
            if not said:
                log.info("%s is being trained by process %d: waiting for it", self.path, owner)
                said = True
            time.sleep(poll_seconds)


# ----- the checkpoint's format -----
def state_checksum(model_state: dict[str, torch.Tensor], epoch: int) -> str:
    """A hash of a checkpoint's weights and epoch (as the graph store checksums its graphs)."""
    return fingerprint(epoch, *[value for key in sorted(model_state) for value in (key, model_state[key])])


def write_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """``state`` (``Trainer.checkpoint``'s) written atomically with the checksum of its weights."""
    io.torch_save(path, {**state, "checksum": state_checksum(state["model"], state["epoch"])})


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by :func:`write_checkpoint`, refused in one line when it cannot be read or its weights
    do not match their checksum (never silently resumed from)."""
    try:
        state = torch.load(path, weights_only=True)
        checksum = state.pop("checksum", None)
        epoch, model_state = state["epoch"], state["model"]
    except Exception as err:  # truncated, not a torch file, or not a checkpoint
        raise InputError(
            path, f"cannot be read as a checkpoint ({type(err).__name__}); it is corrupt: start the run again"
        ) from None
    if checksum is not None and checksum != state_checksum(model_state, epoch):
        raise InputError(path, "corrupt: its weights do not match their checksum; start the run again")
    return state
