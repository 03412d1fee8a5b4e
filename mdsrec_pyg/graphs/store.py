"""The cache of built graphs under the top-level ``graphs/<dataset>/`` folder.

A graph file is named by a hash of everything it depends on (the training sequences or features it was
built from, and every parameter), so a changed input never reuses a stale graph. Files are written
atomically and carry a checksum of their tensors; a truncated or corrupted file is detected, reported with
a warning, and rebuilt.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor

from .. import io
from ..hashing import fingerprint
from ..progress import phase

log = logging.getLogger(__name__)

Graph = tuple[Tensor, Tensor]


def _checksum(edge_index: Tensor, edge_weight: Tensor) -> str:
    return fingerprint(edge_index, edge_weight)


class GraphStore:
    def __init__(self, root: str | Path, dataset: str) -> None:
        self.folder = Path(root) / dataset

    def path(self, kind: str, key: str) -> Path:
        return self.folder / f"{kind}-{key[:20]}.pt"

    def get(self, kind: str, params: dict[str, Any], inputs: list[Any], build: Callable[[], Graph]) -> Graph:
        """The cached graph for ``(kind, params, inputs)``, built and stored if absent or unreadable."""
        key = fingerprint(kind, params, *inputs)
        path = self.path(kind, key)
        if path.exists():
            try:
                blob = torch.load(path, weights_only=True)
                if blob["key"] != key or blob["checksum"] != _checksum(blob["edge_index"], blob["edge_weight"]):
                    raise ValueError("key or checksum mismatch")
                log.info("%s graph: read from %s", kind, path)
                return blob["edge_index"], blob["edge_weight"]
            except Exception as err:  # any unreadable cache file is rebuilt, never trusted
                log.warning("%s: cached graph is corrupt (%s); rebuilding", path, err)
        with phase(f"building the {kind} graph"):
            edge_index, edge_weight = build()
        io.torch_save(
            path,
            {
                "key": key,
                "params": json.dumps(params),
                "edge_index": edge_index,
                "edge_weight": edge_weight,
                "checksum": _checksum(edge_index, edge_weight),
            },
        )
        return edge_index, edge_weight
