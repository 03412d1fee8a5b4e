"""The settings of the relation-graph stage, beside the stage: what :func:`relations.build_relation_graphs`
reads, and the fit of H and k to a catalog."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from ..config import boolean, integer, named, one_of, real, setting
from ..nn.propagation import LAYOUTS, OPERATORS
from .knn import METHODS

log = logging.getLogger(__name__)


@dataclass
class GraphConfig:
    """The settings of the relation-graph stage (MDSRec's RGC and interest centres): a run's ``graphs``
    section. Per-dataset H and k come from ``configs/<dataset>.json``; ``dis`` and ``cre`` are two of the four
    ablation switches of Table 3."""

    mu_id: float = setting(16.0, real(0.0))  # Eq. 3, ID embeddings
    mu_m: float = setting(0.2, real(0.0))  # Eq. 3, modal features
    cooc_norm: str = setting("lightgcn", named(lambda: sorted(OPERATORS)))  # operator applied to O before Eq. 3
    cooc_window: int = setting(0, integer(0))  # largest position distance counted in O (0: no cap)
    dis: bool = setting(True, boolean())  # distance-weighted co-occurrence, Eq. 1 (False: w/o DIS)
    cre: bool = setting(True, boolean())  # behaviour-injected modal graphs, Eq. 3-5 (False: w/o CRE)
    H: int = setting(10, integer(0))  # Eq. 5 neighbours
    graph_operator: str = setting("mean", named(lambda: sorted(OPERATORS)))  # operator applied to Â^m before Eq. 6
    knn_method: str = setting("auto", one_of(*METHODS))  # exact, nndescent or auto (by catalog size)
    adjacency_layout: str = setting("auto", one_of(*LAYOUTS))  # csr, sparse_tensor, edge_index or auto
    k: int = setting(32, integer(1))  # Eq. 10 interest centres


def fitted_to_catalog(settings: GraphConfig, items: int, warn: bool = True) -> GraphConfig:
    """``settings`` with H at most ``items - 1`` (other items) and k at most ``items``, each change warned about
    (with ``warn``): legal but wasteful values for a small catalog. The run records the fitted settings."""
    changes = {}
    if settings.H > items - 1:
        changes["H"] = max(0, items - 1)
    if settings.k > items:
        changes["k"] = items
    for key, value in changes.items() if warn else ():
        log.warning(
            "%s=%d is more than this catalog of %d items allows; using %d", key, getattr(settings, key), items, value
        )
    return dataclasses.replace(settings, **changes) if changes else settings
