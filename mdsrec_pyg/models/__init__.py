"""Models by name: every model keeps the contract of :class:`SequentialRecommender`."""
from __future__ import annotations

from ..config import Config
from ..data import LeaveOneOutSplit, SequentialDataset
from ..errors import InputError
from ..seed import seed_everything
from .base import MostPopular, SequentialRecommender
from .mdsrec import MDSRec
from .sasrec import SASRec

MODELS: dict[str, type[SequentialRecommender]] = {"mdsrec": MDSRec, "pop": MostPopular, "sasrec": SASRec}


def build_model(config: Config, dataset: SequentialDataset, split: LeaveOneOutSplit) -> SequentialRecommender:
    if config.model not in MODELS:
        raise InputError("--model", f"unknown model {config.model!r}; expected one of {', '.join(sorted(MODELS))}")
    seed_everything(config.seed)  # the same seed gives the same initial weights
    return MODELS[config.model].build(config, dataset, split)


__all__ = ["MDSRec", "MODELS", "MostPopular", "SASRec", "SequentialRecommender", "build_model"]
