"""Where and with what a run executed: library versions, the project's commit, the machine (``results.json``
records them)."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch_geometric


def versions() -> dict[str, str | None]:
    """Library versions and the project's commit (see :func:`source_commit`)."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "torch_geometric": torch_geometric.__version__,
        "commit": source_commit(),
    }


def source_commit() -> str | None:
    """The git commit of the checkout this package runs from (``-dirty`` with uncommitted changes to tracked
    files); for a copy without ``.git`` (say, one sent to a GPU machine) the ``MDSREC_COMMIT`` environment
    variable; else None."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if head.returncode == 0:
            dirty = subprocess.run(
                ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
            return head.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return os.environ.get("MDSREC_COMMIT") or None


def machine(device: str) -> dict[str, Any]:
    """Where a run executed: host processor, core count and, on a GPU, its name."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "device": device,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info
