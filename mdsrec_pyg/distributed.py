"""Several processes with torch.distributed (``torchrun --nproc_per_node N experiments/run.py ...``).

Each rank trains on its share of every batch through ``DistributedDataParallel`` (gloo on CPU, nccl on GPU),
so that the global batch is that of one process; evaluation is split by users and the ranks are gathered,
so that the metrics are exactly those one process computes for the same weights. Rank 0 alone writes
files and builds the relation graphs; the other ranks read them from the ``graphs/`` store.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.distributed as dist

from .errors import InputError


def check_device(device: str, flag: str = "--device") -> str:
    """``device`` if this machine has it, else one line (before any data is read or any folder made)."""
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError(flag, f"{device}: this machine has no CUDA GPU that torch can use; give --device cpu")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise InputError(flag, f"{device}: this machine has {torch.cuda.device_count()} GPU(s) (cuda:0 ...)")
    elif device == "mps" and not torch.backends.mps.is_available():
        raise InputError(flag, "mps: this machine has no Apple GPU that torch can use; give --device cpu")
    return device


def setup(device: str) -> str:
    """Join the process group that torchrun describes in the environment (nothing to do for one process);
    returns this rank's device."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or is_distributed():
        return device
    gpu = device.startswith("cuda")
    dist.init_process_group("nccl" if gpu else "gloo")
    if gpu:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        torch.cuda.set_device(device)
    return device


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def sum_across_ranks(*values: float) -> list[float]:
    if not is_distributed():
        return list(values)
    total = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(total)
    return total.tolist()


def gather_shards(local: np.ndarray, total: int) -> np.ndarray:
    """The inverse of taking ``rows[rank::world]`` on every rank: all shards back in the original order."""
    if not is_distributed():
        return local
    shards: list = [None] * world_size()
    dist.all_gather_object(shards, local)
    out = np.empty(total, dtype=local.dtype)
    for r, shard in enumerate(shards):
        out[r :: world_size()] = shard
    return out
