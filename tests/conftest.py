from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mdsrec_pyg.config import Config
from mdsrec_pyg.data import LeaveOneOutSplit, SequentialDataset
from mdsrec_pyg.models import SequentialRecommender, model_and_graphs

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


def built_model(config: Config, dataset: SequentialDataset, split: LeaveOneOutSplit) -> SequentialRecommender:
    """The model of ``config`` as a run builds it: its relation graphs first where it is built from them."""
    return model_and_graphs(config, dataset, split)[1]
