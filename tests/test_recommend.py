"""Recommendations from a trained run: the evaluator's ranks, original ids, seen items left out, every user
exported once, and one line (exit 2) for a changed dataset, a corrupt or missing best.pt, an unfinished run
and bad flags."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT, built_model, script

from mdsrec_pyg import Recommender
from mdsrec_pyg.config import build_config
from mdsrec_pyg.data import make_synthetic
from mdsrec_pyg.errors import InputError
from mdsrec_pyg.evaluate import target_ranks
from mdsrec_pyg.recommend import load_trained

TINY = ["--epochs", "1", "--set", "hidden_size=16", "--set", "inner_size=16", "--set", "max_len=8"]


def recommend_cli(*args: str) -> subprocess.CompletedProcess:
    return script("recommend.py", *args)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A finished one-epoch MDSRec run on synthetic."""
    folder = tmp_path_factory.mktemp("recommend")
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "experiments" / "run.py"),
            *TINY,
            "--set",
            f"graph_dir={folder / 'graphs'}",
            "--out",
            str(folder / "run"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return folder / "run"


@pytest.fixture(scope="module")
def synthetic():
    return make_synthetic(seed=42)


@pytest.mark.parametrize("name", ["mdsrec", "sasrec", "pop"])
def test_a_users_test_item_gets_the_evaluators_rank(name, synthetic, tmp_path):
    """recommend() on each user's training + validation items over the whole catalog ranks the test item
    where the evaluator does (1 + the other items scoring at least as high; pop's ties test the rule)."""
    dataset = synthetic
    split = dataset.split()
    config = build_config(
        "synthetic",
        {
            "model": name,
            "hidden_size": 16,
            "inner_size": 16,
            "max_len": 8,
            "graph_dir": str(tmp_path),
            "eval_batch_size": 128,
        },
        where_held=True,
    )
    model = built_model(config, dataset, split).eval()
    users = np.arange(300)
    inputs, targets = split.eval_inputs("test", config.data.max_len)
    expected = target_ranks(
        model,
        inputs[users],
        targets[users],
        max_k=dataset.num_items,
        batch_size=config.evaluation.eval_batch_size,
        num_items=dataset.num_items,
    )
    recommender = Recommender(config, dataset, model)
    histories = [[dataset.item_ids[i] for i in split.test_inputs[u]] for u in users]
    found = recommender.recommend(histories, k=dataset.num_items - 1, exclude_seen=False)
    with torch.no_grad():
        direct = model.score(model.user_state(torch.as_tensor(inputs[users[:5]])), 0, dataset.num_items)
    for user, recommendation, rank in zip(users, found, expected):
        assert len(recommendation.items) == dataset.num_items - 1  # every item but padding
        scores = dict(zip(recommendation.items, recommendation.scores))
        target = scores[dataset.item_ids[targets[user]]]
        others = np.array([s for item, s in scores.items() if item != dataset.item_ids[targets[user]]])
        if name != "pop" and np.abs(others - target).min() < 1e-5:
            continue  # a float near-tie: the summed and the concatenated products may round apart
        assert 1 + (others >= target).sum() == rank
        if user < 5:  # the scores are the model's
            ids = [dataset.item_ids.index(item) for item in recommendation.items[:20]]
            np.testing.assert_allclose(recommendation.scores[:20], direct[user, ids].numpy(), rtol=1e-4, atol=1e-5)


def test_seen_items_are_left_out_only_when_asked(run_dir):
    recommender = Recommender.load(run_dir)
    dataset = recommender.dataset
    users = dataset.user_ids[:50]
    seen = [{dataset.item_ids[i] for i in dataset.sequences[u]} for u in range(50)]
    for recommendation, history in zip(recommender.recommend_users(users, k=30), seen):
        assert len(recommendation.items) == 30 and not set(recommendation.items) & history
        assert recommendation.scores == sorted(recommendation.scores, reverse=True)
    kept = recommender.recommend_users(users, k=30, exclude_seen=False)
    assert any(set(r.items) & history for r, history in zip(kept, seen))


def test_loading_a_trained_mdsrec_clusters_and_searches_nothing(run_dir, monkeypatch):
    """The interest assignments and the graphs come from best.pt: no k-means, no neighbour search, no
    co-occurrence count at load time, and the model is the one that was evaluated (its test ranks)."""
    from mdsrec_pyg import models
    from mdsrec_pyg.graphs import relations

    def refused(*args, **kwargs):
        raise AssertionError("recomputed at load time")

    for name in ("kmeans_assignment", "knn_graph", "cooccurrence_graph", "build_relation_graphs"):
        monkeypatch.setattr(relations, name, refused)
    monkeypatch.setattr(models, "build_relation_graphs", refused)
    recommender = Recommender.load(run_dir)
    ranks = np.load(run_dir / "ranks.npz")["test"]
    split = recommender.dataset.split()
    inputs, targets = split.eval_inputs("test", recommender.config.data.max_len)
    got = target_ranks(recommender.model, inputs, targets, 20, num_items=recommender.dataset.num_items)
    assert len(got) == len(ranks) and got.max() <= 21
    assert np.array_equal(got, ranks)


def test_original_ids_round_trip_and_known_users_use_their_whole_history(run_dir):
    recommender = Recommender.load(run_dir)
    dataset = recommender.dataset
    user = dataset.user_ids[7]
    whole = [dataset.item_ids[i] for i in dataset.sequences[7]]
    by_user = recommender.recommend_users([user], k=10)[0]
    by_history = recommender.recommend([whole], k=10)[0]
    assert by_user.items == by_history.items
    assert all(item in recommender.item_of for item in by_user.items)
    assert [dataset.item_ids[recommender.item_of[i]] for i in by_user.items] == by_user.items


def test_unknown_ids_are_named_or_dropped(run_dir, caplog):
    recommender = Recommender.load(run_dir)
    history = [recommender.dataset.item_ids[3], "NOT-AN-ITEM", recommender.dataset.item_ids[5]]
    with pytest.raises(InputError, match="NOT-AN-ITEM"):
        recommender.recommend([history])
    dropped = recommender.recommend([history], unknown="drop")[0]
    assert dropped.items == recommender.recommend([[history[0], history[2]]])[0].items
    assert "NOT-AN-ITEM" in caplog.text
    with pytest.raises(InputError, match="no-such-user"):
        recommender.recommend_users(["no-such-user"])
    with pytest.raises(InputError, match="no item of the catalog"):
        recommender.recommend([["NOT-AN-ITEM"]], unknown="drop")


def test_mdsrec_explains_each_item_by_its_rank_in_every_channel(run_dir):
    recommender = Recommender.load(run_dir)
    recommendation = recommender.recommend_users(recommender.dataset.user_ids[:3], k=5, explain=True)[0]
    ranks = recommendation.channel_ranks
    assert set(ranks) == {"id", "image", "text", "final"}
    assert ranks["final"] == [1, 2, 3, 4, 5]  # the final channel is the recommendation itself
    assert all(len(r) == 5 and all(1 <= x < recommender.dataset.num_items for x in r) for r in ranks.values())


def test_all_users_export_has_every_user_exactly_once(run_dir, tmp_path):
    out = tmp_path / "top.csv"
    done = recommend_cli("--run", str(run_dir), "--all-users", "--k", "7", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    rows = list(csv.DictReader(out.open()))
    recommender = Recommender.load(run_dir)
    assert [r["user_id"] for r in rows] == recommender.dataset.user_ids
    assert all(len(r["items"].split()) == 7 == len(r["scores"].split()) for r in rows)
    first = recommender.recommend_users([rows[0]["user_id"]], k=7)[0]
    assert rows[0]["items"].split() == first.items
    summary = json.loads((tmp_path / "top.csv.json").read_text())
    assert summary["users"] == len(rows) and summary["users_per_second"] > 0
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically: no temporary file left


def test_exported_vectors_give_the_scores(run_dir, tmp_path):
    done = recommend_cli(
        "--run",
        str(run_dir),
        "--all-users",
        "--out",
        str(tmp_path / "top.csv"),
        "--export-vectors",
        str(tmp_path / "vectors"),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    items = np.load(tmp_path / "vectors" / "item_vectors.npy")
    users = np.load(tmp_path / "vectors" / "user_vectors.npy")
    item_ids = (tmp_path / "vectors" / "item_ids.txt").read_text().split()
    first = next(csv.DictReader((tmp_path / "top.csv").open()))
    best = [item_ids[i] for i in np.argsort(-(users[0] @ items.T), kind="stable")]
    recommender = Recommender.load(run_dir)
    seen = {recommender.dataset.item_ids[i] for i in recommender.dataset.sequences[0]}
    assert [i for i in best if i not in seen][:10] == first["items"].split()


def test_the_cli_prints_a_table_per_user(run_dir):
    recommender = Recommender.load(run_dir)
    users = recommender.dataset.user_ids[:2]
    done = recommend_cli("--run", str(run_dir), "--user", *users, "--k", "3", "--explain")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("| # | item | score | rank id | rank image | rank text | rank final | text |") == 2
    assert "image cluster" in done.stdout  # the synthetic set's item text


def test_a_changed_dataset_is_refused(run_dir):
    other = make_synthetic(seed=1)  # same names and sizes, other sequences
    with pytest.raises(InputError, match="has changed since this run was trained"):
        load_trained(run_dir, dataset=other)
    nudged = make_synthetic(seed=0)  # the training data (as run.py loads it) with one feature value changed
    nudged.features["text"][5, 0] += 1e-3
    with pytest.raises(InputError, match="has changed since this run was trained"):
        load_trained(run_dir, dataset=nudged)
    load_trained(run_dir, dataset=nudged, allow_changed_data=True)  # when forced


def copy_run(run_dir, tmp_path):
    import shutil

    return shutil.copytree(run_dir, tmp_path / "copy")


BAD_RUNS = {
    "corrupt best.pt": (
        lambda run: (run / "best.pt").write_bytes((run / "best.pt").read_bytes()[:-100] + b"x" * 100),
        "best.pt: corrupt",
    ),
    "missing best.pt": (lambda run: (run / "best.pt").unlink(), "best.pt: not found"),
    "unfinished run": (lambda run: (run / "results.json").unlink(), "the run has not finished"),
    "no config.json": (lambda run: (run / "config.json").unlink(), "config.json: not found"),
    "changed data": (
        lambda run: (run / "results.json").write_text(
            json.dumps({**json.loads((run / "results.json").read_text()), "data": {"fingerprint": "0" * 64}})
        ),
        "has changed since this run was trained",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_RUNS))
def test_a_bad_run_folder_is_one_line_exit_2(case, run_dir, tmp_path):
    spoil, message = BAD_RUNS[case]
    run = copy_run(run_dir, tmp_path)
    spoil(run)
    done = recommend_cli("--run", str(run), "--user", "u0")
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


BAD_FLAGS = [
    (["--k", "0", "--user", "u0"], "--k: got 0; expected an integer >= 1"),
    (["--user", "nobody"], "'nobody'"),
    (["--history", "NOT-AN-ITEM i1"], "'NOT-AN-ITEM'"),
    (["--history", " "], "--history: an empty history"),
    (["--all-users", "--out", "."], "is a folder"),
    (["--all-users", "--out", "x.parquet"], None),  # pyarrow absent: one line; present: it writes
    (["--user", "u0", "--nprobe", "4"], "--nprobe"),
    (["--user", "u0", "--index", "annoy"], "invalid choice"),
]


@pytest.mark.parametrize("args,message", BAD_FLAGS)
def test_bad_flags_are_one_line_exit_2(args, message, run_dir, tmp_path):
    if args[-1] == "x.parquet":
        pytest.importorskip("pyarrow", reason="pyarrow is not installed; this case checks a .parquet export with it")
        args = [*args[:-1], str(tmp_path / "x.parquet")]
        done = recommend_cli("--run", str(run_dir), *args)
        assert done.returncode == 0, done.stderr
        return
    done = recommend_cli("--run", str(run_dir), *args)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_a_parquet_path_without_pyarrow_is_one_line(run_dir, tmp_path):
    try:
        import pyarrow  # noqa: F401

        pytest.skip("pyarrow is installed: .parquet is a valid output")
    except ImportError:
        pass
    done = recommend_cli("--run", str(run_dir), "--all-users", "--out", str(tmp_path / "x.parquet"))
    assert done.returncode == 2 and "needs pyarrow" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "x.parquet").exists()


def tiny_recommender(model: str, tmp_path, **settings) -> Recommender:
    dataset = make_synthetic(seed=42)
    config = build_config(
        "synthetic",
        {"model": model, "hidden_size": 16, "inner_size": 16, "max_len": 8, "graph_dir": str(tmp_path), **settings},
        where_held=True,
    )
    return Recommender(config, dataset, built_model(config, dataset, dataset.split()))


def copy_of(recommender: Recommender, item: int) -> dict:
    return {m: f[item : item + 1].numpy() for m, f in recommender.dataset.features.items()}


def test_a_new_item_that_copies_a_catalog_items_features_gets_its_modal_embeddings(tmp_path):
    """Ê^m of a new item is the mean E^id of its nearest catalog items: for an exact copy of item 5 (Â^m built
    from the raw features, cre off) those are item 5's own neighbours, so its Ê^m is item 5's."""
    recommender = tiny_recommender("mdsrec", tmp_path, cre=False)
    before = recommender.item_vectors.clone()
    recommender.add_items(["new5"], copy_of(recommender, 5))
    new = recommender.item_of["new5"]
    modal = recommender.tables.modal
    assert new == len(before) and set(modal) == {"image", "text"}
    for m in modal:
        assert torch.allclose(modal[m][new], modal[m][5], atol=1e-6)
    assert torch.equal(recommender.tables.items[new], torch.zeros(16))  # E^id zero: never trained
    assert torch.allclose(recommender.item_vectors[: len(before)], before)  # the catalog's scores stay
    everything = recommender.recommend([["i1"]], k=recommender.dataset.num_items, exclude_seen=False)[0]
    assert "new5" in everything.items
    assert "new5" not in recommender.recommend([["i1", "new5"]], k=len(everything.items))[0].items


def test_a_new_items_id_embedding_can_be_its_neighbours_mean(tmp_path):
    recommender = tiny_recommender("mdsrec", tmp_path, cre=False)
    weights = recommender.model.item_embedding.weight.detach().clone()
    recommender.add_items(["new5"], copy_of(recommender, 5), id_embedding="neighbours")
    assert torch.linalg.norm(recommender.tables.items[-1]) > 0
    assert recommender.tables.items[-1].norm() < weights[1:].norm(dim=1).max()  # a mean, not a new vector


def test_unisrec_reads_a_new_item_through_its_adaptors(tmp_path):
    recommender = tiny_recommender("unisrec", tmp_path, inductive=True)
    recommender.add_items(["new7"], copy_of(recommender, 7))
    assert torch.allclose(recommender.item_vectors[-1], recommender.item_vectors[7], atol=1e-6)


@pytest.mark.parametrize(
    "model, ids, features, expected",
    [
        ("sasrec", ["x"], None, "model SASRec reads no item features: a new item needs retraining"),
        ("sasrecf", ["i3"], None, "ids: 'i3' is in the catalog already"),
        ("sasrecf", ["x", "x"], None, "ids: expected distinct new ids"),
        ("sasrecf", ["x"], {"image": np.zeros((1, 3))}, "features: no rows for modality"),
        ("sasrecf", ["x"], "shape", "features: modality image: got shape (2,"),
        ("sasrecf", ["x"], "nan", "features: modality image: a value is not finite"),
    ],
)
def test_new_items_that_cannot_join_are_one_line(model, ids, features, expected, tmp_path):
    recommender = tiny_recommender(model, tmp_path)
    rows = copy_of(recommender, 2)
    if features == "shape":
        features = {m: np.concatenate([f, f]) for m, f in rows.items()}
    elif features == "nan":
        features = {m: np.full_like(f, np.nan) for m, f in rows.items()}
    with pytest.raises(InputError, match=re.escape(expected)):
        recommender.add_items(ids, rows if features is None else features)
    assert len(recommender.item_vectors) == recommender.dataset.num_items == 1 + len(recommender.item_of)


def test_the_cli_recommends_new_items_from_a_folder(run_dir, tmp_path):
    dataset = load_trained(run_dir)[1]
    folder = tmp_path / "new"
    folder.mkdir()
    (folder / "items.txt").write_text("brand-new\n")
    (folder / "item_text.txt").write_text("brand-new\ta thing listed today\n")
    for m, matrix in dataset.features.items():
        np.save(folder / f"{m}_feat.npy", matrix[1:2].numpy())
    done = recommend_cli("--run", str(run_dir), "--history", "i1", "--k", "1000", "--new-items", str(folder))
    assert done.returncode == 0, done.stderr
    assert "`brand-new`" in done.stdout and "a thing listed today" in done.stdout
    assert "added 1 new items" in done.stderr
    (folder / "text_feat.npy").unlink()
    done = recommend_cli("--run", str(run_dir), "--user", "u1", "--new-items", str(folder))
    assert done.returncode == 2 and "features: no rows for modality text" in done.stderr
