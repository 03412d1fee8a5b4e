"""RecBole's atomic files: typed headers in any column order, sequences by timestamp (ties by file order), item
text from the .item file, one line for each bad file, and MovieLens-100K as RecBole ships it."""

from __future__ import annotations

import pytest
from conftest import shared_dataset

from mdsrec_pyg.data import load_dataset
from mdsrec_pyg.data.readers import read_recbole
from mdsrec_pyg.data.registry import detect_format
from mdsrec_pyg.errors import InputError

INTER = """timestamp:float\trating:float\titem_id:token\tuser_id:token\tnote:token_seq
30\t5\tb\tu1\tx y
10\t4\ta\tu1\t
20\t3\tc\tu1\t
20\t3\td\tu1\t
5\t1\tc\tu2\t
6\t2\ta\tu2\t
7\t2\tb\tu2\t
"""
ITEM = """item_id:token\ttitle:token_seq\tyear:float\tcategories:token_seq
a\tThe A\t1999\tx
c\tThe C\t2001\ty z
"""


def write(folder, inter=INTER, item=ITEM):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "toy.inter").write_text(inter)
    if item is not None:
        (folder / "toy.item").write_text(item)
    return folder


def test_sequences_follow_the_timestamps_ties_in_file_order_and_items_their_first_appearance(tmp_path):
    dataset = read_recbole(write(tmp_path / "toy"))
    assert detect_format(tmp_path / "toy") == "recbole"
    assert dataset.item_ids == ["[PAD]", "b", "a", "c", "d"]  # first appearance in the file
    named = {u: [dataset.item_ids[i] for i in s] for u, s in zip(dataset.user_ids, dataset.sequences)}
    assert named == {"u1": ["a", "c", "d", "b"], "u2": ["c", "a", "b"]}  # c before d: same time, file order
    assert dataset.item_text == ["", "", "The A x", "The C y z", ""]  # token fields joined; year (float) is not


def test_other_field_names_are_given_by_setting(tmp_path):
    inter = "uid:token\tiid:token\tts:float\nu\ti1\t2\nu\ti2\t1\nu\ti3\t3\n"
    dataset = read_recbole(write(tmp_path / "t", inter, None), fields={"user": "uid", "item": "iid", "time": "ts"})
    assert [dataset.item_ids[i] for i in dataset.sequences[0]] == ["i2", "i1", "i3"]


@pytest.mark.parametrize(
    "inter, message",
    [
        ("user_id\titem_id:token\n", "toy.inter:1: header column 1: expected field:type"),
        ("user_id:token\titem_id:text\n", "toy.inter:1: header column 2: expected field:type"),
        (
            "user_id:token\titem:token\nu\ti\n",
            "toy.inter:1: no item field 'item_id' in the header (it has user_id, item)",
        ),
        (
            "user_id:token\titem_id:token\ttimestamp:float\nu\ti\tyesterday\n",
            "toy.inter:2: field 'timestamp': expected a number, got 'yesterday'",
        ),
        (
            "user_id:token\titem_id:token\ttimestamp:float\nu\ti\tnan\n",
            "toy.inter:2: field 'timestamp': expected a finite number",
        ),
        ("user_id:token\titem_id:token\ttimestamp:float\nu\ti\n", "toy.inter:2: expected 3 tab-separated fields"),
        ("user_id:token\titem_id:token\n\ti\n", "toy.inter:2: field 'user_id': empty"),
        ("user_id:token\titem_id:token\nu\ti\n", "no user has the 3 items"),
    ],
)
def test_a_bad_atomic_file_is_one_line_naming_file_line_and_field(tmp_path, inter, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_recbole(write(tmp_path / "toy", inter, None))


def test_movielens_100k_as_recbole_ships_it():
    folder = shared_dataset("ml-100k")
    dataset = load_dataset(str(folder))
    plain = dataset.statistics()["plain"]
    # RecBole's documented figures for ml-100k: 943 users, 1,682 items, 100,000 interactions, sparsity 93.70%
    assert (plain["users"], plain["items"], plain["inters"]) == (943, 1682, 100_000)
    assert round(plain["sparsity"], 4) == 0.9370
    toy_story = dataset.item_ids.index("1")
    assert dataset.item_text[toy_story] == "Toy Story 1995 Animation Children's Comedy"
