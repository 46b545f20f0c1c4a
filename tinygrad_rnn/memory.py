"""Two costs of a graph engine that are not arithmetic, and what the library does about them.

1. The garbage collector. Every Tensor is an object Python's cyclic collector
   tracks, and an unrolled graph makes hundreds of thousands of them that all
   survive (they are the graph). Each young collection walks the newest ones
   again only to find them alive; at T = 30,000 that was ~30% of a step. The
   engine's graph has no reference cycles (a tensor points at its inputs, which
   are older), so while a sequence layer unrolls and while backward() walks,
   `gc_paused()` holds the collector; plain reference counting still frees
   everything the moment it is dropped.

2. glibc's malloc. Arrays above its mmap threshold come from fresh mmap()ed
   pages, and freed memory at the top of the heap goes back to the OS past its
   trim threshold; the next step then touches new pages and pays a page fault per
   4 KiB (measured: ~2,100 faults a medium step with edge recording on).
   `tune_malloc()`, run once at import, raises both thresholds so a training
   loop reuses the memory it freed. It does nothing off glibc, when the user set
   glibc's MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_ themselves, or when
   TINYGRAD_RNN_MALLOC=default asks for glibc's defaults.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import platform

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3       # glibc's mallopt() parameter numbers
MMAP_THRESHOLD = 32 * 2**20                       # glibc's own upper limit for its dynamic threshold
TRIM_THRESHOLD = 512 * 2**20                      # keep up to 512 MiB of freed heap for the next step


@contextlib.contextmanager
def gc_paused():
    """Hold Python's cyclic garbage collector for the block (reference counting goes on)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            _age_young()
            gc.enable()


def _age_young() -> None:
    """Where a young collection is due, move every tracked object to the oldest
    generation instead, unscanned.

    Why? Holding the collector does not stop it counting: an LSTM's unroll leaves
    thousands of new objects counted (the graph), so the first allocation after the
    block started a young collection that walked all of them only to find them alive
    (measured: 120-260 µs, once per tiny LSTM step). `freeze()` then `unfreeze()` moves
    the young generations into the oldest one in O(1) and zeroes the counts. Cycles
    among them are found by a full collection, which runs here every threshold1 ·
    threshold2 (100) agings: the cadence the young collections it replaces gave.
    Skipped if the program froze objects itself (`unfreeze()` would release them) or
    switched collection off with a threshold of 0.
    """
    threshold0, threshold1, threshold2 = gc.get_threshold()
    if gc.get_freeze_count() or not threshold0 or gc.get_count()[0] <= threshold0:
        return                                    # no young collection due: nothing to spare
    _AGED[0] += 1
    if _AGED[0] >= threshold1 * threshold2:
        _AGED[0] = 0
        gc.collect()
    else:
        gc.freeze()
        gc.unfreeze()


_AGED = [0]     # agings since _age_young's last full collection


def tune_malloc(mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD) -> bool:
    """Raise glibc's mmap and trim thresholds; True if they were set."""
    if os.environ.get("TINYGRAD_RNN_MALLOC") == "default":
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False                              # the user chose; glibc read it at start-up
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(M_MMAP_THRESHOLD, int(mmap_threshold))) and \
            bool(libc.mallopt(M_TRIM_THRESHOLD, int(trim_threshold)))
    except (OSError, AttributeError):
        return False


MALLOC_TUNED = tune_malloc()
