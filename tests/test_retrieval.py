"""Top-K by inner product: every model's score is one inner product (user_vectors x catalog_vectors); the
exact chunked search equals a plain sort; the FAISS index finds >= 95% of the exact top-10 on a generated
catalog."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import built_model

from mdsrec_pyg.config import build_config
from mdsrec_pyg.data import make_synthetic
from mdsrec_pyg.evaluate import trim_left_padding
from mdsrec_pyg.models import MODELS
from mdsrec_pyg.retrieval import ExactIndex, build_index, recall_at_k


@pytest.fixture(scope="module")
def synthetic():
    dataset = make_synthetic(seed=0)
    return dataset, dataset.split()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_inner_product_form_gives_the_models_scores(name, synthetic, tmp_path):
    dataset, split = synthetic
    config = build_config(
        "synthetic",
        {"model": name, "hidden_size": 16, "inner_size": 16, "max_len": 8, "graph_dir": str(tmp_path)},
        where_held=True,
    )
    model = built_model(config, dataset, split).eval()
    inputs, _ = split.eval_inputs("test", config.data.max_len)
    with torch.no_grad():
        state = model.user_state(torch.as_tensor(trim_left_padding(inputs[:64])))
        scores = model.score(state, 0, dataset.num_items)
        inner = model.user_vectors(state) @ model.catalog_vectors(state).T
    assert inner.shape == scores.shape == (64, dataset.num_items)
    torch.testing.assert_close(inner, scores, rtol=1e-5, atol=1e-5)


def brute_force(users: torch.Tensor, items: torch.Tensor, k: int, exclude: list[np.ndarray]):
    """The reference: every score, padding and exclusions at -inf, sorted by (score desc, id asc)."""
    scores = (users @ items.T).numpy().astype(np.float64)
    scores[:, 0] = -np.inf
    for row, seen in enumerate(exclude):
        scores[row, seen] = -np.inf
    order = np.lexsort((np.broadcast_to(np.arange(items.size(0)), scores.shape), -scores), axis=-1)[:, :k]
    return np.take_along_axis(scores, order, 1), order


def test_exact_index_equals_a_full_sort_across_chunks_with_exclusions():
    gen = torch.Generator().manual_seed(0)
    items, users = torch.randn(1001, 8, generator=gen), torch.randn(40, 8, generator=gen)
    items[500] = items[501]  # an exact tie: the lower id comes first
    exclude = [np.arange(1 + u, 1 + u + u % 7) for u in range(40)]
    scores, ids = ExactIndex(items, chunk=97).search(users, 10, exclude)
    ref_scores, ref_ids = brute_force(users, items, 10, exclude)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-5)
    assert not np.isin(0, ids)


def test_fewer_candidates_than_k_leave_empty_places():
    items = torch.eye(4)  # padding and three items
    scores, ids = ExactIndex(items, chunk=2).search(torch.ones(1, 4), 5, [np.array([2])])
    assert ids[0].tolist() == [1, 3, -1, -1, -1]
    assert np.isneginf(scores[0, 2:]).all()


def clustered_catalog(items: int, dim: int, queries: int, seed: int = 0):
    """Items around 500 cluster centres in a 32-d latent mapped to ``dim``, as encoder outputs are; queries
    near random items (users whose taste is near something in the catalog)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((500, 32))
    mapping = rng.standard_normal((32, dim)) / np.sqrt(32)
    latent = centres[rng.integers(500, size=items)] + 0.5 * rng.standard_normal((items, 32))
    vectors = torch.as_tensor(latent @ mapping, dtype=torch.float32)
    users = vectors[rng.integers(1, items, size=queries)] + 0.3 * torch.randn(queries, dim)
    return vectors, users


def test_faiss_index_recall_at_10_against_exact_is_at_least_095():
    pytest.importorskip("faiss", reason="faiss-cpu is not installed (the optional '[faiss]' extra)")
    items, users = clustered_catalog(50_000, 64, 500)
    exact_scores, exact = ExactIndex(items).search(users, 10)
    index = build_index("faiss", items)
    found_scores, found = index.search(users, 10)
    assert recall_at_k(found, exact) >= 0.95
    # what it finds carries the exact inner products, and never padding
    assert 0 not in found
    row = found[0][found[0] >= 0]
    np.testing.assert_allclose(found_scores[0, : len(row)], (users[0] @ items[row].T).numpy(), rtol=1e-4)


def test_faiss_index_leaves_out_excluded_items():
    pytest.importorskip("faiss", reason="faiss-cpu is not installed (the optional '[faiss]' extra)")
    items, users = clustered_catalog(5_000, 16, 20, seed=1)
    _, exact = ExactIndex(items).search(users, 10)
    exclude = [row[:3] for row in exact]
    _, found = build_index("faiss", items, nprobe=64).search(users, 10, exclude)
    for row, seen in zip(found, exclude):
        assert not set(row) & set(seen.tolist())


def test_recall_at_k_counts_shared_ids():
    assert recall_at_k(np.array([[1, 2, 3], [4, 5, -1]]), np.array([[3, 2, 9], [4, 6, 7]])) == pytest.approx(
        (2 / 3 + 1 / 3) / 2
    )
