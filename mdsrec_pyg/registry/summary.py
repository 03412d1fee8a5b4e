"""The base of every registry file's class: a kind, typed fields, and the one way a file becomes an object.

A summary is written as a JSON object ``{"kind": ..., <its fields>}``; reading one checks that its fields are
there (one line naming the file and the missing fields), keeps any field it does not declare in ``extra``
(so that a file written by a newer script is read back unchanged), and :meth:`render` makes its Markdown.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..errors import InputError

LABELS = {"recall": "R", "ndcg": "N"}


def short(metric: str) -> str:
    """``recall@20`` -> ``R@20``."""
    name, k = metric.split("@")
    return f"{LABELS.get(name, name)}@{k}"


@dataclass
class Summary:
    """One registry file of kind :attr:`kind`; subclasses declare its fields and render it."""

    kind: ClassVar[str] = ""
    extra: dict[str, Any] = field(default_factory=dict, kw_only=True)  # fields this class does not declare

    @classmethod
    def from_dict(cls, values: dict[str, Any], path: str | Path) -> "Summary":
        declared = [f for f in dataclasses.fields(cls) if f.name != "extra"]
        required = [
            f.name for f in declared if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        missing = [name for name in required if name not in values]
        if missing:
            raise InputError(path, f"a {cls.kind} file without {', '.join(missing)}; restore it from git")
        names = {f.name for f in declared}
        given = {k: v for k, v in values.items() if k in names}
        return cls(**given, extra={k: v for k, v in values.items() if k not in names and k != "kind"})

    def to_dict(self) -> dict[str, Any]:
        """The file's JSON object: its kind, then its fields in declared order, then the extra ones; an optional
        field (default None) left None is not written, so a file made before the field existed reads back as it
        was."""
        values = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name != "extra" and not (f.default is None and getattr(self, f.name) is None)
        }
        return {"kind": self.kind, **values, **self.extra}

    def runs(self) -> list[str]:
        """The names of the runs this file is made of (a table's rows or points); none for a measurement."""
        return []

    def render(self, to_root: str = "") -> str:
        """The Markdown of this file; ``to_root`` is the way from the page to the project root (``../`` for a
        page in ``docs/``), for the links a table makes. A subclass gives this or :meth:`render_together`."""
        return type(self).render_together([self], to_root)

    @classmethod
    def render_together(cls, files: list["Summary"], to_root: str = "") -> str:
        """Several files of this kind as one block (a glob in a page's marker)."""
        return "\n".join(f.render(to_root) for f in files)
