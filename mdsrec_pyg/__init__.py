"""MDSRec and its baselines on PyTorch Geometric. ``from mdsrec_pyg import Recommender`` gives the
recommendations of a trained run (imported on first use, so that ``import mdsrec_pyg`` stays light)."""

from __future__ import annotations

from typing import Any

__all__ = ["Recommendation", "Recommender", "load_trained"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import recommend

        return getattr(recommend, name)
    raise AttributeError(f"module 'mdsrec_pyg' has no attribute {name!r}")
