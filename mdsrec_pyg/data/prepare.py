"""Raw interaction logs -> a dataset folder the readers take: deduplicated, k-core filtered to a fixed point,
chronological, one user a line (``user_sequence.txt``) with the item text of an optional metadata file
(``item_text.txt``) and a report of what each filter removed (``prepare.json``).

The log is read in chunks (CSV, TSV, JSON lines; Parquet with the optional ``pyarrow``) and held as integer
codes: 16 bytes a row (user and item codes, the time) plus the distinct ids, never the rows as text, so a log of
tens of millions of rows fits in a few GB. Deduplication keeps each (user, item) pair once, at its earliest time
(``pairs``: the paper's sets hold each pair once), or drops only rows repeated exactly (``rows``). Sequences are
ordered by time, ties in file order.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .. import io
from ..errors import InputError, shorten

FORMATS = ("csv", "tsv", "jsonl", "parquet")
SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}
PRESETS = {  # column names of known exports
    "amazon": {"user": "reviewerID", "item": "asin", "time": "unixReviewTime"},
    "recbole": {"user": "user_id:token", "item": "item_id:token", "time": "timestamp:float"},
}
AMAZON_TEXT = ("title", "categories", "brand")  # Amazon's item metadata fields that make the item text
DEDUPLICATION = ("pairs", "rows")
CHUNK_ROWS = 1_000_000


@dataclass
class InteractionLog:
    """Interactions as codes: ``users[i]`` and ``items[i]`` index ``user_ids`` and ``item_ids``; rows in file
    order."""

    users: np.ndarray  # int32
    items: np.ndarray  # int32
    times: np.ndarray  # float64
    user_ids: list[str]
    item_ids: list[str]

    def __len__(self) -> int:
        return len(self.users)

    def keep(self, rows: np.ndarray) -> "InteractionLog":
        return InteractionLog(self.users[rows], self.items[rows], self.times[rows], self.user_ids, self.item_ids)

    def counts(self) -> dict[str, int]:
        """Users and items with at least one interaction, and the interactions (linear: no sort)."""
        return {
            "users": int(np.count_nonzero(np.bincount(self.users, minlength=len(self.user_ids)))),
            "items": int(np.count_nonzero(np.bincount(self.items, minlength=len(self.item_ids)))),
            "interactions": len(self),
        }


@dataclass
class FilterReport:
    """What one filter removed."""

    step: str
    users: int = 0
    items: int = 0
    interactions: int = 0
    passes: list[dict[str, int]] = field(default_factory=list)


def log_format(path: Path, given: str | None) -> str:
    fmt = given or SUFFIXES.get(path.suffix.lower())
    if fmt not in FORMATS:
        raise InputError(
            path, f"cannot tell the format from {path.suffix or 'no suffix'}; give --format, one of {FORMATS}"
        )
    return fmt


def records(path: Path, fmt: str, columns: list[str]) -> Iterator[tuple[int, list[Any]]]:
    """``(line, [values of columns])`` for every record of a log; one line naming the file, the line and the
    column for a missing column."""
    if not path.is_file():
        raise InputError(path, "file not found")
    if fmt == "parquet":
        yield from parquet_records(path, columns)
        return
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            if fmt == "jsonl":
                yield from json_records(path, handle, columns)
            else:
                yield from table_records(path, handle, columns, "\t" if fmt == "tsv" else ",")
    except UnicodeDecodeError as err:
        raise InputError(path, f"not UTF-8 text ({err.reason} at byte {err.start})") from None


def table_records(path: Path, handle: Any, columns: list[str], delimiter: str) -> Iterator[tuple[int, list[Any]]]:
    reader = csv.reader(handle, delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        raise InputError(path, "empty file; expected a header line naming the columns")
    missing = [c for c in columns if c not in header]
    if missing:
        raise InputError(path, f"no column {', '.join(map(repr, missing))} in the header {shorten(header)}", 1)
    where = [header.index(c) for c in columns]
    for row in reader:
        if not row:
            continue
        if len(row) < len(header):
            raise InputError(path, f"expected {len(header)} fields, got {len(row)}", reader.line_num)
        yield reader.line_num, [row[i] for i in where]


def json_objects(path: Path, handle: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    """Every JSON object of a JSON-lines file, with its line number."""
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(path, f"not a JSON object ({err.msg})", number) from None
        if not isinstance(record, dict):
            raise InputError(path, "expected a JSON object a line", number)
        yield number, record


def json_records(path: Path, handle: Any, columns: list[str]) -> Iterator[tuple[int, list[Any]]]:
    for number, record in json_objects(path, handle):
        missing = [c for c in columns if c not in record]
        if missing:
            raise InputError(path, f"no field {', '.join(map(repr, missing))}", number)
        yield number, [record[c] for c in columns]


def parquet_records(path: Path, columns: list[str]) -> Iterator[tuple[int, list[Any]]]:
    try:
        import pyarrow.parquet as parquet
    except ImportError:
        raise InputError(path, "reading Parquet needs pyarrow: pip install pyarrow") from None
    table = parquet.ParquetFile(path)
    missing = [c for c in columns if c not in table.schema_arrow.names]
    if missing:
        raise InputError(path, f"no column {', '.join(map(repr, missing))} in {shorten(table.schema_arrow.names)}")
    number = 0
    for batch in table.iter_batches(batch_size=CHUNK_ROWS, columns=columns):
        values = [batch.column(c).to_pylist() for c in columns]
        for row in zip(*values):
            number += 1
            yield number, list(row)


def parse_time(value: Any, path: Path, line: int, column: str) -> float:
    try:
        time = float(value)
    except (TypeError, ValueError):
        raise InputError(
            path, f"column {column!r}: expected a number (a timestamp), got {shorten(value)}", line
        ) from None
    if not math.isfinite(time):
        raise InputError(path, f"column {column!r}: expected a finite timestamp, got {shorten(value)}", line)
    return time


def read_log(path: str | Path, user: str, item: str, time: str, fmt: str | None = None) -> InteractionLog:
    """The interactions of a log, streamed in chunks of :data:`CHUNK_ROWS` rows into codes."""
    path = Path(path)
    fmt = log_format(path, fmt)
    user_codes: dict[str, int] = {}
    item_codes: dict[str, int] = {}
    chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    users, items, times = [], [], []
    for line, (u, i, t) in records(path, fmt, [user, item, time]):
        u, i = str(u).strip(), str(i).strip()
        if not u or not i:
            raise InputError(path, f"an empty {'user' if not u else 'item'} id", line)
        users.append(user_codes.setdefault(u, len(user_codes)))
        items.append(item_codes.setdefault(i, len(item_codes)))
        times.append(parse_time(t, path, line, time))
        if len(users) == CHUNK_ROWS:
            chunks.append((np.array(users, np.int32), np.array(items, np.int32), np.array(times)))
            users, items, times = [], [], []
    chunks.append((np.array(users, np.int32), np.array(items, np.int32), np.array(times, np.float64)))
    if not sum(len(c[0]) for c in chunks):
        raise InputError(path, "no interactions")
    return InteractionLog(*(np.concatenate(part) for part in zip(*chunks)), list(user_codes), list(item_codes))


def deduplicated(log: InteractionLog, mode: str = "pairs") -> tuple[InteractionLog, FilterReport]:
    """Each (user, item) pair once at its earliest time (``pairs``), or each exact (user, item, time) row once
    (``rows``); the rows kept stay in file order."""
    order = np.arange(len(log))
    keys = (order, log.times, log.items, log.users)  # np.lexsort sorts by the last key first
    ranked = np.lexsort(keys)
    same = (log.users[ranked][1:] == log.users[ranked][:-1]) & (log.items[ranked][1:] == log.items[ranked][:-1])
    if mode == "rows":
        same &= log.times[ranked][1:] == log.times[ranked][:-1]
    first = np.concatenate([[True], ~same])
    kept = log.keep(np.sort(ranked[first]))
    return kept, removed_between(f"deduplication ({mode})", log, kept)


def removed_between(step: str, before: InteractionLog, after: InteractionLog) -> FilterReport:
    a, b = before.counts(), after.counts()
    return FilterReport(step, a["users"] - b["users"], a["items"] - b["items"], a["interactions"] - b["interactions"])


def k_core(log: InteractionLog, min_user: int, min_item: int) -> tuple[InteractionLog, list[FilterReport]]:
    """Users with fewer than ``min_user`` interactions and items with fewer than ``min_item`` removed, again
    and again until neither filter removes anything (a user can fall below ``min_user`` only once items are
    gone, and the other way round)."""
    users = FilterReport(f"users with fewer than {min_user} interactions")
    items = FilterReport(f"items with fewer than {min_item} interactions")
    while True:
        user_counts = np.bincount(log.users, minlength=len(log.user_ids))
        after_users = log.keep(user_counts[log.users] >= min_user)
        item_counts = np.bincount(after_users.items, minlength=len(log.item_ids))
        after_items = after_users.keep(item_counts[after_users.items] >= min_item)
        for report, before, after in ((users, log, after_users), (items, after_users, after_items)):
            step = removed_between(report.step, before, after)
            report.users, report.items = report.users + step.users, report.items + step.items
            report.interactions += step.interactions
            report.passes.append({"users": step.users, "items": step.items, "interactions": step.interactions})
        if len(after_items) == len(log):
            return after_items, [users, items]
        log = after_items


def chronological(log: InteractionLog) -> list[tuple[str, np.ndarray]]:
    """Each user's item codes ordered by time, ties in file order; users in order of first appearance."""
    rows = np.arange(len(log))
    ranked = np.lexsort((rows, log.times, log.users))  # by user, then time, then file order
    codes, starts = np.unique(log.users[ranked], return_index=True)
    ends = np.append(starts[1:], len(ranked))
    first = np.full(len(log.user_ids), len(log))
    np.minimum.at(first, log.users, rows)
    order = np.argsort(first[codes], kind="stable")
    return [(log.user_ids[codes[k]], log.items[ranked[starts[k] : ends[k]]]) for k in order]


def text_of(value: Any) -> str:
    """A metadata field as text: lists (Amazon's nested categories) flattened, whitespace collapsed."""
    if isinstance(value, (list, tuple)):
        return " ".join(text_of(v) for v in value)
    return " ".join(str(value).split()) if value is not None else ""


def read_item_text(path: str | Path, item: str, fields: list[str], fmt: str | None = None) -> dict[str, str]:
    """Each item's text: its ``fields`` of a metadata file, joined (a missing field is empty)."""
    path = Path(path)
    fmt = log_format(path, fmt)
    texts: dict[str, str] = {}
    if fmt == "jsonl":  # fields may be absent from a record: read the item and whatever fields it has
        if not path.is_file():
            raise InputError(path, "file not found")
        with open(path, encoding="utf-8-sig") as handle:
            for line, record in json_objects(path, handle):
                if item not in record:
                    raise InputError(path, f"no field {item!r}", line)
                texts[str(record[item]).strip()] = " ".join(t for t in (text_of(record.get(f)) for f in fields) if t)
        return texts
    for _, (key, *values) in records(path, fmt, [item, *fields]):
        texts[str(key).strip()] = " ".join(t for t in map(text_of, values) if t)
    return texts


def check_ids(log: InteractionLog) -> None:
    """The one-user-a-line format separates ids by whitespace: an id holding any is refused."""
    for name, ids in (("user", log.user_ids), ("item", log.item_ids)):
        bad = next((i for i in ids if len(i.split()) != 1), None)
        if bad is not None:
            raise InputError("prepare", f"{name} id {bad!r} holds whitespace; the dataset format cannot keep it")


def sequence_writer(log: InteractionLog, sequences: list[tuple[str, np.ndarray]]) -> Any:
    """A ``write(tmp)`` of ``user_sequence.txt``, a user at a time."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as handle:
            for user, codes in sequences:
                handle.write(f"{user} {' '.join(log.item_ids[c] for c in codes.tolist())}\n")

    return write


def write_dataset(
    out: str | Path,
    log: InteractionLog,
    sequences: list[tuple[str, np.ndarray]],
    texts: dict[str, str] | None,
    report: dict,
) -> None:
    """``user_sequence.txt``, ``item_text.txt`` (where there is text) and ``prepare.json``, as one set."""
    check_ids(log)
    files = {"user_sequence.txt": sequence_writer(log, sequences), "prepare.json": io.json_writer(report)}
    if texts is not None:
        kept = [log.item_ids[c] for c in np.unique(log.items).tolist()]
        text = "".join(f"{i}\t{texts.get(i, '').replace(chr(9), ' ')}\n" for i in kept)
        files["item_text.txt"] = io.text_writer(text)
    Path(out).mkdir(parents=True, exist_ok=True)
    io.write_set(out, files, owned=("item_text.txt",))


@dataclass
class LogColumns:
    """Where a log keeps the user, the item and the time (a preset's names, or given)."""

    user: str
    item: str
    time: str

    @classmethod
    def of(cls, preset: str | None, user: str | None, item: str | None, time: str | None) -> "LogColumns":
        names = dict(PRESETS[preset]) if preset else {"user": "user_id", "item": "item_id", "time": "timestamp"}
        given = {"user": user, "item": item, "time": time}
        return cls(**{k: given[k] or v for k, v in names.items()})


def check_prepare_options(min_user: int, min_item: int, dedup: str, out: Path, replace: bool) -> None:
    """Every option checked before the log is read."""
    for flag, value in (("--min-user", min_user), ("--min-item", min_item)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(flag, f"got {shorten(value)}; expected an integer >= 1")
    if dedup not in DEDUPLICATION:
        raise InputError("--dedup", f"got {shorten(dedup)}; expected one of {', '.join(DEDUPLICATION)}")
    if out.exists() and not out.is_dir():
        raise InputError("--out", f"{out} is a file; expected a folder for the dataset")
    if (out / "user_sequence.txt").is_file() and not replace:
        raise InputError("--out", f"{out} holds a dataset already; give another --out, or --replace to replace it")
    io.check_folder(out, "--out")


def prepare(
    log_path: str | Path,
    out: str | Path,
    columns: LogColumns,
    fmt: str | None = None,
    min_user: int = 5,
    min_item: int = 5,
    dedup: str = "pairs",
    items_path: str | Path | None = None,
    item_column: str = "asin",
    text_fields: tuple[str, ...] = AMAZON_TEXT,
    replace: bool = False,
) -> dict[str, Any]:
    """A dataset folder ``out`` from the log ``log_path``: read, deduplicated, k-core filtered to a fixed point
    and ordered by time, with the item text of ``items_path`` where given. Returns the report (also
    ``out/prepare.json``): the counts read and kept, and what each filter removed."""
    out = Path(out)
    check_prepare_options(min_user, min_item, dedup, out, replace)
    texts = read_item_text(items_path, item_column, list(text_fields)) if items_path else None
    log = read_log(log_path, columns.user, columns.item, columns.time, fmt)
    read = log.counts()
    log, duplicates = deduplicated(log, dedup)
    log, core = k_core(log, min_user, min_item)
    if not len(log):
        raise InputError(log_path, f"no interactions are left after the {min_user}/{min_item}-core filter")
    report = {
        "source": str(log_path),
        "columns": vars(columns),
        "read": read,
        "filters": [vars(step) for step in (duplicates, *core)],
        "kept": log.counts(),
        "min_user": min_user,
        "min_item": min_item,
        "deduplication": dedup,
        "item_text": str(items_path) if items_path else None,
    }
    write_dataset(out, log, chronological(log), texts, report)
    return report
