from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"


def shared_dataset(name: str) -> Path:
    """The folder of a real dataset under ../shared/datasets, or skip the test with the reason."""
    folder = SHARED / name
    if not folder.is_dir():
        pytest.skip(f"real dataset {name!r} not found at {folder} (the shared data folder is absent)")
    return folder


def script(name: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """``python experiments/<name> *args`` as a user runs it, its output captured."""
    return subprocess.run(
        [sys.executable, str(ROOT / "experiments" / name), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
