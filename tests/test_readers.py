"""The three readers load small hand-written files into the same in-memory form, and reject bad input with
one line naming the file, the line or field, and what was expected."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mdsrec_pyg.data import load_dataset
from mdsrec_pyg.data.readers import read_mmrec, read_sequence_file, read_unisrec
from mdsrec_pyg.errors import InputError

HEADER = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
# three users; user 0: items a b c d e (0..4), user 1: c a b, user 2: e d c b a (5 items)
USERS = {"u0": ["a", "b", "c", "d", "e"], "u1": ["c", "a", "b"], "u2": ["e", "d", "c", "b", "a"]}
ITEMS = ["a", "b", "c", "d", "e"]


def write_unisrec(folder: Path, max_history: int = 50, features: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "T.item2index").write_text("".join(f"{a}\t{i}\n" for i, a in enumerate(ITEMS)))
    (folder / "T.user2index").write_text("".join(f"{u}\t{i}\n" for i, u in enumerate(USERS)))
    rows = {"train": [], "valid": [], "test": []}
    for u, (user, items) in enumerate(USERS.items()):
        idx = [ITEMS.index(a) for a in items]
        n = len(idx)
        for t in range(n - 3, 0, -1):  # descending history length, as in the real files
            rows["train"].append((u, idx[:t][-max_history:], idx[t]))
        rows["valid"].append((u, idx[: n - 2][-max_history:], idx[n - 2]))
        rows["test"].append((u, idx[: n - 1][-max_history:], idx[n - 1]))
    for stage, stage_rows in rows.items():
        body = "".join(f"{u}\t{' '.join(map(str, h))}\t{t}\n" for u, h, t in stage_rows)
        (folder / f"T.{stage}.inter").write_text(HEADER + body)
    (folder / "T.text").write_text("item_id:token\ttext:token_seq\n" + "".join(f"{a}\ttext of {a}\n" for a in ITEMS))
    for suffix, matrix in (features or {}).items():
        np.asarray(matrix, dtype="<f4").tofile(folder / f"T.{suffix}")
    return folder


def expected_sequences(order: list[str]) -> list[list[int]]:
    """The users' sequences in the reader's item indexing (index = position in ``order`` + 1)."""
    return [[order.index(a) + 1 for a in items] for items in USERS.values()]


def test_unisrec_rebuilds_full_sequences_even_from_truncated_histories(tmp_path):
    feats = {"feat1CLS": np.arange(5 * 4, dtype=float).reshape(5, 4)}
    for max_history in (50, 2):
        ds = read_unisrec(
            write_unisrec(tmp_path / str(max_history), max_history, feats), feature_files={"text": ("feat1CLS", 4)}
        )
        assert [s.tolist() for s in ds.sequences] == expected_sequences(ITEMS)
        assert ds.item_ids == ["[PAD]"] + ITEMS and ds.user_ids == list(USERS)
        assert ds.features["text"].shape == (6, 4)
        assert ds.features["text"][0].abs().sum() == 0  # padding row
        assert ds.features["text"][3].tolist() == [8.0, 9.0, 10.0, 11.0]  # item "c" (source row 2)
        assert ds.item_text[1] == "text of a"


def test_mmrec_orders_by_timestamp(tmp_path):
    lines = ["userID\titemID\trating\ttimestamp\tx_label"]
    for user, items in enumerate(USERS.values()):  # MMRec's user ids are 0..n-1
        for t, a in reversed(list(enumerate(items))):  # file order is not time order
            lines.append(f"{user}\t{ITEMS.index(a)}\t5\t{1000 + t}\t0")
    (tmp_path / "toy.inter").write_text("\n".join(lines) + "\n")
    np.save(tmp_path / "image_feat.npy", np.ones((5, 3), dtype=np.float32))
    ds = read_mmrec(tmp_path, name="toy")
    assert [s.tolist() for s in ds.sequences] == expected_sequences(ITEMS)
    assert set(ds.features) == {"image"} and ds.features["image"].shape == (6, 3)


def test_sequence_file_indexes_items_by_first_appearance(tmp_path):
    (tmp_path / "user_sequence.txt").write_text("".join(f"{u} {' '.join(i)}\n" for u, i in USERS.items()))
    order = ["a", "b", "c", "d", "e"]  # first appearance in u0's line
    (tmp_path / "items.txt").write_text("e\nd\nc\nb\na\n")
    np.save(tmp_path / "text_feat.npy", np.arange(5, dtype=np.float32)[::-1].reshape(5, 1).copy())
    ds = read_sequence_file(tmp_path)
    assert [s.tolist() for s in ds.sequences] == expected_sequences(order)
    assert ds.features["text"][1:, 0].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]  # "a" is row 4 of the matrix, 0.0


def test_sequence_file_reads_item_text_by_item_id(tmp_path):
    (tmp_path / "user_sequence.txt").write_text("u0 a b c\nu1 c d\n")
    (tmp_path / "item_text.txt").write_text("d\tfour legs\nzz\tnever bought\nb\ttwo\ta tab inside\na\t one \n")
    ds = read_sequence_file(tmp_path)
    assert ds.item_ids == ["[PAD]", "a", "b", "c", "d"]
    assert ds.item_text == ["", "one", "two\ta tab inside", "", "four legs"]  # c has no line: empty


def test_bad_item_text_is_named_with_its_line(tmp_path):
    (tmp_path / "user_sequence.txt").write_text("u0 a b c\n")
    for text, expected in (
        ("a\tone\nb no tab\n", "item_text.txt:2: expected an item id, a tab"),
        ("a\tone\na\tagain\n", "item_text.txt:2: item 'a' listed twice"),
        ("\tno id\n", "item_text.txt:1: expected an item id"),
    ):
        (tmp_path / "item_text.txt").write_text(text)
        assert expected in error_of(lambda: read_sequence_file(tmp_path))


def test_short_users_are_left_out_with_one_warning(tmp_path, caplog):
    (tmp_path / "user_sequence.txt").write_text("u0 a b c\nu1 a b\nu2 c\nu3 a b c d\n")
    ds = read_sequence_file(tmp_path)
    assert ds.user_ids == ["u0", "u3"]
    assert "left out 2 users with fewer than 3 items" in caplog.text


def error_of(call) -> str:
    with pytest.raises(InputError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    return message


def test_bad_inputs_name_file_line_and_expectation(tmp_path):
    folder = write_unisrec(tmp_path / "uni")
    inter = folder / "T.train.inter"
    good = inter.read_text()

    inter.write_text(good.replace("\t3\n", "\tx\n", 1))
    assert "T.train.inter:5: field 'item_id': expected an integer, got 'x'" in error_of(lambda: read_unisrec(folder))
    inter.write_text(HEADER + "0\t0 1\n")
    assert "T.train.inter:2: expected 3 tab-separated fields" in error_of(lambda: read_unisrec(folder))
    inter.write_text(good.replace("user_id:token", "user:token"))
    assert "T.train.inter:1: expected header" in error_of(lambda: read_unisrec(folder))
    inter.write_text(HEADER + "0\t0 1\t99\n")
    assert "item 99 is not in the item map" in error_of(lambda: read_unisrec(folder))
    inter.write_text(good)

    (folder / "T.feat1CLS").write_bytes(b"\0" * (5 * 4 * 4 + 4))
    msg = error_of(lambda: read_unisrec(folder, feature_files={"text": ("feat1CLS", 4)}))
    assert "T.feat1CLS" in msg and "not a multiple of dim 4" in msg
    np.zeros((4, 4), dtype="<f4").tofile(folder / "T.feat1CLS")
    assert "4 rows of dim 4, expected 5" in error_of(
        lambda: read_unisrec(folder, feature_files={"text": ("feat1CLS", 4)})
    )
    bad = np.zeros((5, 4), dtype="<f4")
    bad[2, 1] = np.nan
    bad.tofile(folder / "T.feat1CLS")
    assert "row 2 has NaN or infinite values" in error_of(
        lambda: read_unisrec(folder, feature_files={"text": ("feat1CLS", 4)})
    )

    seq = tmp_path / "seq"
    seq.mkdir()
    (seq / "user_sequence.txt").write_text("u0 a b c\nu0 a b c\n")
    assert "user_sequence.txt:2: duplicate user 'u0'" in error_of(lambda: read_sequence_file(seq))
    (seq / "user_sequence.txt").write_text("u0 a b c\nu1\n")
    assert "user_sequence.txt:2: expected a user id followed by at least one item id" in error_of(
        lambda: read_sequence_file(seq)
    )

    mm = tmp_path / "mm"
    mm.mkdir()
    (mm / "mm.inter").write_text("userID\titemID\trating\ttimestamp\tx_label\n0\t1\t5\tyesterday\t0\n")
    assert "mm.inter:2: field 'timestamp': expected a number, got 'yesterday'" in error_of(lambda: read_mmrec(mm))
    (mm / "mm.inter").write_text(
        "userID\titemID\trating\ttimestamp\tx_label\n0\t0\t5\t1\t0\n0\t1\t5\t2\t0\n0\t2\t5\t3\t0\n"
    )
    np.save(mm / "text_feat.npy", np.zeros((2, 3), dtype=np.float32))
    assert "text_feat.npy: 2 rows, expected 3" in error_of(lambda: read_mmrec(mm))

    assert "unknown dataset 'nope'" in error_of(lambda: load_dataset("nope", data_dir=tmp_path))
    assert "baby: no folder" in error_of(lambda: load_dataset("baby", data_dir=tmp_path))


def test_a_file_that_is_not_npy_is_named(tmp_path):
    (tmp_path / "user_sequence.txt").write_text("u0 a b c\n")
    (tmp_path / "items.txt").write_text("a\nb\nc\n")
    (tmp_path / "text_feat.npy").write_bytes(b"not numpy at all")
    assert "text_feat.npy: not a .npy file" in error_of(lambda: read_sequence_file(tmp_path))


def test_any_folder_under_the_data_dir_is_a_dataset_by_its_name(tmp_path):
    from mdsrec_pyg.names import list_datasets

    toys = tmp_path / "data" / "toys"
    toys.mkdir(parents=True)
    (toys / "user_sequence.txt").write_text("".join(f"u{u} a b c d\n" for u in range(5)))
    dataset = load_dataset("toys", data_dir=tmp_path / "data")
    assert dataset.name == "toys" and dataset.num_users == 5
    listed = [line for line in list_datasets(tmp_path / "data").splitlines() if line.startswith("toys ")]
    assert len(listed) == 1 and f"found at {toys}" in listed[0]
    assert "expected a folder under --data-dir" in error_of(lambda: load_dataset("toy", data_dir=tmp_path / "data"))
