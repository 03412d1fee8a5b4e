"""Item relation graphs (Eq. 1-2 and 4-5) and their on-disk cache.

A graph is a PyG ``edge_index`` (2, E) in the message-passing direction (row 0 source j, row 1 target i) with
``edge_weight`` (E,), so that propagation computes ``out_i = sum_j A_ij x_j``.
"""

from .cooccurrence import cooccurrence_graph
from .knn import knn_graph, knn_recall
from .store import GraphStore

__all__ = ["GraphStore", "cooccurrence_graph", "knn_graph", "knn_recall"]
