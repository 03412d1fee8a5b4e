"""How many CPU threads a run uses. PyTorch's default, one per core, is right on an idle machine and badly
wrong on a busy one: its worker threads spin-wait for cores that other processes hold (measured in the
README: a synthetic MDSRec epoch 41 s with the default on a loaded 2-core machine, 5.6 s with one thread).
The default here takes the cores that are free when the run starts; a number given is used as it is."""
from __future__ import annotations

import os

import torch


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def free_cores(processes: int = 1) -> int:
    """The cores not kept busy by other processes (the 1-minute load average), shared among ``processes``
    ranks of this run; at least 1."""
    busy = round(os.getloadavg()[0]) if hasattr(os, "getloadavg") else 0
    return max(1, (available_cores() - busy) // max(1, processes))


def set_threads(threads: int, processes: int = 1) -> int:
    """Set torch's intra-op threads: ``threads`` when positive, else :func:`free_cores`; returns the number."""
    count = threads if threads > 0 else free_cores(processes)
    torch.set_num_threads(count)
    return count
