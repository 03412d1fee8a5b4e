"""How many CPU threads a run uses. PyTorch's default, one per core, is right on an idle machine and badly
wrong on a busy one: its worker threads wait for cores that other processes hold (see the README's thread
measurement). The default here takes the cores that are idle when the run starts, measured over a quarter
of a second from /proc/stat (the 1-minute load average where there is none); a number given is used as is."""

from __future__ import annotations

import logging
import os
import time

import torch

log = logging.getLogger(__name__)


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _cpu_times() -> tuple[int, int] | None:
    """(idle, total) jiffies of all CPUs from /proc/stat, or None where it cannot be read."""
    try:
        with open("/proc/stat") as handle:
            values = [int(v) for v in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return values[3] + values[4], sum(values[:8])  # idle + iowait; user..steal


def busy_cores(window: float = 0.25) -> float:
    """How many cores other processes keep busy now: the non-idle share of all CPUs over ``window`` seconds
    times their number (this process is idle meanwhile); the 1-minute load average where /proc/stat is absent."""
    first = _cpu_times()
    if first is None:
        return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    time.sleep(window)
    second = _cpu_times()
    total = second[1] - first[1]
    if total <= 0:
        return 0.0
    return (os.cpu_count() or 1) * (1 - (second[0] - first[0]) / total)


def free_cores(processes: int = 1) -> int:
    """The cores not busy with other work, shared among ``processes`` ranks of this run; at least 1."""
    return max(1, (available_cores() - round(busy_cores())) // max(1, processes))


def set_threads(threads: int, processes: int = 1) -> int:
    """Set torch's intra-op threads: ``threads`` when positive (at most the cores, with a warning), else
    :func:`free_cores`; returns the number."""
    cores = available_cores()
    if threads > cores:
        log.warning("%d threads asked for, %d cores to run on: %d threads", threads, cores, cores)
    count = min(threads, cores) if threads > 0 else free_cores(processes)
    torch.set_num_threads(count)
    return count
