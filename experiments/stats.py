"""Table 1 of the paper for every dataset found under the data folder, in the paper's conventions (padding
counted, interactions = training targets, i.e. the sum over users of length - 1) and in plain ones.

    python experiments/stats.py --data-dir ../shared/datasets [--out stats.md]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mdsrec_pyg import io
from mdsrec_pyg.cli import command_line
from mdsrec_pyg.data import KNOWN_DATASETS, load_dataset

COLUMNS = [
    ("users", "#Users"),
    ("items", "#Items"),
    ("inters", "#Inters"),
    ("avg_n", "Avg.n"),
    ("sparsity", "Sparsity"),
    ("longest", "Longest"),
]


def table(rows: dict[str, dict[str, dict]], convention: str) -> str:
    lines = ["| Dataset | " + " | ".join(title for _, title in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name, stats in rows.items():
        s = stats[convention]
        lines.append(
            f"| {name} | {s['users']:,} | {s['items']:,} | {s['inters']:,} | {s['avg_n']:.3f} | "
            f"{s['sparsity']:.4f} | {s['longest']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--out", help="also write the tables to this Markdown file")
    args = parser.parse_args(argv)
    found = [name for name in KNOWN_DATASETS if name == "synthetic" or (Path(args.data_dir) / name).is_dir()]
    rows = {name: load_dataset(name, args.data_dir, feature_dir=None).statistics() for name in found}
    text = (
        f"Paper conventions (padding counted, #Inters = training targets):\n\n{table(rows, 'paper')}\n\n"
        f"Plain (users, items, all interactions):\n\n{table(rows, 'plain')}\n"
    )
    print(text)
    if args.out:
        io.write_text(args.out, text)
    return text


if __name__ == "__main__":
    command_line(main)
