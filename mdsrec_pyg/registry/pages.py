"""Registry tables in pages: a block between ``<!-- registry: KEY -->`` and ``<!-- /registry -->`` in the README
or a page of ``docs/`` is whatever the registry renders for ``KEY``: a table ``dataset/table`` (its
``.json``), or committed files (a name with a suffix, or a glob): ``x.md`` verbatim, ``x.txt`` as a code
block, JSON files of one kind as one table."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import InputError, shorten
from .store import read_summary, read_table
from .tables import AblationSummary, PaperTable2, Table2Summary


def render(registry: str | Path, key: str, to_root: str = "") -> str:
    """The Markdown of the registry block ``key``; a Table 2 or Table 3 of a dataset the paper reports
    (``paper/table2.json``) comes with the paper's values. ``to_root``: see :meth:`Summary.render`."""
    if "*" in key or Path(key).suffix:
        return render_files(registry, key, to_root)
    summary = read_table(registry, key)
    if isinstance(summary, (Table2Summary, AblationSummary)):
        paper_path = Path(registry) / "paper" / "table2.json"
        paper = read_summary(paper_path) if paper_path.is_file() else None
        return summary.render(to_root, paper if isinstance(paper, PaperTable2) else None)
    return summary.render(to_root)


def render_files(registry: str | Path, pattern: str, to_root: str = "") -> str:
    """A block made of the committed files ``pattern`` (a glob under the registry) matches."""
    paths = sorted(Path(registry).glob(pattern))
    if not paths:
        raise InputError(Path(registry) / pattern, "no such file in the results registry")
    if pattern.endswith(".md"):
        return "".join(p.read_text(encoding="utf-8") for p in paths)
    if pattern.endswith(".txt"):
        return "".join(f"```\n{p.read_text(encoding='utf-8')}```\n" for p in paths)
    files = [read_summary(p) for p in paths]
    kinds = sorted({f.kind for f in files})
    if len(kinds) > 1:
        raise InputError(Path(registry) / pattern, f"files of several kinds ({', '.join(kinds)}); expected one")
    return type(files[0]).render_together(files, to_root)


OPEN = re.compile(r"<!-- registry: (?P<key>[\w./*-]+) -->")
CLOSE = "<!-- /registry -->"


def blocks(text: str, source: str = "README") -> list[tuple[int, int, str]]:
    """The registry blocks of ``text``: (line of the opening marker, line of its closing marker, key), lines
    counted from 0. One line naming the line numbers for a marker of no known form, an opening marker inside
    an open block, a closing marker with none open, and a block never closed."""
    found: list[tuple[int, int, str]] = []
    opened: tuple[int, str] | None = None
    for number, line in enumerate(text.split("\n")):
        if "<!-- registry" not in line and "<!-- /registry" not in line:
            continue
        if (match := OPEN.fullmatch(line.strip())) is not None:
            if opened is not None:
                raise InputError(
                    source,
                    f"the block opened at line {opened[0] + 1} is not closed before the next one opens",
                    number + 1,
                )
            opened = (number, match["key"])
        elif line.strip() == CLOSE:
            if opened is None:
                raise InputError(source, "a closing registry marker with no block open", number + 1)
            found.append((opened[0], number, opened[1]))
            opened = None
        else:
            raise InputError(
                source,
                f"not a registry marker ({shorten(line.strip(), 60)}); expected "
                f"'<!-- registry: dataset/table -->' or '{CLOSE}' alone on the line",
                number + 1,
            )
    if opened is not None:
        raise InputError(source, f"the block opened here ({opened[1]}) is never closed with {CLOSE}", opened[0] + 1)
    return found


def regenerate(
    text: str, registry: str | Path, source: str = "README", to_root: str = ""
) -> tuple[str, list[tuple[str, int]]]:
    """``text`` with every ``<!-- registry: dataset/table -->`` ... ``<!-- /registry -->`` block rendered anew
    from the registry (text outside the blocks kept as it is), and for each block whose content changed its
    key and the line (from 1) of its first differing line in ``text``."""
    lines = text.split("\n")
    out: list[str] = []
    changed: list[tuple[str, int]] = []
    end = -1
    for opening, closing, key in blocks(text, source):
        out += lines[end + 1 : opening + 1]
        body = render(registry, key, to_root)
        old = "\n".join(lines[opening + 1 : closing])
        new = body[:-1] if body.endswith("\n") else body
        if old != new:
            old_lines, new_lines = old.split("\n"), new.split("\n")
            first = next(
                (i for i, (a, b) in enumerate(zip(old_lines, new_lines)) if a != b), min(len(old_lines), len(new_lines))
            )
            changed.append((key, opening + 2 + first))
        out += new.split("\n") if new else []
        out.append(lines[closing])
        end = closing
    out += lines[end + 1 :]
    return "\n".join(out), changed
