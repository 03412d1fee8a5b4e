"""Atomic writes: a file is either absent, the old version, or the complete new version, never half-written."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch


def atomic_file(path: str | Path, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp)`` to fill a temporary file beside ``path``, then move it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "w") as handle:
            json.dump(obj, handle, indent=2, sort_keys=False)
            handle.write("\n")

    return atomic_file(path, write)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "w") as handle:
            handle.write(text)

    return atomic_file(path, write)


def torch_save(path: str | Path, obj: Any) -> Path:
    """``torch.save`` atomically; save plain tensors and JSON-able values so that ``weights_only`` loads work."""
    return atomic_file(path, lambda tmp: torch.save(obj, tmp))


def save_npy(path: str | Path, array: Any) -> Path:
    """``numpy.save`` atomically."""
    import numpy as np

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            np.save(handle, array)

    return atomic_file(path, write)


def save_ranks(path: str | Path, **ranks: Any) -> Path:
    """Per-user target ranks by split (``valid=..., test=...``), compressed, atomically (``ranks.npz``)."""
    import numpy as np

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            np.savez_compressed(
                handle, **{k: np.asarray(v).astype(np.min_scalar_type(np.max(v))) for k, v in ranks.items()}
            )

    return atomic_file(path, write)
