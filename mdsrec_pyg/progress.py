"""Progress of long phases: a bar on a terminal, a timestamped log line every ``every`` seconds in a pipe or
a log file (so that ``run.log`` and CI logs show that a run is alive and how fast it goes)."""

from __future__ import annotations

import logging
import sys
import time
from contextlib import contextmanager
from typing import Iterable, Iterator, TypeVar

from tqdm import tqdm

log = logging.getLogger(__name__)
T = TypeVar("T")

EVERY_SECONDS = 30.0


def progress(
    items: Iterable[T],
    desc: str,
    total: int | None = None,
    unit: str = "it",
    enabled: bool = True,
    every: float = EVERY_SECONDS,
) -> Iterator[T]:
    """Yield ``items``; on a terminal with a tqdm bar, otherwise with an INFO line ``desc: n/total unit
    (rate/s)`` every ``every`` seconds. ``enabled=False`` (other ranks than 0) is silent."""
    if not enabled:
        yield from items
        return
    if sys.stderr.isatty():
        yield from tqdm(items, desc=desc, total=total, unit=unit, leave=False, file=sys.stderr)
        return
    total = total if total is not None else (len(items) if hasattr(items, "__len__") else None)
    start = last = time.monotonic()
    for count, item in enumerate(items, start=1):
        yield item
        now = time.monotonic()
        if now - last >= every:
            last = now
            of = f"/{total}" if total else ""
            log.info("%s: %d%s %s (%.1f %s/s)", desc, count, of, unit, count / (now - start), unit)


@contextmanager
def phase(desc: str, enabled: bool = True) -> Iterator[None]:
    """Log ``desc ...`` when a phase starts and ``desc: done in N s`` when it ends."""
    if enabled:
        log.info("%s ...", desc)
    start = time.monotonic()
    yield
    if enabled:
        log.info("%s: done in %.1fs", desc, time.monotonic() - start)
