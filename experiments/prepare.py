"""Make a dataset folder from a raw interaction log: deduplicated, k-core filtered, chronological.

    python experiments/prepare.py --log reviews.csv --out data/my_set
    python experiments/prepare.py --log Sports.jsonl --preset amazon --items meta_Sports.jsonl --out data/sports_raw
    python experiments/prepare.py --log log.tsv --user uid --item sku --time ts --min-user 10 --out data/shop

The log is CSV, TSV, JSON lines or Parquet (by its suffix, or ``--format``; Parquet needs pyarrow), with a user,
an item and a time column (``user_id item_id timestamp`` by default; ``--preset amazon``: Amazon's review
fields ``reviewerID asin unixReviewTime``; ``--preset recbole``: RecBole's typed names). ``--items`` is an item
metadata file whose ``--text-fields`` (default title, categories, brand) become ``item_text.txt`` for
``encode_text.py``. Writes ``OUT/user_sequence.txt`` (one user a line), ``item_text.txt`` and ``prepare.json``
(what each filter removed) as one set, then prints the filter report and the dataset's Table 1 line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mdsrec_pyg.cli import command_line
from mdsrec_pyg.data import load_dataset
from mdsrec_pyg.data.prepare import AMAZON_TEXT, DEDUPLICATION, FORMATS, PRESETS, LogColumns, prepare
from mdsrec_pyg.experiment import describe
from mdsrec_pyg.tables import to_markdown


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log", required=True, help="the interaction log")
    parser.add_argument("--out", required=True, help="the dataset folder to write")
    parser.add_argument("--format", choices=FORMATS, help="the log's format (default: by its suffix)")
    parser.add_argument("--preset", choices=sorted(PRESETS), help="column names of a known export")
    parser.add_argument("--user", help="the user column (default user_id, or the preset's)")
    parser.add_argument("--item", help="the item column (default item_id, or the preset's)")
    parser.add_argument("--time", help="the time column, numbers (default timestamp, or the preset's)")
    parser.add_argument("--min-user", type=int, default=5, help="k-core: interactions a user keeps (default 5)")
    parser.add_argument("--min-item", type=int, default=5, help="k-core: interactions an item keeps (default 5)")
    parser.add_argument("--dedup", choices=DEDUPLICATION, default="pairs", help="pairs (default) or exact rows")
    parser.add_argument("--items", help="item metadata (JSON lines, CSV, TSV or Parquet) for item_text.txt")
    parser.add_argument("--item-column", default="asin", help="the item id column of --items (default asin)")
    parser.add_argument("--text-fields", nargs="+", default=list(AMAZON_TEXT), help="fields of --items joined")
    parser.add_argument("--replace", action="store_true", help="replace a dataset already in --out")
    args = parser.parse_args(argv)
    columns = LogColumns.of(args.preset, args.user, args.item, args.time)
    report = prepare(
        args.log,
        args.out,
        columns,
        args.format,
        args.min_user,
        args.min_item,
        args.dedup,
        args.items,
        args.item_column,
        tuple(args.text_fields),
        args.replace,
    )
    rows = [["read", "", *report["read"].values()]]
    rows += [[f["step"], "removed", f["users"], f["items"], f["interactions"]] for f in report["filters"]]
    rows.append(["kept", "", *report["kept"].values()])
    print(to_markdown(["step", "", "users", "items", "interactions"], rows))
    passes = len(report["filters"][1]["passes"])
    print(f"k-core reached its fixed point after {passes} pass(es); written {Path(args.out)}")
    print(describe(load_dataset(args.out, ".", feature_dir=None)))
    return report


if __name__ == "__main__":
    command_line(main)
