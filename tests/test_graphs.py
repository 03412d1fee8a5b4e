"""Relation graphs by hand: co-occurrence (Eq. 1-2), top-H (Eq. 4-5), propagation (Eq. 3, 6), the cache."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from torch_geometric.typing import WITH_TORCH_SPARSE

from mdsrec_pyg.graphs import GraphStore, cooccurrence_graph, knn_graph, knn_recall
from mdsrec_pyg.graphs.knn import approximate_topk, exact_topk, neighbour_lists
from mdsrec_pyg.nn.propagation import OPERATORS, RelationGraph, register_operator


def dense(edge_index, edge_weight, n):
    out = torch.zeros(n, n)
    out[edge_index[1], edge_index[0]] = edge_weight  # A[target i, source j]
    return out


TOY = [np.array([1, 2, 3]), np.array([2, 3]), np.array([3, 1, 2])]


def test_cooccurrence_of_three_users_by_hand():
    # user 1: (1,2) at distance 1, (2,3) at 1, (1,3) at 2; user 2: (2,3) at 1;
    # user 3: (3,1) at 1, (1,2) at 1, (3,2) at 2
    O = dense(*cooccurrence_graph(TOY, 4), 4)
    assert O[1, 2] == O[2, 1] == 2.0
    assert O[2, 3] == O[3, 2] == 2.5
    assert O[1, 3] == O[3, 1] == 1.5
    assert O.diagonal().sum() == 0 and O[0].sum() == 0 and O[:, 0].sum() == 0


def test_cooccurrence_without_distance_counts_pairs():
    O = dense(*cooccurrence_graph(TOY, 4, distance_weighting=False), 4)
    assert (O[1, 2], O[2, 3], O[1, 3]) == (2.0, 3.0, 2.0)


def test_cooccurrence_window_caps_distance():
    O = dense(*cooccurrence_graph(TOY, 4, window=1), 4)
    assert (O[1, 2], O[2, 3], O[1, 3]) == (2.0, 2.0, 1.0)


FEATURES = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.7, 0.7]])


def test_top_h_graph_by_hand():
    A = dense(*knn_graph(FEATURES, H=1, method="exact", self_loops=False), 6)
    expected = torch.zeros(6, 6)
    for i, j in [(1, 2), (2, 1), (3, 4), (4, 3)]:
        expected[i, j] = 1
    # item 5 (0.7, 0.7) is equally near items 2 and 4 by symmetry of cosine: either is a top-1 neighbour
    assert torch.equal(A[:5], expected[:5])
    assert A[5].sum() == 1 and (A[5, 2] == 1 or A[5, 4] == 1)
    with_loops = dense(*knn_graph(FEATURES, H=1, method="exact"), 6)
    assert torch.equal(with_loops - A, torch.diag(torch.tensor([0.0, 1, 1, 1, 1, 1])))
    only_self = dense(*knn_graph(FEATURES, H=0), 6)
    assert torch.equal(only_self, torch.diag(torch.tensor([0.0, 1, 1, 1, 1, 1])))


def test_operators_by_hand():
    edge_index = torch.tensor([[2, 3, 1], [1, 1, 2]])  # item 1 <- items 2 and 3; item 2 <- item 1
    x = torch.tensor([[0.0], [1.0], [2.0], [4.0]])
    assert RelationGraph(edge_index, torch.ones(3), 4, "sum")(x).flatten().tolist() == [0.0, 6.0, 1.0, 0.0]
    assert RelationGraph(edge_index, torch.ones(3), 4, "mean")(x).flatten().tolist() == [0.0, 3.0, 1.0, 0.0]
    sym = RelationGraph(edge_index, torch.ones(3), 4, "lightgcn")(x).flatten()
    # deg_in(1) = 2, deg_out(2) = deg_out(3) = 1: 2/sqrt(2) + 4/sqrt(2); item 2: deg_in 1, deg_out(1) 1 -> 1
    assert torch.allclose(sym, torch.tensor([0.0, 6 / 2**0.5, 1.0, 0.0]))


def test_an_operator_registered_by_name_is_usable():
    @register_operator("double")
    def double(edge_index, edge_weight, num_nodes):
        return 2 * edge_weight

    try:
        edge_index = torch.tensor([[2], [1]])
        out = RelationGraph(edge_index, torch.ones(1), 3, "double")(torch.tensor([[0.0], [0.0], [3.0]]))
        assert out.flatten().tolist() == [0.0, 6.0, 0.0]
    finally:
        del OPERATORS["double"]


@pytest.mark.parametrize("directed", [False, True])  # a co-occurrence graph, or a directed top-H-like one
@pytest.mark.parametrize("operator", ["sum", "mean", "lightgcn"])
def test_sparse_and_edge_index_paths_agree(operator, directed):
    """Same output and same gradient in every layout (the CSR backward multiplies by a stored transpose)."""
    torch.manual_seed(0)
    edge_index, edge_weight = cooccurrence_graph([np.random.default_rng(s).integers(1, 50, 20) for s in range(30)], 50)
    if directed:
        edge_index = torch.stack([torch.arange(1, 50).repeat_interleave(3), torch.randint(1, 50, (49 * 3,))])
        edge_weight = torch.rand(edge_index.size(1))
    x = torch.randn(50, 8, requires_grad=True)
    layouts = ["edge_index", "csr"] + (["sparse_tensor"] if WITH_TORCH_SPARSE else [])
    outs, grads = [], []
    for layout in layouts:
        out = RelationGraph(edge_index, edge_weight, 50, operator, layout)(x)
        (grad,) = torch.autograd.grad(out.square().sum(), x)
        outs.append(out.detach())
        grads.append(grad)
    for out, grad in zip(outs[1:], grads[1:]):
        assert torch.allclose(out, outs[0], atol=1e-5) and torch.allclose(grad, grads[0], atol=1e-5)


@pytest.mark.skipif(not WITH_TORCH_SPARSE, reason="torch-sparse is not installed (optional extra 'sparse')")
def test_sparse_tensor_layout_is_the_default_when_installed():
    graph = RelationGraph(torch.tensor([[1], [2]]), torch.ones(1), 3)
    assert graph.layout == "sparse_tensor"


def test_approximate_and_exact_graphs_agree_on_a_small_set():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(20, 16))
    data = torch.tensor(centres[rng.integers(20, size=800)] + 0.3 * rng.normal(size=(800, 16)), dtype=torch.float32)
    exact = exact_topk(data, 10)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a run's --threads 1
    try:
        approximate = approximate_topk(data, 10)
        assert torch.get_num_threads() == 1  # the search leaves the run's thread count as it found it
    finally:
        torch.set_num_threads(threads)
    assert knn_recall(approximate, exact) >= 0.95
    assert not (approximate == torch.arange(800)[:, None]).any()  # never its own neighbour


def test_exact_blocks_give_the_same_graph():
    data = torch.randn(300, 8)
    assert torch.equal(exact_topk(data, 5, block=7), exact_topk(data, 5, block=4096))


def test_exact_search_for_chosen_rows_and_neighbour_lists_back_from_edges():
    data = torch.randn(301, 8)
    full = exact_topk(data[1:], 5)
    rows = torch.tensor([7, 0, 299])
    assert torch.equal(exact_topk(data[1:], 5, rows=rows), full[rows])
    edge_index, _ = knn_graph(data, 5, "exact")
    assert torch.equal(neighbour_lists(edge_index, 301, 5), full + 1)
    with pytest.raises(ValueError, match="not laid out"):
        neighbour_lists(edge_index.flip(1), 301, 5)


def test_store_reuses_rebuilds_on_change_and_on_corruption(tmp_path, caplog):
    store = GraphStore(tmp_path, "toy")
    calls = []

    def build(window):
        calls.append(window)
        return cooccurrence_graph(TOY, 4, window=window)

    first = store.get("cooc", {"window": 0}, [TOY], lambda: build(0))
    again = store.get("cooc", {"window": 0}, [TOY], lambda: build(0))
    assert calls == [0] and torch.equal(first[1], again[1])
    store.get("cooc", {"window": 1}, [TOY], lambda: build(1))
    assert calls == [0, 1]
    store.get("cooc", {"window": 0}, [TOY[:2]], lambda: build(0))  # other training data: a new graph
    assert calls == [0, 1, 0]
    path = sorted(tmp_path.glob("toy/cooc-*.pt"), key=lambda p: p.stat().st_mtime)[0]
    path.write_bytes(path.read_bytes()[:50])
    with caplog.at_level(logging.WARNING):
        rebuilt = store.get("cooc", {"window": 0}, [TOY], lambda: build(0))
    assert "cached graph is corrupt" in caplog.text and calls == [0, 1, 0, 0]
    assert torch.equal(rebuilt[1], first[1])
