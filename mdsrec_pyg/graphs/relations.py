"""The relation-graph stage: (config, dataset, split, store) -> :class:`RelationGraphs`, everything MDSRec's
relation-graph construction (RGC) and its interest centres need, from the training sequences and the item
features only, cached in the graph store. It is the stage's one owner: a run's config has a ``graphs``
section exactly when its model is built from this stage, the stage fits H and k to the catalog, normalises
every graph, and returns the settings it used, which the run records as its own."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor

from ..config import Config
from ..data import LeaveOneOutSplit, SequentialDataset
from ..nn.propagation import RelationGraph
from ..progress import phase
from .cooccurrence import cooccurrence_graph
from .interests import kmeans_assignment
from .knn import knn_graph
from .settings import GraphConfig, fitted_to_catalog
from .store import Graph, GraphStore


@dataclass
class RelationGraphs:
    """The built graphs of one dataset and configuration, every one normalised and ready to propagate."""

    settings: GraphConfig  # the settings they were built with, H and k fitted to the catalog
    injection: RelationGraph  # O (Eq. 1-2) normalised by cooc_norm: the operator of Eq. 3
    modal: dict[str, RelationGraph]  # Â^m (Eq. 4-5) normalised by graph_operator: the operator of Eq. 6
    assignments: dict[str, Tensor]  # Eq. 10: each item's interest centre (0..k-1), per modality
    features: dict[str, Tensor]  # E^m, the raw features of the modalities used

    def config_of(self, config: Config) -> Config:
        """``config`` with the settings these graphs were built with (the run's one configuration)."""
        return dataclasses.replace(config, graphs=self.settings)


@torch.no_grad()
def inject_behaviour(settings: GraphConfig, injection: RelationGraph, raw: Tensor) -> Tensor:
    """Eq. 3 for modal features, computed once: ``mu_m O X^m + X^m`` (the raw X^m without CRE)."""
    return settings.mu_m * injection(raw) + raw if settings.cre else raw


def modal_graph(store: GraphStore, settings: GraphConfig, modality: str, injected: Tensor, seed: int) -> Graph:
    """Â^m (Eq. 4-5) of the behaviour-injected features, from the graph store or built and stored."""
    return store.get(
        f"knn-{modality}",
        {"H": settings.H, "method": settings.knn_method, "self_loops": True},
        [injected],
        lambda: knn_graph(injected, settings.H, settings.knn_method, seed=seed),
    )


def cooccurrence_of(store: GraphStore, settings: GraphConfig, split: LeaveOneOutSplit, num_items: int) -> Graph:
    """O (Eq. 1-2) of the training sequences (distance-weighted unless DIS is off), from the store or built."""
    return store.get(
        "cooccurrence",
        {"distance_weighting": settings.dis, "window": settings.cooc_window},
        [split.train, num_items],
        lambda: cooccurrence_graph(split.train, num_items, settings.dis, settings.cooc_window),
    )


def build_relation_graphs(
    config: Config, dataset: SequentialDataset, split: LeaveOneOutSplit, store: GraphStore | None = None
) -> RelationGraphs | None:
    """Co-occurrence graph, behaviour-injected modal top-H graphs and k-means interest assignments of the
    modalities ``config`` names (all the dataset has by default); None for a model that is not built from
    relation graphs (its config has no ``graphs`` section)."""
    if config.graphs is None:
        return None
    store = store or GraphStore(config.data.graph_dir, dataset.name)
    num_items, seed = dataset.num_items, config.training.seed
    settings = fitted_to_catalog(config.graphs, num_items - 1)
    features = dataset.select_features(config.data.modalities, config.model)
    cooccurrence = cooccurrence_of(store, settings, split, num_items)
    injection = RelationGraph(*cooccurrence, num_items, settings.cooc_norm, settings.adjacency_layout)
    modal, assignments = {}, {}
    for m, raw in features.items():
        graph = modal_graph(store, settings, m, inject_behaviour(settings, injection, raw), seed)
        modal[m] = RelationGraph(*graph, num_items, settings.graph_operator, settings.adjacency_layout)
        with phase(f"k-means: {settings.k} interest centres of {m}"):
            assignments[m] = kmeans_assignment(raw, settings.k, seed)  # Eq. 10, raw features only
    return RelationGraphs(settings, injection, modal, assignments, features)
