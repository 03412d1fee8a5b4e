"""The relation-graph stage: (config, dataset, split, store) -> :class:`RelationGraphs`, everything MDSRec's
relation-graph construction (RGC) and its interest centres need, from the training sequences and the item
features only, cached in the graph store. ``run_experiment`` calls it (rank 0 first under torchrun);
MDSRec, ``bench.py`` and the recommender consume what it returns instead of rebuilding it."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import torch
from torch import Tensor

from ..config import Config
from ..data import LeaveOneOutSplit, SequentialDataset
from ..nn.centralized import kmeans_assignment
from ..nn.propagation import RelationGraph
from ..progress import phase
from .cooccurrence import cooccurrence_graph
from .knn import knn_graph
from .store import Graph, GraphStore

log = logging.getLogger(__name__)


@dataclass
class RelationGraphs:
    """The built graphs of one dataset and configuration."""

    config: Config  # the settings they were built with, H and k clamped to the catalog
    injection: RelationGraph  # O (Eq. 1-2) normalised by cooc_norm: the operator of Eq. 3, built once
    modal: dict[str, Graph]  # Â^m (Eq. 4-5) of the behaviour-injected features, per modality
    assignments: dict[str, Tensor]  # Eq. 10: each item's interest centre (0..k-1), per modality
    features: dict[str, Tensor]  # E^m, the raw features of the modalities used


def clamped_to_catalog(config: Config, items: int) -> Config:
    """``config`` with H at most ``items - 1`` (other items) and k at most ``items``, each clamp warned about:
    legal but wasteful values for a small catalog."""
    graphs = config.graphs
    changes = {}
    if graphs.H > items - 1:
        changes["H"] = max(0, items - 1)
    if graphs.k > items:
        changes["k"] = items
    for key, value in changes.items():
        log.warning(
            "%s=%d is more than this catalog of %d items allows; using %d", key, getattr(graphs, key), items, value
        )
    return dataclasses.replace(config, graphs=dataclasses.replace(graphs, **changes)) if changes else config


def injection_graph(config: Config, cooccurrence: Graph, num_items: int) -> RelationGraph:
    """O normalised by ``cooc_norm`` in the configured layout: the operator of Eq. 3."""
    return RelationGraph(*cooccurrence, num_items, config.graphs.cooc_norm, config.graphs.adjacency_layout)


@torch.no_grad()
def inject_behaviour(config: Config, injection: RelationGraph, raw: Tensor) -> Tensor:
    """Eq. 3 for modal features, computed once: ``mu_m O X^m + X^m`` (the raw X^m without CRE)."""
    return config.graphs.mu_m * injection(raw) + raw if config.graphs.cre else raw


def modal_graph(store: GraphStore, config: Config, modality: str, injected: Tensor) -> Graph:
    """Â^m (Eq. 4-5) of the behaviour-injected features, from the graph store or built and stored."""
    return store.get(
        f"knn-{modality}",
        {"H": config.graphs.H, "method": config.graphs.knn_method, "self_loops": True},
        [injected],
        lambda: knn_graph(injected, config.graphs.H, config.graphs.knn_method, seed=config.training.seed),
    )


def cooccurrence_of(store: GraphStore, config: Config, split: LeaveOneOutSplit, num_items: int) -> Graph:
    """O (Eq. 1-2) of the training sequences (distance-weighted unless DIS is off), from the store or built."""
    distance = config.graphs.dis
    return store.get(
        "cooccurrence",
        {"distance_weighting": distance, "window": config.graphs.cooc_window},
        [split.train, num_items],
        lambda: cooccurrence_graph(split.train, num_items, distance, config.graphs.cooc_window),
    )


def build_relation_graphs(
    config: Config, dataset: SequentialDataset, split: LeaveOneOutSplit, store: GraphStore | None = None
) -> RelationGraphs:
    """Co-occurrence graph, behaviour-injected modal top-H graphs and k-means interest assignments of the
    modalities ``config`` names (all the dataset has by default)."""
    from ..models.base import modal_features  # here: models import this module

    store = store or GraphStore(config.data.graph_dir, dataset.name)
    num_items = dataset.num_items
    config = clamped_to_catalog(config, num_items - 1)
    features = modal_features(config, dataset)
    cooccurrence = cooccurrence_of(store, config, split, num_items)
    injection = injection_graph(config, cooccurrence, num_items)
    modal, assignments = {}, {}
    for m, raw in features.items():
        modal[m] = modal_graph(store, config, m, inject_behaviour(config, injection, raw))
        with phase(f"k-means: {config.graphs.k} interest centres of {m}"):
            assignments[m] = kmeans_assignment(raw, config.graphs.k, config.training.seed)  # Eq. 10, raw features only
    return RelationGraphs(config, injection, modal, assignments, features)
