"""Property-based: random well-formed files load to the same in-memory form as a simple independent reader;
randomly corrupted files either load to that same form or fail with the one-line InputError, never a
traceback of another kind and never a silent wrong load."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mdsrec_pyg.data.readers import read_mmrec, read_sequence_file, read_unisrec
from mdsrec_pyg.errors import InputError

ITEM = st.sampled_from([f"i{n}" for n in range(12)])
USERS = st.lists(st.lists(ITEM, min_size=3, max_size=9), min_size=1, max_size=6)
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def expected_form(sequences: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    """The independent reader: users' sequences of original item ids, in order."""
    return [f"u{u}" for u in range(len(sequences))], sequences


def loaded_form(dataset) -> tuple[list[str], list[list[str]]]:
    return dataset.user_ids, [[dataset.item_ids[i] for i in seq] for seq in dataset.sequences]


def write_sequence_file(folder: Path, sequences: list[list[str]]) -> Path:
    (folder / "user_sequence.txt").write_text("".join(f"u{u} {' '.join(s)}\n" for u, s in enumerate(sequences)))
    return folder / "user_sequence.txt"


def mmrec_ids(sequences: list[list[str]]) -> dict[str, int]:
    """MMRec numbers items 0..n-1 without gaps: the distinct names in sorted order."""
    return {name: n for n, name in enumerate(sorted({i for s in sequences for i in s}))}


def write_mmrec(folder: Path, sequences: list[list[str]]) -> Path:
    ids = mmrec_ids(sequences)
    lines = ["userID\titemID\trating\ttimestamp\tx_label"]
    for u, seq in enumerate(sequences):
        for t, item in enumerate(seq):
            lines.append(f"{u}\t{ids[item]}\t5\t{100 * t}\t0")
    (folder / "d.inter").write_text("\n".join(lines) + "\n")
    return folder / "d.inter"


def write_unisrec(folder: Path, sequences: list[list[str]]) -> Path:
    items = sorted({i for s in sequences for i in s})
    (folder / "T.item2index").write_text("".join(f"{a}\t{n}\n" for n, a in enumerate(items)))
    (folder / "T.user2index").write_text("".join(f"u{u}\t{u}\n" for u in range(len(sequences))))
    header = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
    rows = {"train": [], "valid": [], "test": []}
    for u, seq in enumerate(sequences):
        idx = [items.index(a) for a in seq]
        for t in range(len(idx) - 3, 0, -1):
            rows["train"].append(f"{u}\t{' '.join(map(str, idx[:t]))}\t{idx[t]}\n")
        rows["valid"].append(f"{u}\t{' '.join(map(str, idx[:-2]))}\t{idx[-2]}\n")
        rows["test"].append(f"{u}\t{' '.join(map(str, idx[:-1]))}\t{idx[-1]}\n")
    for stage, lines in rows.items():
        (folder / f"T.{stage}.inter").write_text(header + "".join(lines))
    return folder / "T.test.inter"


def mmrec_form(dataset) -> tuple[list[str], list[list[str]]]:
    # MMRec ids are integers: users as written, items named "i<id>"
    return dataset.user_ids, [[f"i{dataset.item_ids[i]}" for i in seq] for seq in dataset.sequences]


def mmrec_expected(sequences: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    ids = mmrec_ids(sequences)
    return [str(u) for u in range(len(sequences))], [[f"i{ids[i]}" for i in s] for s in sequences]


FORMATS = {
    "sequence_file": (write_sequence_file, read_sequence_file, loaded_form, expected_form),
    "mmrec": (write_mmrec, lambda folder: read_mmrec(folder, name="d"), mmrec_form, mmrec_expected),
    "unisrec": (write_unisrec, read_unisrec, loaded_form, expected_form),
}


@SETTINGS
@given(sequences=USERS, fmt=st.sampled_from(sorted(FORMATS)))
def test_well_formed_files_load_exactly(sequences, fmt):
    write, read, form, expect = FORMATS[fmt]
    with tempfile.TemporaryDirectory() as tmp:
        write(Path(tmp), sequences)
        assert form(read(Path(tmp))) == expect(sequences)


CORRUPTIONS = ["drop_field", "non_integer", "empty_line_only_user", "truncate", "garbage_bytes"]


def corrupt(path: Path, how: str, position: int) -> None:
    lines = path.read_text().splitlines(keepends=True)
    headed = path.suffix == ".inter"
    n = headed + position % (len(lines) - headed)  # never the header of headed formats
    if how == "drop_field":
        parts = lines[n].rstrip("\n").split("\t" if "\t" in lines[n] else " ")
        lines[n] = ("\t" if "\t" in lines[n] else " ").join(parts[:-1]) + "\n" if len(parts) > 1 else "\n"
    elif how == "non_integer":
        lines[n] = lines[n].replace("1", "x", 1).replace("0", "y", 1)
    elif how == "empty_line_only_user":
        lines[n] = lines[n].split("\t")[0].split(" ")[0] + "\n"
    elif how == "truncate":
        text = "".join(lines)
        path.write_text(text[: len(text) * 2 // 3])
        return
    elif how == "garbage_bytes":
        path.write_bytes(b"\xff\xfe" + "".join(lines).encode())
        return
    path.write_text("".join(lines))


class Malformed(Exception):
    pass


def simple_sequence_file(folder: Path) -> dict[str, list[str]]:
    users: dict[str, list[str]] = {}
    for line in (folder / "user_sequence.txt").read_bytes().decode("utf-8").splitlines():
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) < 2 or tokens[0] in users:
            raise Malformed
        users[tokens[0]] = tokens[1:]
    return users


def simple_mmrec(folder: Path) -> dict[str, list[str]]:
    lines = [l for l in (folder / "d.inter").read_bytes().decode("utf-8").splitlines() if l.strip()]
    if not lines or lines[0].split("\t") != ["userID", "itemID", "rating", "timestamp", "x_label"]:
        raise Malformed
    events: dict[str, list[tuple[float, int, str]]] = {}
    for n, line in enumerate(lines[1:]):
        parts = line.split("\t")
        if len(parts) != 5 or not parts[1].isdigit():
            raise Malformed
        try:
            stamp = float(parts[3])
        except ValueError:
            raise Malformed from None
        if not math.isfinite(stamp):
            raise Malformed
        events.setdefault(parts[0], []).append((stamp, n, f"i{int(parts[1])}"))
    items = {int(item[1:]) for e in events.values() for _, _, item in e}
    if not events or items != set(range(len(items))):  # MMRec's item ids are 0..n-1 without gaps
        raise Malformed
    if not all(u.isdigit() for u in events) or sorted(map(int, events)) != list(range(len(events))):
        raise Malformed  # and so are its user ids
    return {u: [item for _, _, item in sorted(e)] for u, e in events.items()}


def simple_unisrec(folder: Path) -> dict[str, list[str]]:
    def table(name):
        rows = [l.split("\t") for l in (folder / name).read_bytes().decode("utf-8").splitlines() if l.strip()]
        if any(len(r) != 2 or not r[1].isdigit() for r in rows):
            raise Malformed
        return {int(r[1]): r[0] for r in rows}

    items, users = table("T.item2index"), table("T.user2index")
    chains: dict[int, list[list[int]]] = {}
    for stage in ("train", "valid", "test"):
        lines = [l for l in (folder / f"T.{stage}.inter").read_bytes().decode("utf-8").splitlines() if l.strip()]
        if not lines or lines[0] != "user_id:token\titem_id_list:token_seq\titem_id:token":
            raise Malformed
        for line in lines[1:]:
            parts = line.split("\t")
            if len(parts) != 3 or not all(t.isdigit() for t in [parts[0], parts[2], *parts[1].split()]):
                raise Malformed
            if not parts[1].split():
                raise Malformed
            row = [int(t) for t in parts[1].split()] + [int(parts[2])]
            if int(parts[0]) not in users or any(i not in items for i in row):
                raise Malformed
            chains.setdefault(int(parts[0]), []).append(row)
    if set(chains) != set(users):
        raise Malformed
    out = {}
    for user, rows in chains.items():
        full = max(rows, key=len)  # histories here are never cut, so the longest row is the whole sequence
        if any(full[: len(r)] != r for r in rows):
            raise Malformed
        out[users[user]] = [items[i] for i in full]
    return out


SIMPLE = {"sequence_file": simple_sequence_file, "mmrec": simple_mmrec, "unisrec": simple_unisrec}


@SETTINGS
@given(
    sequences=USERS,
    fmt=st.sampled_from(sorted(FORMATS)),
    how=st.sampled_from(CORRUPTIONS),
    position=st.integers(0, 1000),
)
def test_corrupted_files_fail_with_one_line_or_load_as_a_simple_reader_does(sequences, fmt, how, position):
    write, read, form, _ = FORMATS[fmt]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = write(folder, sequences)
        corrupt(path, how, position)
        try:
            expected = {u: s for u, s in SIMPLE[fmt](folder).items() if len(s) >= 3}
        except (Malformed, UnicodeDecodeError):
            expected = None
        if not expected:  # no user left to split: nothing to train on, which readers refuse
            expected = None
        try:
            dataset = read(folder)
        except InputError as err:
            assert "\n" not in str(err) and folder.name in str(err)
            assert expected is None, f"rejected a file the simple reader accepts: {err}"
            return
        assert expected is not None, "loaded a file the simple reader rejects"
        users, seqs = form(dataset)
        assert dict(zip(users, seqs)) == expected
