"""The cold-start protocol: held-out items never reach training, come back by their features for the test,
and are scored apart from the trained ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mdsrec_pyg.config import build_config
from mdsrec_pyg.data import build_dataset, make_synthetic
from mdsrec_pyg.data.cold import hold_out_items
from mdsrec_pyg.errors import InputError
from mdsrec_pyg.experiment import run_experiment
from mdsrec_pyg.models.base import MostPopular
from mdsrec_pyg.recommend import Recommender
from mdsrec_pyg.runs import RunFolder
from mdsrec_pyg.train import Trainer


def small_dataset():
    """Six items, feature row i = [i, 0], and text t<i>."""
    sequences = [np.array(s) for s in ([1, 2, 3, 4], [3, 5, 1, 6], [4, 6, 2], [6, 1, 3, 5])]
    features = {"text": np.array([[i, 0.0] for i in range(7)], dtype=np.float32)}
    ids = ["pad", *"abcdef"]
    return build_dataset("toy", sequences, ids, ["u1", "u2", "u3", "u4"], features, [f"t{i}" for i in range(7)])


def test_held_out_items_leave_every_sequence_but_as_a_last_item():
    dataset = small_dataset()
    cold = hold_out_items(dataset, 2 / 6, seed=0)
    held = {dataset.item_ids.index(i) for i in cold.dataset.item_ids[cold.warm + 1 :]}
    assert cold.warm == 4 and cold.cold == 2 and len(held) == 2
    old_of = {new: dataset.item_ids.index(i) for new, i in enumerate(cold.dataset.item_ids)}
    expected = []  # by hand: a held-out item stays only where it is last, so it can be a test target alone
    for s in dataset.sequences:
        kept = [i for i in s[:-1] if i not in held] + [s[-1]]
        if len(kept) >= 3:
            expected.append(kept)
    assert [[old_of[i] for i in s] for s in cold.dataset.sequences] == expected
    assert all((s[:-1] <= cold.warm).all() for s in cold.dataset.sequences)  # cold only as the last item
    # items renumbered warm first, their features, ids and text moved with them
    for new, old in old_of.items():
        assert torch.equal(cold.dataset.features["text"][new], dataset.features["text"][old])
        assert cold.dataset.item_text[new] == dataset.item_text[old]
    catalog = cold.catalog
    assert catalog.num_items == cold.warm + 1 and catalog.features["text"].shape == (cold.warm + 1, 2)
    assert all((s <= cold.warm).all() for s in catalog.sequences)
    new, trained = cold.new_features([], "mdsrec")
    assert torch.equal(torch.cat([trained["text"], new["text"]]), cold.dataset.features["text"])


def test_the_trainer_receives_no_held_out_item_before_the_test():
    dataset = make_synthetic(seed=1, num_users=400, num_items=120)
    cold = hold_out_items(dataset, 0.1, seed=3)
    split = cold.dataset.split()
    config = build_config("synthetic", {"model": "sasrecf", "epochs": 1})
    trainer = Trainer(torch.nn.Linear(1, 1), split, config, cold.warm + 1)  # the tensors, not a model, matter here
    assert trainer.windows.max() <= cold.warm  # every training input and target
    for stage in ("valid", "test"):
        inputs, targets = split.eval_inputs(stage, config.data.max_len)
        assert inputs.max() <= cold.warm
        if stage == "valid":
            assert targets.max() <= cold.warm
    assert cold.is_cold(split.test_targets).sum() > 0  # some users test on a held-out item


def test_the_same_seed_holds_out_the_same_items_and_another_seed_others():
    dataset = make_synthetic(seed=1, num_users=200, num_items=100)
    a, b, c = (hold_out_items(dataset, 0.2, s).dataset.item_ids[-20:] for s in (0, 0, 1))
    assert a == b and sorted(a) != sorted(c)


@pytest.mark.parametrize("share", [0.001, 0.9999])
def test_a_share_that_holds_out_no_item_or_every_item_is_one_line(share):
    with pytest.raises(InputError, match="expected a share that holds out at least one item and keeps one"):
        hold_out_items(small_dataset(), share, seed=0)


def test_most_popular_counts_a_new_item_zero():
    model = MostPopular(np.array([0, 3, 1]))
    model.add_items({"text": torch.ones(2, 4)}, {"text": torch.ones(3, 4)})
    assert model.counts.tolist() == [0, 3, 1, 0, 0]


def test_a_cold_start_run_scores_held_out_targets_apart_and_refuses_to_recommend(tmp_path):
    dataset = make_synthetic(seed=0, num_users=600, num_items=150)
    config = build_config("synthetic", {"model": "sasrecf", "epochs": 2}, ["cold_items=0.2"])
    results = run_experiment(config, tmp_path / "run", dataset=dataset)
    cold = hold_out_items(dataset, 0.2, 0)
    targets = cold.dataset.split().test_targets
    assert results["cold_start"] == {"items": 30, "warm_items": 120, "users": int(cold.is_cold(targets).sum())}
    ranks = {stage: RunFolder(tmp_path / "run").ranks(stage) for stage in ("test", "test_cold", "test_warm")}
    assert np.array_equal(ranks["test_cold"], ranks["test"][cold.is_cold(targets)])
    assert np.array_equal(ranks["test_warm"], ranks["test"][~cold.is_cold(targets)])
    users = len(ranks["test"])
    for metric, value in results["test"].items():  # the whole test is the users' mix of cold and warm
        mixed = (
            results["test_cold"][metric] * len(ranks["test_cold"])
            + results["test_warm"][metric] * (users - len(ranks["test_cold"]))
        ) / users
        assert value == pytest.approx(mixed)
    assert ranks["test"].max() <= 21  # ranked among all 150 items, capped at max(K) + 1
    with pytest.raises(InputError, match="a cold-start run .* never trained on them"):
        Recommender.load(tmp_path / "run", dataset=dataset)
