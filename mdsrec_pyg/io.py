"""The one way a file goes out: atomically, so that a file is either absent, the old version, or the complete
new version, never half-written.

- A regular file is filled as a temporary file beside it and moved into place; the temporary file is removed
  on every exit Python sees (an error, Ctrl-C, SIGTERM through :mod:`mdsrec_pyg.cli`).
- A symbolic link is written through: the file it points to is replaced, the link stays.
- A character device or a pipe (``/dev/stdout``, a FIFO) is written directly; it has no old version to keep.
- An OS error (a full disk, a read-only folder) is one line, :class:`OutputError`, naming the file and saying
  that its old version is untouched.

:func:`check_target` is the check every user-given output path gets before any heavy work: not a run's own
file, a suffix of the format, a parent folder that can be written. :func:`write_set` replaces several files
that belong together only once every one of them is written.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch

from .errors import InputError

# The files a run folder holds, named here once (mdsrec_pyg.runs.RunFolder takes its names from them): no output
# given by a user may be one.
RUN_FILES = (
    "config.json",
    "data.json",
    "results.json",
    "best.pt",
    "checkpoint.pt",
    "ranks.npz",
    "run.lock",
    "run.log",
)


class OutputError(InputError):
    """A file that cannot be written; ``str(err)`` is one line naming it."""


def destination(path: Path) -> Path:
    """The file a write to ``path`` replaces: the target of a symbolic link (followed to the end), else ``path``
    (a stream reached through a link, such as ``/dev/stdout`` on a pipe, stays ``path``)."""
    return Path(os.path.realpath(path)) if path.is_symlink() and not is_stream(path) else path


def is_stream(path: str | Path) -> bool:
    """A character device or a FIFO: written in place, not replaced."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def _failed(path: Path, err: BaseException) -> OutputError:
    reason = err.strerror if isinstance(err, OSError) and err.strerror else " ".join(str(err).split())[:120]
    return OutputError(path, f"cannot be written ({reason}); its old version, if any, is untouched")


def atomic_file(path: str | Path, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp)`` to fill a temporary file beside ``path``, then move it into place (see the module):
    :func:`write_set` of one file."""
    path = Path(path)
    write_set(path.parent, {path.name: write})
    return path


def _remove(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


def write_set(folder: str | Path, files: dict[str, Callable[[str], None]], owned: Iterable[str] = ()) -> list[Path]:
    """Write several files of ``folder`` that belong together: every one is filled as a temporary file first
    (synced to disk, with the usual permissions), and only when all are written are they moved into place;
    the names of ``owned`` that this set does not hold (left by an earlier, larger set) are removed then, so
    that no file of another set stays beside it. A name that is a symbolic link replaces the file it points
    to; a stream (a device, a pipe, ``/dev/stdout``) is written directly. An OS error is one line naming the
    file; every temporary file is removed on any exit."""
    folder = Path(folder)
    umask = os.umask(0)
    os.umask(umask)
    temporary: dict[Path, str] = {}
    current = folder
    try:
        for name, write in files.items():
            current = folder / name
            if is_stream(current):  # followed through links: /dev/stdout links to the process's own stream
                write(str(current))
                continue
            target = destination(current)
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            os.close(fd)
            temporary[target] = tmp
            write(tmp)
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files
        for target, tmp in temporary.items():
            current = target
            os.replace(tmp, target)
        for name in set(owned) - set(files):
            (folder / name).unlink(missing_ok=True)
    except BaseException as err:
        for tmp in temporary.values():
            _remove(tmp)
        if isinstance(err, (OSError, RuntimeError)) and not isinstance(err, BrokenPipeError):
            raise _failed(current, err) from None  # RuntimeError: torch.save's writer on a full disk
        raise  # Ctrl-C, SIGTERM, a reader gone from the pipe (the cli ends quietly), bad input
    return [folder / name for name in files]


def check_target(path: str | Path, flag: str, suffixes: tuple[str, ...] | None = None) -> Path:
    """``path`` if an output may go there, else one :class:`InputError` line naming ``flag``: a folder, a file
        of a run folder (one of :data:`RUN_FILES` beside a ``config.json``), a suffix not among ``suffixes``
        (compared without case), or a parent that is a file, cannot be created or cannot be written. A character
    device or a pipe (``/dev/stdout``) is taken as it is."""
    path = Path(path)
    if is_stream(path):  # /dev/stdout, a pipe: written in place, whatever its name
        return path
    if path.is_dir():
        raise InputError(flag, f"{path} is a folder; expected a file path")
    target = destination(path)  # a link is judged by the file it points to
    if target.name in RUN_FILES and (target.parent / "config.json").is_file():
        raise InputError(flag, f"{path} is {target.parent}'s own {target.name}; give a path outside the run's files")
    if suffixes is not None and target.suffix.lower() not in suffixes:
        raise InputError(flag, f"{path}: expected a file ending in {' or '.join(suffixes)}")
    check_folder(target.parent, flag)
    return path


def check_folder(folder: str | Path, flag: str) -> Path:
    """``folder`` if files can be made in it (or in the folders that would be made for it), else one line."""
    folder = Path(folder)
    existing = next(p for p in [folder, *folder.absolute().parents] if os.path.lexists(p))
    if not existing.is_dir():
        raise InputError(flag, f"{folder}: {existing} is a file, not a folder; give a path you can write to")
    try:  # access() says yes to root even on /proc; a file made and removed is the real answer
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise InputError(flag, f"{folder}: cannot write in {existing} ({err.strerror}); give a path you can write to")
    return folder


def read_json_object(path: str | Path, advice: str = "") -> dict[str, Any]:
    """A JSON file that holds an object; one line naming it when it cannot be read, is not JSON or holds
    something else (``advice`` appended to the line on what restores it)."""
    path = Path(path)
    tail = f"; {advice}" if advice else ""
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InputError(path, f"not valid JSON ({err.msg} at line {err.lineno}){tail}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(path, f"cannot be read ({getattr(err, 'strerror', None) or err}){tail}") from None
    if not isinstance(values, dict):
        raise InputError(path, f"expected a JSON object, got a {type(values).__name__}{tail}")
    return values


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically."""
    return atomic_file(path, json_writer(obj))


def json_writer(obj: Any) -> Callable[[str], None]:
    """A ``write(tmp)`` that writes ``obj`` as indented JSON."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(obj, handle, indent=2, sort_keys=False)
            handle.write("\n")

    return write


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` atomically."""
    return atomic_file(path, text_writer(text))


def text_writer(text: str) -> Callable[[str], None]:
    """A ``write(tmp)`` that writes ``text`` (for :func:`atomic_file` and :func:`write_set`)."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)

    return write


def npy_writer(array: Any) -> Callable[[str], None]:
    """A ``write(tmp)`` that writes ``array`` as ``.npy``."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            np.save(handle, array)

    return write


def torch_save(path: str | Path, obj: Any) -> Path:
    """``torch.save`` atomically; save plain tensors and JSON-able values so that ``weights_only`` loads work."""
    return atomic_file(path, lambda tmp: torch.save(obj, tmp))


def save_npy(path: str | Path, array: Any) -> Path:
    """``numpy.save`` atomically."""
    return atomic_file(path, npy_writer(array))


def ranks_writer(**ranks: Any) -> Callable[[str], None]:
    """A ``write(tmp)`` that writes per-user target ranks by split (``valid=..., test=...``) as a compressed
    ``.npz``, each in the smallest integer type that holds it."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            np.savez_compressed(
                handle, **{k: np.asarray(v).astype(np.min_scalar_type(np.max(v, initial=0))) for k, v in ranks.items()}
            )

    return write


def ranks_text_writer(**ranks: Any) -> Callable[[str], None]:
    """A ``write(tmp)`` that writes per-user target ranks by split as text, one line a split: its name, then
    each user's rank (the results registry's copy, which is committed: text a reviewer can read, git can diff)."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as handle:
            for name, values in ranks.items():
                handle.write(" ".join([name, *map(str, np.asarray(values).tolist())]) + "\n")

    return write


def save_ranks(path: str | Path, **ranks: Any) -> Path:
    """Per-user target ranks by split, compressed, atomically (``ranks.npz``)."""
    return atomic_file(path, ranks_writer(**ranks))


def read_ranks(path: str | Path, stage: str | None = None, advice: str = "") -> Any:
    """The per-user target ranks of ``stage`` stored in ``path`` (int64): a run folder's ``.npz`` or the
    registry's text copy (``.txt``, :func:`ranks_text_writer`); every stage's (a dict) when ``stage`` is None;
    one line naming the file when it is missing, unreadable or lacks the stage."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, f"not found{'; ' + advice if advice else ''}")
    try:
        if path.suffix == ".txt":
            lines = [line.split() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            ranks = {name: np.array([int(v) for v in values], dtype=np.int64) for name, *values in lines}
        else:
            with np.load(path) as stored:
                ranks = {name: stored[name].astype(np.int64) for name in stored.files}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise InputError(path, f"not a ranks file ({err}){'; ' + advice if advice else ''}") from None
    if stage is None:
        return ranks
    if stage not in ranks:
        raise InputError(path, f"holds no ranks of {stage!r} (it has {', '.join(ranks) or 'none'})")
    return ranks[stage]
