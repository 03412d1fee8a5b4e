"""The one error type for bad input: a single line naming the file, the line or field, and what was expected."""

from __future__ import annotations

from pathlib import Path


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


class RunInterrupted(Exception):
    """A run stopped by Ctrl-C (SIGINT); ``str(err)`` says how to resume it."""
