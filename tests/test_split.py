"""Leave-one-out: what each stage may see, and the paper's Table 1 on the real Scientific set."""

from __future__ import annotations

import math

import numpy as np
from conftest import SHARED, shared_dataset

from mdsrec_pyg.data import load_dataset, make_synthetic
from mdsrec_pyg.data.dataset import LeaveOneOutSplit


def test_targets_never_leak_into_earlier_inputs():
    seqs = [np.array([5, 6, 7, 8, 9]), np.array([1, 2, 3])]
    split = LeaveOneOutSplit(seqs)
    assert [s.tolist() for s in split.train] == [[5, 6, 7], [1]]
    valid_x, valid_y = split.eval_inputs("valid", max_len=4)
    test_x, test_y = split.eval_inputs("test", max_len=4)
    assert valid_x.tolist() == [[0, 5, 6, 7], [0, 0, 0, 1]] and valid_y.tolist() == [8, 2]
    assert test_x.tolist() == [[5, 6, 7, 8], [0, 0, 1, 2]] and test_y.tolist() == [9, 3]


def test_windows_predict_every_training_item_once_and_never_valid_or_test():
    ds = make_synthetic(seed=3, num_users=300)
    split = ds.split()
    for max_len in (50, 4):
        windows = split.train_windows(max_len)
        assert windows.shape[1] == max_len + 1
        inputs, targets = windows[:, :-1], windows[:, 1:]
        predicted = np.sort(targets[inputs != 0])
        expected = np.sort(np.concatenate([s[1:] for s in split.train]))
        assert np.array_equal(predicted, expected)
    # position by position: a user's held-out items are never a training input or target
    for u, seq in enumerate(ds.sequences):
        assert len(split.train[u]) == len(seq) - 2 and np.array_equal(split.train[u], seq[:-2])
        assert np.array_equal(split.valid_inputs[u], seq[:-2]) and np.array_equal(split.test_inputs[u], seq[:-1])


def test_scientific_matches_table_1_in_the_paper_conventions():
    shared_dataset("scientific")
    stats = load_dataset("scientific", data_dir=SHARED).statistics()
    paper = stats["paper"]
    assert (paper["users"], paper["items"], paper["inters"]) == (8443, 4386, 50985)
    assert math.isclose(round(paper["avg_n"], 3), 6.039)
    assert math.isclose(round(paper["sparsity"], 4), 0.9986)
    assert (stats["plain"]["users"], stats["plain"]["items"], stats["plain"]["inters"]) == (8442, 4385, 59427)


def test_clothing_matches_table_1_in_the_paper_conventions():
    shared_dataset("clothing")
    paper = load_dataset("clothing", data_dir=SHARED).statistics()["paper"]
    assert (paper["users"], paper["items"], paper["inters"]) == (39388, 23034, 239290)
    assert math.isclose(round(paper["avg_n"], 3), 6.075)


def test_sports_matches_table_1_in_the_paper_conventions():
    """The paper's Table 1 for Sports: 35,599 users, 18,358 items, 260,739 interactions, average 7.325,
    sparsity 99.96% (its average rounds 260,739 / 35,599 = 7.3243 up; every other figure is exact)."""
    shared_dataset("sports")
    ds = load_dataset("sports", data_dir=SHARED, feature_dir=None)
    paper = ds.statistics()["paper"]
    assert (paper["users"], paper["items"], paper["inters"]) == (35599, 18358, 260739)
    assert abs(paper["avg_n"] - 7.325) < 1e-3 and round(paper["sparsity"], 4) == 0.9996
    assert ds.item_text is not None and all(ds.item_text[1:])  # every item has its phrase
    assert ds.item_text[ds.item_ids.index("B0000C4LOU")] == "jump rope olympic style jump"


def test_unisrec_rebuild_agrees_with_every_row_of_the_real_files():
    """Each (history, target) row of the real Scientific files is a window of the rebuilt sequence."""
    folder = shared_dataset("scientific_mm")
    ds = load_dataset("scientific_mm", data_dir=SHARED)
    for stage, offset in (("valid", 2), ("test", 1)):
        for line in list((folder / f"Scientific.{stage}.inter").read_text().splitlines())[1:]:
            user, history, target = line.split("\t")
            seq = ds.sequences[int(user)] - 1
            assert seq[-offset] == int(target)
            assert seq[: len(seq) - offset][-50:].tolist() == [int(i) for i in history.split()]


def test_every_reader_feeds_a_split_that_holds_out_the_last_two_interactions(tmp_path):
    from test_readers import USERS, write_unisrec

    from mdsrec_pyg.data.readers import read_mmrec, read_sequence_file, read_unisrec

    (tmp_path / "seq").mkdir()
    (tmp_path / "seq" / "user_sequence.txt").write_text("".join(f"{u} {' '.join(i)}\n" for u, i in USERS.items()))
    (tmp_path / "mm").mkdir()
    lines = ["userID\titemID\trating\ttimestamp\tx_label"]
    lines += [
        f"{u}\t{ord(a) - ord('a')}\t5\t{t}\t0"  # MMRec's user ids are 0..n-1
        for u, items in enumerate(USERS.values())
        for t, a in enumerate(items)
    ]
    (tmp_path / "mm" / "mm.inter").write_text("\n".join(lines) + "\n")
    datasets = [
        read_sequence_file(tmp_path / "seq"),
        read_mmrec(tmp_path / "mm"),
        read_unisrec(write_unisrec(tmp_path / "uni")),
    ]
    for dataset in datasets:
        split = dataset.split()
        windows = split.train_windows(max_len=50)
        for u, seq in enumerate(dataset.sequences):
            n = len(seq)
            assert np.array_equal(split.train[u], seq[: n - 2])  # neither held-out interaction is trained on
            assert np.array_equal(split.valid_inputs[u], seq[: n - 2]) and split.valid_targets[u] == seq[n - 2]
            assert np.array_equal(split.test_inputs[u], seq[: n - 1]) and split.test_targets[u] == seq[n - 1]
        assert (windows != 0).sum() == sum(len(s) - 2 for s in dataset.sequences if len(s) - 2 >= 2)
