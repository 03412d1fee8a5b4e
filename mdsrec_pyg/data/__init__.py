"""Datasets: one in-memory form, readers for three formats, the synthetic default and the leave-one-out split."""

from ..names import KNOWN_DATASETS
from .dataset import LeaveOneOutSplit, SequentialDataset, build_dataset
from .registry import load_dataset
from .synthetic import make_synthetic

__all__ = ["KNOWN_DATASETS", "LeaveOneOutSplit", "SequentialDataset", "build_dataset", "load_dataset", "make_synthetic"]
