"""Bad data files: each is one line naming the file (and line or field) and what was expected."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import built_model

from mdsrec_pyg.config import build_config
from mdsrec_pyg.data.readers import read_mmrec, read_sequence_file
from mdsrec_pyg.errors import InputError

HEADER = "userID\titemID\trating\ttimestamp\tx_label\n"


def mmrec(folder, rows: list[str], **features: np.ndarray):
    folder.mkdir(exist_ok=True)
    (folder / "mm.inter").write_text(HEADER + "".join(r + "\n" for r in rows))
    for name, matrix in features.items():
        np.save(folder / f"{name}_feat.npy", matrix)
    return lambda: read_mmrec(folder, name="mm")


def good_rows(users: int = 2, items: int = 3) -> list[str]:
    return [f"{u}\t{i}\t5\t{10 * u + i}\t0" for u in range(users) for i in range(items)]


CASES = {
    "timestamp NaN": (
        lambda d: mmrec(d, good_rows()[:-1] + ["1\t2\t5\tnan\t0"]),
        "mm.inter:7: field 'timestamp': expected a finite number, got 'nan'",
    ),
    "timestamp infinite": (
        lambda d: mmrec(d, ["0\t0\t5\tinf\t0"] + good_rows()[1:]),
        "mm.inter:2: field 'timestamp': expected a finite number, got 'inf'",
    ),
    "item id far beyond the catalog": (
        lambda d: mmrec(d, good_rows(2, 30)[:-1] + ["1\t3000000\t5\t1\t0"]),
        "MMRec ids are 0..n-1 without gaps, but 31 distinct ids go up to 3,000,000",
    ),
    "user ids with a gap": (
        lambda d: mmrec(d, good_rows()[:3] + [r.replace("1\t", "5\t", 1) for r in good_rows()[3:]]),
        "field 'userID': MMRec ids are 0..n-1 without gaps; 2 users have ids from 0 to 5",
    ),
    "user ids that are not integers": (
        lambda d: mmrec(d, ["u" + r for r in good_rows()]),
        "field 'userID': MMRec user ids are integers 0..n-1, got 'u0'",
    ),
    "no interactions": (lambda d: mmrec(d, []), "mm.inter: no interactions"),
    "complex features": (
        lambda d: mmrec(d, good_rows(), text=np.ones((3, 2), dtype=np.complex64)),
        "text_feat.npy: expected a real-valued (floating point) matrix, got dtype complex64",
    ),
    "string features": (
        lambda d: mmrec(d, good_rows(), text=np.array([["a"], ["b"], ["c"]])),
        "text_feat.npy: expected a real-valued (floating point) matrix, got dtype <U1",
    ),
    "boolean features": (
        lambda d: mmrec(d, good_rows(), image=np.ones((3, 2), dtype=bool)),
        "image_feat.npy: expected a real-valued (floating point) matrix, got dtype bool",
    ),
    "NaN features": (
        lambda d: mmrec(d, good_rows(), image=np.full((3, 2), np.nan, dtype=np.float32)),
        "image_feat.npy: row 0 has NaN or infinite values",
    ),
    "every user too short": (
        lambda d: mmrec(d, [f"{u}\t{u}\t5\t1\t0" for u in range(3)]),
        "no user has the 3 items a leave-one-out split needs",
    ),
    "sequence file with only short users": (
        lambda d: (d.mkdir(), (d / "user_sequence.txt").write_text("u0 a b\nu1 c\n"), lambda: read_sequence_file(d))[
            -1
        ],
        "no user has the 3 items a leave-one-out split needs",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_file_is_one_line(case, tmp_path):
    make, message = CASES[case]
    load = make(tmp_path / "data")
    with pytest.raises(InputError) as caught:
        load()
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_byte_order_mark_is_not_part_of_an_id(tmp_path):
    (tmp_path / "user_sequence.txt").write_bytes("\ufeffu0 a b c\nu1 a c b\n".encode("utf-8"))
    (tmp_path / "items.txt").write_bytes("\ufeffa\nb\nc\n".encode("utf-8"))
    np.save(tmp_path / "text_feat.npy", np.eye(3, dtype=np.float32))
    dataset = read_sequence_file(tmp_path)
    assert dataset.user_ids == ["u0", "u1"] and dataset.item_ids[1:] == ["a", "b", "c"]
    assert dataset.features["text"][1].tolist() == [1.0, 0.0, 0.0]


def test_a_model_that_needs_features_says_how_to_get_them(tmp_path):
    (tmp_path / "user_sequence.txt").write_text("u0 a b c\nu1 a c b\n")
    dataset = read_sequence_file(tmp_path)
    config = build_config("synthetic", {"model": "sasrecf"})
    with pytest.raises(InputError, match=r"needs item features.*add <modality>_feat.npy files"):
        built_model(config, dataset, dataset.split())
    dataset.item_text = ["", "text a", "text b", "text c"]
    with pytest.raises(InputError, match=r"python experiments/encode_text.py --dataset"):
        built_model(config, dataset, dataset.split())
