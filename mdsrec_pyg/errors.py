"""The one error type for bad input: a single line naming the file, the line or field, and what was expected."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def shorten(value: Any, most: int = 80) -> str:
    """``repr(value)`` cut to ``most`` characters (``...`` and the full length after), so that a message
    quoting a large value stays one short line."""
    text = repr(value)
    if len(text) <= most:
        return text
    return f"{text[: most - 3]}... ({len(text):,} characters)"


class InputError(ValueError):
    """Malformed or missing input. ``str(err)`` is one line: ``file[:line]: what was wrong``."""

    def __init__(self, source: str | Path, message: str, line: int | None = None) -> None:
        where = str(source) if line is None else f"{source}:{line}"
        super().__init__(f"{where}: {message}")
        self.source = str(source)
        self.line = line
        self.message = message

    def __reduce__(self) -> tuple:  # picklable, so that a run in another process can report it
        return type(self), (self.source, self.message, self.line)


class TrainingError(RuntimeError):
    """Training cannot go on (for example: the loss became NaN or infinite)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (what a scheduler sends), raised where Python runs next so that it ends a run as Ctrl-C does."""


class RunInterrupted(Exception):
    """A run stopped by Ctrl-C (SIGINT) or SIGTERM; ``str(err)`` says how to resume it; ``status`` is the exit
    status the command ends with (130 for SIGINT, 143 for SIGTERM)."""

    def __init__(self, message: str, status: int = 130) -> None:
        super().__init__(message)
        self.status = status

    def __reduce__(self) -> tuple:
        return type(self), (str(self), self.status)
