"""Render every results table of the README and of ``docs/`` from the committed results registry (``results/``).

    python experiments/readme_tables.py            # rewrite the tables of README.md and docs/*.md in place
    python experiments/readme_tables.py --check    # exit 1 naming each table that differs (CI runs this)

A table sits in a page between ``<!-- registry: <dataset>/<table> -->`` and ``<!-- /registry -->``; its
content is whatever ``mdsrec_pyg.registry.pages.render`` makes of ``results/<dataset>/<table>.json``, which
``table2.py``, ``ablation.py`` and ``sweep.py`` write. Never edit inside the markers by hand.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mdsrec_pyg import io
from mdsrec_pyg.cli import command_line
from mdsrec_pyg.errors import InputError
from mdsrec_pyg.registry.pages import regenerate


def pages_of(root: Path) -> list[Path]:
    """The pages tables are rendered into: the README and every page of ``docs/`` beside it."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def to_root(page: Path, registry: str) -> str:
    """The way from ``page`` to the folder that holds the registry (``../`` for a page in ``docs/``), for the
    links a table makes to committed figures."""
    way = os.path.relpath(Path(registry).resolve().parent, page.resolve().parent)
    return "" if way == "." else way + "/"


def read_page(page: Path) -> str:
    if not page.is_file():
        raise InputError(page, "not found; give --pages the pages to render into")
    try:
        return page.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(page, "not UTF-8 text") from None


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", "--readme", nargs="+", type=Path, help="the pages (default README.md and docs/*.md)")
    parser.add_argument("--registry", default="results")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a table differs")
    args = parser.parse_args(argv)
    pages = args.pages or pages_of(Path("."))
    texts = {page: read_page(page) for page in pages}  # every page read (and refused) before any is written
    rendered = {
        page: regenerate(text, args.registry, str(page), to_root(page, args.registry)) for page, text in texts.items()
    }
    changed = [(page, key, line) for page, (_, keys) in rendered.items() for key, line in keys]
    where = ", ".join(f"{page}: {key} (line {line})" for page, key, line in changed)
    if args.check:
        if changed:
            print(
                f"{len(changed)} table(s) differ from what the registry renders, first at: {where}; "
                "if the registry is right, python experiments/readme_tables.py rewrites them; "
                "if the pages' tables are, the registry files (git diff results/) changed",
                file=sys.stderr,
            )
            sys.exit(1)
        print(f"{', '.join(map(str, pages))}: every registry table matches")
        return []
    for page, (text, keys) in rendered.items():
        if keys:
            io.write_text(page, text)
    print(f"rewritten: {where}" if changed else "already up to date")
    return [key for _, key, _ in changed]


if __name__ == "__main__":
    command_line(main)
