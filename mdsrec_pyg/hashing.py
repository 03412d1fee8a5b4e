"""Content hashes: the graph store's cache keys and checksums, and the fingerprint of a run's training data."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor


def fingerprint(*inputs: Any) -> str:
    """A SHA-256 hex digest of arrays, tensors, lists of arrays and JSON-able values, in order."""
    digest = hashlib.sha256()
    for value in inputs:
        if isinstance(value, Tensor):
            value = value.detach().cpu().numpy()
        if isinstance(value, np.ndarray):
            digest.update(str((value.dtype, value.shape)).encode())
            digest.update(np.ascontiguousarray(value).tobytes())
        elif isinstance(value, list) and value and isinstance(value[0], np.ndarray):
            digest.update(fingerprint(np.array([len(v) for v in value]), np.concatenate(value)).encode())
        else:
            digest.update(json.dumps(value, sort_keys=True).encode())
    return digest.hexdigest()


def file_sha256(path: str | Path, block: int = 1 << 20) -> str:
    """The SHA-256 hex digest of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()
