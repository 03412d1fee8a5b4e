"""Render every results table of the README from the committed results registry (``results/``).

    python experiments/readme_tables.py            # rewrite the tables of README.md in place
    python experiments/readme_tables.py --check    # exit 1 naming each table that differs (CI runs this)

A table sits in the README between ``<!-- registry: <dataset>/<table> -->`` and ``<!-- /registry -->``; its
content is whatever ``mdsrec_pyg.results_registry.render`` makes of ``results/<dataset>/<table>.json``, which
``table2.py``, ``ablation.py`` and ``sweep.py`` write. Never edit inside the markers by hand.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mdsrec_pyg import io
from mdsrec_pyg.cli import command_line
from mdsrec_pyg.errors import InputError
from mdsrec_pyg.results_registry import regenerate


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readme", default="README.md")
    parser.add_argument("--registry", default="results")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a table differs")
    args = parser.parse_args(argv)
    readme = Path(args.readme)
    if not readme.is_file():
        raise InputError(readme, "not found; give --readme the README to render into")
    try:
        old = readme.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(readme, "not UTF-8 text") from None
    text, changed = regenerate(old, args.registry, str(readme))
    where = ", ".join(f"{key} (line {line})" for key, line in changed)
    if args.check:
        if changed:
            print(
                f"{readme}: {len(changed)} table(s) differ from what the registry renders, first at: {where}; "
                f"if the registry is right, python experiments/readme_tables.py --readme {readme} rewrites them; "
                "if the README's tables are, the registry files (git diff results/) changed",
                file=sys.stderr,
            )
            sys.exit(1)
        print(f"{readme}: every registry table matches")
    elif changed:
        io.write_text(readme, text)
        print(f"rewritten in {readme}: {where}")
    else:
        print(f"{readme}: already up to date")
    return [key for key, _ in changed]


if __name__ == "__main__":
    command_line(main)
