"""glibc's malloc keeping freed memory for reuse (``training.keep_freed_memory``), and handing it back."""

import platform

import pytest
import torch

from mdsrec_pyg.allocator import keep_freed_memory, release_free_memory
from mdsrec_pyg.benchmarks import rss_mb, step_peak_mb
from mdsrec_pyg.config import RUNTIME_KEYS, build_config

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the allocator settings are glibc's")

MB = 256  # a tensor well above glibc's largest mmap threshold (32 MiB)


def touch_and_free() -> None:
    block = torch.ones(MB * 2**18)  # MB MiB of float32, every page written
    del block


def test_freed_memory_is_kept_only_while_asked_and_released_on_request():
    try:
        release_free_memory()
        base = rss_mb()
        assert keep_freed_memory()
        touch_and_free()
        assert rss_mb() - base > 0.9 * MB  # freed, but still the process's to reuse
        release_free_memory()
        assert rss_mb() - base < 0.1 * MB  # handed back
        assert keep_freed_memory(False)
        touch_and_free()
        assert rss_mb() - base < 0.1 * MB  # glibc's default: a large block is unmapped when freed
    finally:
        keep_freed_memory(False)
        release_free_memory()


def test_a_step_that_reuses_kept_memory_is_still_counted_in_full():
    # the memory of an earlier, freed block is handed back first, so the step's own block shows
    try:
        keep_freed_memory()
        touch_and_free()
        assert step_peak_mb(touch_and_free) > 0.9 * MB
    finally:
        keep_freed_memory(False)
        release_free_memory()


def test_training_keeps_freed_memory_only_when_set():
    assert build_config("synthetic", {}, []).training.keep_freed_memory is False
    assert build_config("synthetic", {}, ["keep_freed_memory=true"]).training.keep_freed_memory is True
    assert "keep_freed_memory" in RUNTIME_KEYS  # how a run executes, not what it computes: runs are reused
