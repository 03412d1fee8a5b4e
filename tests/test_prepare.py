"""``prepare.py``: a raw log becomes a dataset folder: each (user, item) pair once, a k-core reached at its fixed
point (users and items that fall below k only after the other filter ran), sequences in time order, ties in
file order; bad logs and options are one line, and an existing dataset is never replaced unasked."""

from __future__ import annotations

import json

import pytest
from conftest import script, shared_dataset

from mdsrec_pyg.data import load_dataset
from mdsrec_pyg.data.prepare import LogColumns, prepare
from mdsrec_pyg.errors import InputError

COLUMNS = LogColumns("user_id", "item_id", "timestamp")


def write_log(path, rows, header="user_id,item_id,timestamp"):
    path.write_text(header + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return path


def sequences(folder):
    return {line.split()[0]: line.split()[1:] for line in (folder / "user_sequence.txt").read_text().splitlines()}


def test_a_fixed_point_k_core_removes_what_falls_below_k_only_after_the_other_filter(tmp_path):
    rows = [
        ("u1", "a", 1), ("u1", "b", 2), ("u2", "a", 1), ("u2", "b", 2),  # the 2-core
        ("u3", "a", 1), ("u3", "c", 2),  # c is seen once: once it goes, u3 has one item left
        ("u4", "d", 1),  # one item: u4 goes first, then d (seen by u5 only), then u5, then e, then u6
        ("u5", "d", 1), ("u5", "e", 2), ("u6", "e", 1), ("u6", "b", 3),
    ]  # fmt: skip
    report = prepare(write_log(tmp_path / "log.csv", rows), tmp_path / "out", COLUMNS, min_user=2, min_item=2)
    assert sequences(tmp_path / "out") == {"u1": ["a", "b"], "u2": ["a", "b"]}
    users, items = report["filters"][1], report["filters"][2]
    assert (users["users"], items["items"]) == (4, 3)  # u3-u6; c, d, e
    assert len(users["passes"]) == 4 and users["passes"][-1] == {"users": 0, "items": 0, "interactions": 0}
    assert report["kept"] == {"users": 2, "items": 2, "interactions": 4}
    assert json.loads((tmp_path / "out" / "prepare.json").read_text()) == report


def test_duplicates_go_and_sequences_follow_time_with_ties_in_file_order(tmp_path):
    rows = [("u1", "c", 30), ("u1", "a", 10), ("u1", "b", 20), ("u1", "a", 40), ("u1", "d", 20)]
    report = prepare(write_log(tmp_path / "log.csv", rows), tmp_path / "out", COLUMNS, min_user=1, min_item=1)
    assert sequences(tmp_path / "out") == {"u1": ["a", "b", "d", "c"]}  # a once, at 10; b before d (file order)
    assert report["filters"][0]["interactions"] == 1
    rows_mode = prepare(
        write_log(tmp_path / "log.csv", rows + [("u1", "a", 40)]),
        tmp_path / "rows",
        COLUMNS,
        min_user=1,
        min_item=1,
        dedup="rows",
    )
    assert sequences(tmp_path / "rows") == {"u1": ["a", "b", "d", "c", "a"]} and rows_mode["kept"]["interactions"] == 5


def test_amazon_reviews_and_metadata_make_a_dataset_with_item_text(tmp_path):
    reviews = [
        {"reviewerID": f"r{u}", "asin": f"B{(u + j) % 6}", "unixReviewTime": 100 * j + u}
        for u in range(6)
        for j in range(5)
    ]
    (tmp_path / "reviews.jsonl").write_text("".join(json.dumps(r) + "\n" for r in reviews))
    meta = [{"asin": f"B{i}", "title": f"thing {i}", "categories": [["Sports", "Bikes"]]} for i in range(6)]
    (tmp_path / "meta.jsonl").write_text("".join(json.dumps(m) + "\n" for m in meta))
    done = script(
        "prepare.py",
        *("--log", str(tmp_path / "reviews.jsonl"), "--preset", "amazon", "--items", str(tmp_path / "meta.jsonl")),
        *("--out", str(tmp_path / "sports_raw")),
    )
    assert done.returncode == 0, done.stderr
    dataset = load_dataset(str(tmp_path / "sports_raw"), "data", feature_dir=None)
    assert (dataset.num_users, dataset.num_items - 1) == (6, 6)
    assert dataset.item_text[dataset.item_ids.index("B3")] == "thing 3 Sports Bikes"
    assert "users 7, items 7" in done.stdout  # its Table 1 line (padding counted)


@pytest.mark.parametrize(
    "log, options, expected",
    [
        ("user,item,timestamp\nu,i,1\n", {}, "log.csv:1: no column 'user_id', 'item_id' in the header"),
        ("user_id,item_id,timestamp\nu,i,yesterday\n", {}, "log.csv:2: column 'timestamp': expected a number"),
        ("user_id,item_id,timestamp\nu,i\n", {}, "log.csv:2: expected 3 fields, got 2"),
        ("user_id,item_id,timestamp\nu,i,1\n", {}, "no interactions are left after the 5/5-core filter"),
        ("user_id,item_id,timestamp\nu,i,1\n", {"min_user": 0}, "--min-user: got 0; expected an integer >= 1"),
        ("user_id,item_id,timestamp\nu,i,1\n", {"dedup": "all"}, "--dedup: got 'all'; expected one of pairs, rows"),
        ("user_id,item_id,timestamp\nu a,i,1\n", {"min_user": 1, "min_item": 1}, "user id 'u a' holds whitespace"),
    ],
)
def test_a_bad_log_or_option_is_one_line(tmp_path, log, options, expected):
    (tmp_path / "log.csv").write_text(log)
    with pytest.raises(InputError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        prepare(tmp_path / "log.csv", tmp_path / "out", COLUMNS, **options)
    assert not (tmp_path / "out" / "user_sequence.txt").exists()


def test_a_dataset_already_there_is_kept_unless_replace(tmp_path):
    log = write_log(tmp_path / "log.csv", [("u1", "a", 1), ("u1", "b", 2)])
    prepare(log, tmp_path / "out", COLUMNS, min_user=1, min_item=1)
    before = (tmp_path / "out" / "user_sequence.txt").read_text()
    write_log(log, [("u2", "a", 1), ("u2", "b", 2)])
    with pytest.raises(InputError, match="holds a dataset already"):
        prepare(log, tmp_path / "out", COLUMNS, min_user=1, min_item=1)
    assert (tmp_path / "out" / "user_sequence.txt").read_text() == before
    prepare(log, tmp_path / "out", COLUMNS, min_user=1, min_item=1, replace=True)
    assert sequences(tmp_path / "out") == {"u2": ["a", "b"]}


def test_a_log_built_from_the_shared_sports_set_prepares_back_to_its_table_1(tmp_path):
    folder = shared_dataset("sports")
    original = load_dataset(str(folder), "data", feature_dir=None)
    rows = []
    for user, sequence in zip(original.user_ids, original.sequences):
        for step, item in enumerate(sequence.tolist()):
            rows.append((user, original.item_ids[item], 1_000_000 - 10 * (len(sequence) - step)))
    rows.reverse()  # out of time order in the file
    rows += rows[:500]  # duplicates
    rows += [(f"short{u}", original.item_ids[1 + u], 5) for u in range(20)]  # users below 5
    report = prepare(write_log(tmp_path / "log.csv", rows), tmp_path / "out", COLUMNS)
    prepared = load_dataset(str(tmp_path / "out"), "data", feature_dir=None)
    assert report["filters"][0]["interactions"] == 500 and report["filters"][1]["users"] == 20
    assert prepared.statistics() == original.statistics()
