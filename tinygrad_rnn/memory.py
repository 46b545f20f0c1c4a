"""Three costs of a graph engine that are not arithmetic, and what the library does about them.

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

3. Values no backward rule reads. A graph keeps every tensor's values, but
   backward() reads only some of them: each op's row in ops.py says which
   (`saves`, PyTorch's saved tensors). tanh's rule reads its output h_t, matmul's
   its inputs, add's nothing; so of an RNN step's five arrays, x_t W, h_{t-1} U,
   their sum and the sum + b are never read again (B=32, T=50, H=128: 6.6 MB of a
   medium step's ~16). Under record_edge_grads(False), where no picture will show
   them, the recurrent layers call `free_unread` as each time step ends (so they
   never all exist at once: without that the forward pass's end was a long
   unroll's peak) and on the outputs they stack after the loop: those tensors
   keep their shape, dtype and place in the graph, and their array becomes a
   `FreedValues`, which raises ValuesFreedError wherever the values are read.
   Nothing is freed while edges are recorded (the pictures show values), under
   no_grad(), detect_anomaly() or tg.compile's capture (both read every value),
   nor in a pass whose outputs hold less than 64 KiB (a tiny step's few hundred
   bytes are not worth the walk that finds them).
   Under the same conditions the states h_t, which stay, are not held twice: once the
   layer has stacked them into its outputs, each h_t's array is a view of its row
   (`share_stacked`).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import platform

import numpy as np

from .autograd import TICK
from .context import _ANOMALY, _CAPTURE, _GRAD_ENABLED, _RECORD_EDGES
from .errors import ValuesFreedError, values_freed

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


class FreedValues:
    """What a freed tensor's array becomes: its shape and dtype, and no values.

    The shape and dtype stay readable (backward() sums a gradient back to its
    input's shape and dtype, the renderer labels shapes). Any read of the values
    raises: numpy calls `__array__` (np.add, np.asarray, np.concatenate), and any
    other array method or operator lands in `_refuse`. One object serves every
    freed tensor of a shape and dtype (`placeholder`): it costs nothing a step.
    """

    __slots__ = ("shape", "dtype")

    def __init__(self, shape: tuple, dtype: np.dtype):
        self.shape, self.dtype = shape, dtype

    ndim = property(lambda self: len(self.shape))
    size = property(lambda self: int(np.prod(self.shape)))

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        return f"<values freed: shape {self.shape}, {self.dtype}>"

    def _refuse(self, *args, **kwargs):
        raise ValuesFreedError(values_freed(None, None, self.shape, self.dtype))

    def __getattr__(self, name: str):   # x.reshape, x.sum, x.T, x.copy(): any array method
        if name.startswith("__"):
            raise AttributeError(name)  # numpy's protocol lookups (__array_interface__) fall through
        self._refuse()

    __array__ = __getitem__ = __setitem__ = __iter__ = __bool__ = __float__ = __int__ = _refuse
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __neg__ = _refuse
    __truediv__ = __rtruediv__ = __pow__ = __rpow__ = __matmul__ = __rmatmul__ = _refuse
    __lt__ = __le__ = __gt__ = __ge__ = __abs__ = _refuse


_PLACEHOLDERS: dict = {}       # (shape, dtype) -> its FreedValues
_MAX_PLACEHOLDERS = 1024       # a program meets a few shapes; past this many, start afresh


def placeholder(shape: tuple, dtype: np.dtype) -> FreedValues:
    """The FreedValues of a shape and dtype, made once for the whole program. (One per call
    of `free_unread`, i.e. per time step, was a placeholder and its key kept for every step of
    a long unroll: 104 B of an RNN step's ~4.5 KB, measured.)"""
    key = (shape, dtype)
    found = _PLACEHOLDERS.get(key)
    if found is None:
        if len(_PLACEHOLDERS) >= _MAX_PLACEHOLDERS:
            _PLACEHOLDERS.clear()
        found = _PLACEHOLDERS[key] = FreedValues(shape, dtype)
    return found


def is_freed(t) -> bool:
    """Were t's values freed by `free_unread`?"""
    return type(t._data) is FreedValues


def kept_values(t):
    """t's array, or None where its values were freed: for readers that visit every tensor
    of a graph (the renderer), not only the ones whose values they need."""
    return None if type(t._data) is FreedValues else t._data


def _reads(op, i: int) -> bool:
    """Does a VJP of `op` read the values of its input i? (its row's `saves` in ops.py)"""
    return "x" in op.saves or (i < 2 and "ab"[i] in op.saves)


FREED_PASS_BYTES = 2**16       # a smaller pass keeps all its values (see frees_values)


def frees_values(nbytes: int) -> bool:
    """Does a layer free what no rule reads in a pass whose outputs hold `nbytes`? Under
    record_edge_grads(False), with a graph built, no detect_anomaly() and no tg.compile capture
    (both read every value), and for passes of at least 64 KiB. Why the size: the walk costs
    the same few microseconds a step whatever the arrays hold, and below that the memory is not
    worth it (a tiny RNN training step, B=1, T=25, H=32: 14% of its time, to free 32 KB;
    measured). A long unroll's steps are as small, but its outputs are T times larger."""
    return nbytes >= FREED_PASS_BYTES and not (
        _RECORD_EDGES.get() or not _GRAD_ENABLED.get() or _ANOMALY.get() or _CAPTURE.get() is not None)


def pass_start(nbytes: int) -> int | None:
    """Where a part of a layer's forward pass starts (a tick: what it makes comes after), if
    `free_unread` is to free its values (`frees_values`); else None, and no tick is taken."""
    return next(TICK) if frees_values(nbytes) else None


def free_unread(results, since: int | None) -> int:
    """At the end of a part of a recurrent layer's forward pass (a time step; the outputs
    stacked after the loop): free the values of the tensors it made (creation tick > `since`,
    from `pass_start`) that no backward rule reads.

    A tensor t goes iff its op does not save its output y, no op inside the pass that
    reads t saves it as an input, it is not a state the cells keep (h_t, C_t: retain_grad),
    not one of the pass's `results` and not a leaf. Returns the bytes freed.
    """
    if since is None:
        return 0
    read = dict.fromkeys(results, True)  # every tensor of the pass met so far -> is its value needed?
    stack = list(results)
    while stack:                         # from the results back to where the pass began
        t = stack.pop()
        op = t._op
        if op is None:
            continue
        saves = op.saves
        if "y" in saves or t._retains_grad:
            read[t] = True
        i = 0
        for p in t._parents:
            if p._tick > since:
                needed = _reads(op, i)            # a rule of op reads p's value
                if p not in read:
                    read[p] = needed
                    stack.append(p)
                elif needed:
                    read[p] = True
            i += 1
    freed = 0
    for t, needed in read.items():
        a = t._data
        if needed or t._op is None or type(a) is FreedValues:
            continue
        freed += a.nbytes if a.base is None else 0      # a view's memory belongs to its base
        t._data = placeholder(a.shape, a.dtype)
    return freed


SHARED_STACK_BYTES = 2**16     # smaller outputs keep their states' own arrays (see share_stacked)


def share_stacked(stacked, states) -> None:
    """After a recurrent layer stacked its states h_1..h_T into its outputs (under
    record_edge_grads(False), `frees_values`): each h_t's array becomes a view of its row of
    the stack. The numbers are the same (the stack copied them) and stay readable; they are
    held once instead of twice (a long unroll, B=1, H=32: 256 bytes of an RNN step's 3.9 KB,
    measured). As every view, h_t then shares the stack's version counter, so a write to
    either's `.data` is seen by the ops that read both. A state that views other memory
    already, or was written, keeps its own array; so do all of them below 64 KiB of outputs,
    where making T views costs more time than the copy costs memory (a tiny RNN step, T=25:
    1.5% more instructions, measured)."""
    if stacked._data.nbytes < SHARED_STACK_BYTES:
        return
    version = stacked._shared_version()
    for h, row in zip(states, np.moveaxis(stacked._data, stacked._params["axis"], 0)):   # row: (B, H)
        if h._data.base is None and h._version is None:
            h._data, h._version = row, version
