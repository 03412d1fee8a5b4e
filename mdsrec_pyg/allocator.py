"""How the C allocator handles the memory of freed tensors (glibc's malloc, which CPU tensors live in).

glibc serves every allocation above its mmap threshold (at most 32 MiB) with a fresh ``mmap`` and unmaps it
when it is freed, so each large tensor of a training step (a batch's logits, ICA's centre states, each of
hundreds of MB) is page-faulted in again, and zeroed by the kernel, on every step. :func:`keep_freed_memory`
turns that off (``mallopt``: no ``mmap``, no trimming of the heap), so that freed blocks are reused as they
are: the same computation and the same numbers, faster, at the cost of more resident memory (freed blocks
stay with the process, and a heap fragments where mappings do not): ``training.keep_freed_memory``, off by
default, measured in ``docs/scale.md``. :func:`release_free_memory` (``malloc_trim``) hands
the free blocks back, so that resident memory is what is in use (before measuring a step's memory). Where
the C library is not glibc, both leave it as it is.
"""

from __future__ import annotations

import ctypes
import platform

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # mallopt's parameters (malloc.h)
DEFAULT_TRIM_THRESHOLD, DEFAULT_MMAP_MAX = 128 * 1024, 65536  # glibc's defaults
KEEP_TRIM_THRESHOLD = 2**31 - 1  # the largest an int holds: free memory at the heap's top is never trimmed


def _glibc() -> ctypes.CDLL | None:
    """The process's glibc, or None where the C library is another."""
    if platform.libc_ver()[0] != "glibc":
        return None
    return ctypes.CDLL(None)


def keep_freed_memory(keep: bool = True) -> bool:
    """Have malloc keep freed memory for reuse (``keep``), or map and unmap large blocks again with glibc's
    default limits (fixed ones: glibc's own raising of its mmap threshold as blocks are freed does not come
    back once a limit is set); returns whether the setting applies here (glibc)."""
    libc = _glibc()
    if libc is None:
        return False
    trim, mmaps = (KEEP_TRIM_THRESHOLD, 0) if keep else (DEFAULT_TRIM_THRESHOLD, DEFAULT_MMAP_MAX)
    return bool(libc.mallopt(M_TRIM_THRESHOLD, trim)) and bool(libc.mallopt(M_MMAP_MAX, mmaps))


def release_free_memory() -> None:
    """Return the free memory malloc holds to the system (glibc's ``malloc_trim``; nothing elsewhere)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
