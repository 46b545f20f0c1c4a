"""Per-thread engine state: grad mode, scopes, anomaly detection, edge recording.

Each switch is a `contextvars.ContextVar`, so two threads (or two asyncio tasks)
training two models never see each other's `no_grad()` or `scope()`.
"""

from __future__ import annotations

import contextvars
import functools
import threading
from threading import get_ident

import numpy as np

_GRAD_ENABLED = contextvars.ContextVar("grad_enabled", default=True)
_SCOPE = contextvars.ContextVar("scope", default="")
_ANOMALY = contextvars.ContextVar("detect_anomaly", default=False)
_RECORD_EDGES = contextvars.ContextVar("record_edge_grads", default=True)
_CAPTURE = contextvars.ContextVar("capture", default=None)   # tg.compile's tape, while it records
_WATCH = contextvars.ContextVar("watch", default=None)        # a _Watch, inside either of the two above
_GRAD_OFF = contextvars.ContextVar("grad_off", default=None)  # a _Watch, inside no_grad()
_DEFAULT_DTYPE = [np.dtype(np.float32)]  # process-wide, like torch.set_default_dtype


class _Entries:
    """The tokens of a context manager's open entries, so one object is reusable and
    re-entrant (as torch.no_grad() is): entered again, nested in itself, or from several
    threads, each exit restores exactly what its own entry replaced.

    The common case, one entry at a time, costs one slot; re-entries (per thread) go to
    a dict made only when needed.
    """

    __slots__ = ("_first", "_more")

    def _push(self, token) -> None:
        if self._first is None:
            self._first = (threading.get_ident(), token)
        else:
            if self._more is None:
                self._more = {}
            self._more.setdefault(threading.get_ident(), []).append(token)

    def _pop(self, var: contextvars.ContextVar) -> None:
        ident = threading.get_ident()
        more = self._more.get(ident) if self._more else None
        if more:                            # the latest entry of this thread is a re-entry
            token = more.pop()
        elif self._first is not None and self._first[0] == ident:
            token, self._first = self._first[1], None
        else:                               # __exit__ without __enter__ (or from another thread)
            raise RuntimeError(f"{var.name}: exited without a matching entry in this thread; "
                               "enter and leave a context manager in the same thread (a `with` block)")
        var.reset(token)


class _Setting(_Entries):
    """Set a context variable inside a `with` block, then restore it; reusable (see _Entries)."""

    __slots__ = ("_var", "_value")

    def __init__(self, var: contextvars.ContextVar, value):
        self._var, self._value, self._first, self._more = var, value, None, None

    def __enter__(self):
        self._push(self._var.set(self._value))
        return self

    def __exit__(self, *exc):
        self._pop(self._var)

    def __call__(self, fn):
        """As a decorator, like ``@torch.no_grad()``: every call of fn runs inside the block."""
        @functools.wraps(fn)
        def inside(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)
        return inside


_setting = _Setting


class _Watch:
    """The mark a hook's block (detect_anomaly(), tg.compile's capture) leaves in `_WATCH`,
    and no_grad() in `_GRAD_OFF`.

    Each counts itself while it lives, in its list: WATCHED[0] (GRAD_OFF[0]) is how many there
    are. While there are none, no context in any thread has a hook on (grad off), and `apply`
    reads neither hook's variable (two ContextVar reads per op were 2% of a tiny RNN step,
    measured), nor `_GRAD_ENABLED` (~700 instructions a read: 1.2%). A context copied inside the
    block (an asyncio task) holds the mark as well, so it stays counted after the block ends.
    """

    __slots__ = ("_count",)

    def __init__(self, count: list):
        self._count = count
        with _WATCH_LOCK:
            count[0] += 1

    def __del__(self):
        with _WATCH_LOCK:
            self._count[0] -= 1


WATCHED = [0]
GRAD_OFF = [0]
_WATCH_LOCK = threading.Lock()


class _Marked(_Setting):
    """Sets its variable (`_WATCH`, `_GRAD_OFF`) to a new _Watch at every entry, counted in its
    value (WATCHED, GRAD_OFF)."""

    __slots__ = ()

    def __enter__(self):
        self._push(self._var.set(_Watch(self._value)))
        return self


class _Hooked:
    """A setting `apply` must look at for every op (detect_anomaly(), tg.compile's capture,
    no_grad()), entered together with a fresh mark (see _Watch): in `_WATCH`, or `mark`."""

    __slots__ = ("_settings",)

    def __init__(self, var: contextvars.ContextVar, value, mark: tuple = (_WATCH, WATCHED)):
        self._settings = (_Marked(*mark), _Setting(var, value))

    def __enter__(self):
        for s in self._settings:
            s.__enter__()
        return self

    def __exit__(self, *exc):
        for s in reversed(self._settings):
            s.__exit__(*exc)

    __call__ = _Setting.__call__    # as a decorator too


def capturing(tape):
    """tg.compile's block: every op made inside it is written to `tape` (see compile.py)."""
    return _Hooked(_CAPTURE, tape)


def no_grad():
    """Build no graph inside the block (evaluation, sampling, optimizer updates)."""
    return _Hooked(_GRAD_ENABLED, False, (_GRAD_OFF, GRAD_OFF))   # counted: apply reads the
                                                                  # variable only while one is on


def enable_grad():
    """Build the graph again inside a `no_grad()` block."""
    return _setting(_GRAD_ENABLED, True)


def is_grad_enabled() -> bool:
    return _GRAD_ENABLED.get()


class scope(_Entries):
    """Name every tensor made inside the block; scopes nest as ``rnn/t=3/forget_gate``.

    The renderer clusters nodes by scope, and every error message names it, so
    a failure deep in an unrolled graph says which time step it happened in.
    (A class rather than @contextmanager: a layer enters one per time step, and
    this is ten times cheaper.) Reusable and re-entrant: ``s = scope("a")`` may be
    entered again, or inside itself (``a/a``), and each exit restores its entry's parent.
    """

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = str(name)
        self._first = self._more = None

    def __enter__(self):
        parent = _SCOPE.get()
        token = _SCOPE.set(f"{parent}/{self.name}" if parent else self.name)
        if self._first is None:             # one entry at a time: the fast path, inline
            self._first = (get_ident(), token)
        else:
            self._push(token)
        return self

    def __exit__(self, *exc):
        first = self._first
        if self._more is None and first is not None and first[0] == get_ident():
            self._first = None
            _SCOPE.reset(first[1])
        else:
            self._pop(_SCOPE)


def on_replay(obj, *attributes) -> None:
    """Tell tg.compile that a forward pass set these attributes of obj (a layer's
    per-step states): a replay of the captured step sets them again, as they are now."""
    tape = _CAPTURE.get()
    if tape is not None:
        tape.effect(obj, attributes)


def current_scope() -> str:
    return _SCOPE.get()


def detect_anomaly(enabled: bool = True):
    """Raise at the first op whose forward value or backward gradient is NaN/Inf."""
    return _Hooked(_ANOMALY, enabled)


def is_anomaly_enabled() -> bool:
    return _ANOMALY.get()


def record_edge_grads(enabled: bool = True):
    """Keep (or not) the gradient that flowed along every edge, for the renderer.

    Recording keeps a reference to an array `backward()` computes anyway, so it
    costs no arithmetic; it does keep each per-step contribution to a shared
    weight alive (T arrays of U's shape). Switch it off for long training runs.
    """
    return _setting(_RECORD_EDGES, enabled)


def set_default_dtype(dtype) -> None:
    """The float dtype of tensors made from Python numbers and lists (float32 by default)."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: expected a float dtype, got {dtype}")
    _DEFAULT_DTYPE[0] = dtype


def get_default_dtype() -> np.dtype:
    return _DEFAULT_DTYPE[0]
