"""Recommendations from a trained run, by the dataset's original ids.

    python experiments/recommend.py --run runs/scientific_mm/mdsrec-42 --user A1JZ9PSI2YO1D8 A2B5Y4E6X3R1PO
    python experiments/recommend.py --run runs/scientific_mm/mdsrec-42 --history "B00004Z5M1 B0000AQO6R" --explain
    python experiments/recommend.py --run runs/clothing/sasrec-42 --all-users --k 20 --out top20.csv

``--user`` recommends what comes after a known user's whole history (training, validation and test items);
``--history`` after a history of original item ids given in time order (oldest first); both print a table per
user with the item text where the dataset has it and, with ``--explain`` on MDSRec, the rank each item gets
in each channel (``id``: y^s of Eq. 20; each modality: y^m of Eq. 21; ``final``: Eq. 22). ``--all-users``
writes one row per user (``user_id``, ``items``, ``scores``) to ``--out`` (``.csv``, or ``.parquet`` where
pyarrow is installed; default ``RUN/recommendations-top<K>.csv``) batch by batch, atomically, with a progress
bar, and prints users per second and peak memory (also written to ``<out>.json``, replaced with the file).
``--user`` / ``--history`` with ``--out`` write the tables to a ``.md`` or ``.txt`` file. Every output path
is checked before the run loads: never one of the run's own files, a folder, or a place that cannot be
written; a symbolic link is written through. ``--k`` above the catalog ranks the whole catalog.
``--export-vectors DIR`` writes the item vectors (and, with ``--all-users``, every user's vector) whose inner
products are the scores. ``--index faiss`` searches an approximate inverted-file index (faiss-cpu) instead
of the exact chunked product. Items of the history are left out unless ``--include-seen``. ``--new-items DIR``
adds items that were not in training, by their features (``Recommender.add_items``), before recommending.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mdsrec_pyg import distributed, io
from mdsrec_pyg.cli import command_line
from mdsrec_pyg.data.readers.common import new_items_folder
from mdsrec_pyg.errors import InputError
from mdsrec_pyg.recommend import (
    EXPORT_SUFFIXES,
    VECTOR_FILES,
    Recommendation,
    Recommender,
    export_format,
    export_vectors,
    write_recommendations,
)
from mdsrec_pyg.retrieval import INDEXES
from mdsrec_pyg.tables import to_markdown


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a finished run folder (config.json, results.json, best.pt)")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", nargs="+", metavar="ID", help="original user ids of the dataset")
    who.add_argument(
        "--history",
        action="append",
        metavar='"ID ID ..."',
        help="original item ids, oldest first, space-separated (repeat for several histories)",
    )
    who.add_argument("--all-users", action="store_true", help="every user, to the --out file")
    parser.add_argument("--k", type=int, default=10, help="recommendations per user (default 10)")
    parser.add_argument("--out", help="--all-users: the file (.csv, or .parquet with pyarrow); else the tables")
    parser.add_argument("--include-seen", action="store_true", help="do not leave out the history's items")
    parser.add_argument("--explain", action="store_true", help="MDSRec: each item's rank in every channel")
    parser.add_argument(
        "--drop-unknown",
        action="store_true",
        help="drop item ids of --history that the dataset lacks (with a warning) instead of failing",
    )
    parser.add_argument("--index", default="exact", choices=INDEXES, help="exact (default) or faiss (approximate)")
    parser.add_argument("--nprobe", type=int, help="faiss: cells scanned per query (default nlist / 16)")
    parser.add_argument("--export-vectors", metavar="DIR", help="write item (and with --all-users user) vectors")
    parser.add_argument(
        "--new-items",
        metavar="DIR",
        help="items not in training, by their features: DIR/items.txt, DIR/<modality>_feat.npy (a row per "
        "listed item), optional DIR/item_text.txt; they may then be recommended",
    )
    parser.add_argument(
        "--new-id-embedding",
        choices=["zero", "neighbours"],
        default="zero",
        help="MDSRec: a new item's ID embedding, zero or its nearest catalog items' mean (default zero)",
    )
    parser.add_argument("--data-dir", help="where the run's dataset is now, if not where it was trained")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--force", action="store_true", help="load even if the dataset changed since training")
    return parser.parse_args(argv)


TABLE_SUFFIXES = (".md", ".txt")  # --user / --history --out: the Markdown tables


def check_args(args: argparse.Namespace) -> None:
    """Every flag checked before the run is loaded, every output path as :func:`io.check_target` checks it;
    ``--new-items`` read (``args.new_item_rows``)."""
    args.new_item_rows = new_items_folder(args.new_items) if args.new_items else None
    positive = [("--k", args.k), ("--nprobe", args.nprobe)]
    for flag, value in positive:
        if value is not None and value < 1:
            raise InputError(flag, f"got {value}; expected an integer >= 1")
    if args.nprobe is not None and args.index != "faiss":
        raise InputError("--nprobe", "applies to --index faiss only")
    if args.all_users:
        out = Path(args.out or Path(args.run) / f"recommendations-top{args.k}.csv")
        io.check_target(out, "--out", EXPORT_SUFFIXES)
        if not io.is_stream(out):
            target = io.destination(out)
            io.check_target(target.with_name(target.name + ".json"), "--out")  # its report
        export_format(out)
        args.out = str(out)
    elif args.out is not None:
        io.check_target(args.out, "--out", TABLE_SUFFIXES)
    if args.history is not None and any(not h.split() for h in args.history):
        raise InputError("--history", "an empty history; expected item ids separated by spaces")
    if args.export_vectors is not None:
        folder = Path(args.export_vectors)
        if folder.exists() and not folder.is_dir():
            raise InputError("--export-vectors", f"{folder} is a file; expected a folder")
        for name in VECTOR_FILES:
            io.check_target(folder / name, "--export-vectors")
    distributed.check_device(args.device)


def describe(recommender: Recommender, title: str, history: list[str], recommendation: Recommendation) -> str:
    dataset = recommender.dataset
    text = dataset.item_text
    last = [f"`{item}`" + (f" {text[recommender.item_of[item]][:50]}" if text else "") for item in history[-3:]]
    channels = list(recommendation.channel_ranks)
    header = ["#", "item", "score"] + [f"rank {c}" for c in channels] + (["text"] if text else [])
    rows = []
    for position, (item, score) in enumerate(zip(recommendation.items, recommendation.scores)):
        row = [position + 1, f"`{item}`", f"{score:.4f}"] + [
            recommendation.channel_ranks[c][position] for c in channels
        ]
        if text:
            row.append(text[recommender.item_of[item]][:70].replace("|", "/"))
        rows.append(row)
    return f"### {title}\n\nLast items: " + "; ".join(last) + "\n\n" + to_markdown(header, rows)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    check_args(args)
    options = {"nprobe": args.nprobe} if args.nprobe else {}
    recommender = Recommender.load(
        args.run, device=args.device, index=args.index, data_dir=args.data_dir, allow_changed_data=args.force, **options
    )
    if args.new_item_rows is not None:
        ids, features, text = args.new_item_rows
        recommender.add_items(ids, features, text, args.new_id_embedding)
        print(f"added {len(ids):,} new items from {args.new_items}", file=sys.stderr)
    exclude_seen = not args.include_seen
    report: dict = {"run": args.run, "k": args.k, "index": args.index, "exclude_seen": exclude_seen}
    if args.all_users:
        out = Path(args.out)
        report = write_recommendations(recommender, out, args.k, exclude_seen, about=report)
        print(
            f"wrote {out} ({report['format']}): {report['users']:,} users x top-{args.k} of "
            f"{report['items']:,} items in {report['seconds']:.1f}s ({report['users_per_second']:.0f} users/s), "
            f"peak memory {report['peak_rss_mb']:.0f} MB",
            file=sys.stderr if io.is_stream(out) else sys.stdout,  # where the rows go to stdout: apart from them
        )
    else:
        if args.user:
            titles = [f"user `{u}`" for u in args.user]
            histories = [
                [recommender.dataset.item_ids[i] for i in recommender.dataset.sequences[u]]
                for u in recommender.user_indices(args.user)
            ]
            found = recommender.recommend_users(args.user, args.k, exclude_seen, args.explain)
        else:
            histories = [h.split() for h in args.history]
            titles = [f"history {n + 1} ({len(h)} items)" for n, h in enumerate(histories)]
            found = recommender.recommend(
                histories, args.k, exclude_seen, args.explain, unknown="drop" if args.drop_unknown else "error"
            )
            histories = [[i for i in h if i in recommender.item_of] for h in histories]
        text = "\n".join(describe(recommender, t, h, r) for t, h, r in zip(titles, histories, found))
        print(text)
        report["recommendations"] = [r.__dict__ for r in found]
        if args.out:
            io.write_text(args.out, text)
    if args.export_vectors:
        for path in export_vectors(recommender, args.export_vectors, users=args.all_users):
            print(f"wrote {path}")
    return report


if __name__ == "__main__":
    command_line(main)
