"""The floor of an eager engine: how fast can ANY Python engine on numpy run this graph?

`python -m benchmarks.floor [--sizes tiny,char] [--dtypes float64,float32] [--repeats 21]`
`python -m benchmarks.floor --callgrind [--models rnn --sizes tiny --dtypes float64]`   (instructions a step)

The engine records one node per primitive and walks them back:

    x_t = x[:, t];  a_t = x_t W + h_{t-1} U + b;  h_t = tanh(a_t)      (per step; LSTM: its gates)
    hs = stack(h_1..h_T);  logits = hs V + c;  E = mean -log_softmax(logits)[target]

At min-char-rnn scale each primitive's numpy kernel takes 1-2 µs, so the Python
around it decides the speed. How little Python can an engine get away with and
still record that graph? The floor below is a deliberately minimal engine, one short
function per primitive and its VJP: a Tensor is (data, parents, a VJP function, a creation tick); backward
walks the tensors behind the loss newest first and sums the shares each one
receives; a weight used at every step keeps its (a_t, g_t) factors and forms
Σ_t a_tᵀ g_t as ONE matmul when it is reached (a bias: one sum), as the engine does.
No names, scopes, version counters, checks, operator dispatch or edge records.

Then the stages add the engine's features back one at a time (`STAGES`), each on
top of the previous, so the table "floor -> engine" shows where the engine's time
above the floor goes:

    floor       the minimal engine: one function per primitive, called directly
    +operators  the same, through a Tensor's operators and methods (x_t @ W + h @ U + b, .tanh())
    +apply      one generic forward over the engine's op rows (ops.py): `op.forward(*xs, **params)`
    +op table   the engine's backward convention on top: each input's rule of the op row called
                directly (`Op.vjp` for ops with params), `_fit` where a share's shape or dtype
                differs (unbroadcast, dtype), the lazy gradients of sparse.py, `_plus` and `_dense`
    +names      every tensor gets a name and the current scope (a ContextVar read); each
                step runs in `scope("rnn/t=3")`; the cells name their results (.named("h_t"))
    +records    edge records kept: every share in `edge_grads`, every gradient kept with its
                shared flag, the visit order
    +checks     version counters and views' shared counters, the graph-used and written-since
                checks in backward, the grad-enabled and hook reads per op, the backward lock
    engine      the real thing (benchmarks/impls/engine.py: nn.RNN/LSTM, Linear, cross_entropy)

and beside them `floor+contract`: the floor's own dispatch with the per-tensor features the
engine promises with recording on (name and scope, every share kept, version counters,
backward's checks), so the cost of the features is seen apart from the cost of the mechanics.

Every stage is checked against the hand-written numpy BPTT (loss and every gradient,
to 1e-10 in float64) before anything is timed; then all are timed round-robin in
one process, and each ratio is the median over rounds of (stage / numpy) from the
same round (benchmarks/paired.py).
"""

from __future__ import annotations

import argparse
import itertools
import operator
import os
import re
import subprocess
import sys
import threading
from types import SimpleNamespace

# isort: off
from benchmarks import impls  # sets the BLAS thread variables before numpy loads
import numpy as np  # after impls: one BLAS thread
# isort: on

# The stages from +apply on reuse the engine's own pieces: its op rows and backward helpers.
from tinygrad_rnn import ops as _ops  # noqa: E402
from tinygrad_rnn.autograd import LAST_WRITE, TICK, _dense, _fit, _plus  # noqa: E402
from tinygrad_rnn.context import _ANOMALY, _GRAD_ENABLED, _RECORD_EDGES, _SCOPE, WATCHED, scope  # noqa: E402

_BACKWARD_LOCK = threading.RLock()      # the engine's, one per backward() call (stages with checks)

# ==== the floor: a minimal eager engine ======================================
_TICK = itertools.count()
_by_tick = operator.attrgetter("tick")


class Tensor:
    """data, the tensors it was made from, the VJP that sends its gradient to them, and
    the creation tick that orders backward. `g` is ∂E/∂self after backward (kept on every
    tensor: ∂E/∂h_t for every t); `parts` the deferred shares of a weight or a bias."""

    __slots__ = ("data", "parents", "back", "tick", "rg", "g", "parts")

    def __init__(self, data, parents=(), back=None, rg=False):
        self.data, self.parents, self.back, self.rg = data, parents, back, rg
        self.tick = next(_TICK)
        self.g = self.parts = None

    def receive(self, share):
        """One consumer's share of ∂E/∂self, summed."""
        self.g = share if self.g is None else self.g + share

    def defer(self, part):
        """A weight's (a_t, g_t) or a bias's g_t, kept until self is reached (see _form)."""
        if self.parts is None:
            self.parts = [part]
        else:
            self.parts.append(part)


def _lift(x):
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


def _rows(xs):
    """Arrays (..., k) as the rows of one (n, k) array."""
    if len(xs) == 1:
        return xs[0].reshape(-1, xs[0].shape[-1])
    return np.concatenate([x.reshape(-1, x.shape[-1]) for x in xs])


def _form(n):
    """Σ_t a_tᵀ g_t as one matmul over the stacked steps (a weight), or Σ_t Σ_rows g_t (a bias)."""
    parts, n.parts = n.parts, None
    if type(parts[0]) is tuple:
        total = _rows([a for a, _ in parts]).T @ _rows([g for _, g in parts])
    else:
        total = _rows(parts).sum(axis=0)
    n.g = total if n.g is None else n.g + total


def matmul(a, w):                               # (.., D) @ (D, H): w is a weight, its share deferred
    return type(a)(a.data @ w.data, (a, w), _matmul_back, a.rg or w.rg)


def _matmul_back(n, g):
    a, w = n.parents
    if a.rg:
        a.receive(g @ w.data.T)
    if w.rg:
        w.defer((a.data, g))


def add(a, b):                                  # b may be a bias broadcast over a's rows
    return type(a)(a.data + b.data, (a, b), _add_back, a.rg or b.rg)


def _add_back(n, g):
    a, b = n.parents
    if a.rg:
        a.receive(g)
    if b.rg:
        (b.receive if b.data.shape == g.shape else b.defer)(g)


def mul(a, b):
    return type(a)(a.data * b.data, (a, b), _mul_back, a.rg or b.rg)


def _mul_back(n, g):
    a, b = n.parents
    if a.rg:
        a.receive(g * b.data)
    if b.rg:
        b.receive(g * a.data)


def tanh(a):
    return type(a)(np.tanh(a.data), (a,), _tanh_back, a.rg)


def _tanh_back(n, g):
    n.parents[0].receive(g - g * n.data * n.data)


_HALF = {np.dtype(t): np.array(0.5, t) for t in (np.float32, np.float64)}  # no Python float per call


def sigmoid(a):
    half = _HALF[a.data.dtype]
    return type(a)(half * np.tanh(half * a.data) + half, (a,), _sigmoid_back, a.rg)


def _sigmoid_back(n, g):
    n.parents[0].receive(g * (n.data - n.data * n.data))


def neg(a):
    return type(a)(-a.data, (a,), _neg_back, a.rg)


def _neg_back(n, g):
    n.parents[0].receive(-g)


def total(a):                                   # Σ of every element, a 0-d result
    return type(a)(np.asarray(a.data.sum()), (a,), _total_back, a.rg)


def _total_back(n, g):
    n.parents[0].receive(np.broadcast_to(g, n.parents[0].data.shape))


def reshape(a, shape):
    return type(a)(a.data.reshape(shape), (a,), _reshape_back, a.rg)


def _reshape_back(n, g):
    n.parents[0].receive(g.reshape(n.parents[0].data.shape))


def log_softmax(a):                             # over the last axis
    s = a.data - a.data.max(axis=-1, keepdims=True)
    return type(a)(s - np.log(np.exp(s).sum(axis=-1, keepdims=True)), (a,), _log_softmax_back, a.rg)


def _log_softmax_back(n, g):
    n.parents[0].receive(g - np.exp(n.data) * g.sum(axis=-1, keepdims=True))


def getitem(a, index):                          # x[:, t] of the input: a constant, no VJP made
    back = (lambda n, g: _scatter(n.parents[0], index, g)) if a.rg else None
    return type(a)(a.data[index], (a,), back, a.rg)


def _scatter(a, index, g):
    d = np.zeros_like(a.data)
    np.add.at(d, index, g)
    a.receive(d)


def cat(xs):                                    # along the last axis: z_t = [h_{t-1}, x_t]
    return type(xs[0])(np.concatenate([x.data for x in xs], axis=-1), tuple(xs), _cat_back,
                  any(x.rg for x in xs))


def _cat_back(n, g):
    start = 0
    for x in n.parents:
        stop = start + x.data.shape[-1]
        if x.rg:
            x.receive(g[..., start:stop])
        start = stop


def stack(xs):                                  # along axis 1: hs (B, T, H)
    return type(xs[0])(np.stack([x.data for x in xs], axis=1), tuple(xs), _stack_back, any(x.rg for x in xs))


def _stack_back(n, g):
    for i, x in enumerate(n.parents):
        if x.rg:
            x.receive(g[:, i])


def newest_first(root):
    """Every tensor behind root that needs a gradient, newest first (creation order is topological)."""
    seen, todo = {root}, [root]
    while todo:
        for p in todo.pop().parents:
            if p.rg and p not in seen:
                seen.add(p)
                todo.append(p)
    return sorted(seen, key=_by_tick, reverse=True)


def backward(root):
    """∂E/∂n in n.g for every n behind root, each after all its consumers."""
    root.g = np.ones_like(root.data)
    for n in newest_first(root):
        if n.parts is not None:
            _form(n)
        if n.back is not None:
            n.back(n, n.g)


# +operators: the same functions behind a Tensor's operators and methods. The unary ones are
# the functions themselves; a binary operator lifts a number or array to a Tensor first.
for _name, _f in (("__matmul__", matmul), ("__add__", add), ("__mul__", mul)):
    setattr(Tensor, _name, lambda self, other, f=_f: f(self, _lift(other)))
Tensor.__neg__, Tensor.__getitem__, Tensor.tanh, Tensor.sigmoid = neg, getitem, tanh, sigmoid
Tensor.reshape, Tensor.log_softmax, Tensor.sum = reshape, log_softmax, total

FLOOR = SimpleNamespace(matmul=matmul, add=add, mul=mul, tanh=tanh, sigmoid=sigmoid, neg=neg, sum=total,
                        reshape=reshape, log_softmax=log_softmax, getitem=getitem, cat=cat, stack=stack,
                        leaf=lambda a: Tensor(a, rg=True), const=Tensor, backward=backward,
                        grad=operator.attrgetter("g"), value=operator.attrgetter("data"), named=None,
                        steps=range, zero=lambda q: setattr(q, "g", None))
# The same floor reached through operators and methods, as a user writes `x_t @ W + h @ U + b`.
OPERATORS = SimpleNamespace(**{**vars(FLOOR), "matmul": operator.matmul, "add": operator.add,
                               "mul": operator.mul, "neg": operator.neg, "getitem": operator.getitem,
                               "tanh": Tensor.tanh, "sigmoid": Tensor.sigmoid, "sum": Tensor.sum,
                               "reshape": Tensor.reshape, "log_softmax": Tensor.log_softmax})


# ==== +apply: the floor behind one generic forward over the engine's op rows ===
class _OpMethods:
    """Operators and methods over the engine's op rows (ops.py), each through the class's `_apply`."""

    __slots__ = ()

    def __matmul__(self, other):
        return self._apply(_ops.matmul, self, self._lift(other))

    def __add__(self, other):
        return self._apply(_ops.add, self, self._lift(other))

    def __mul__(self, other):
        return self._apply(_ops.mul, self, self._lift(other))

    def __neg__(self):
        return self._apply(_ops.neg, self)

    def __getitem__(self, index):
        return self._apply(_ops.getitem, self, index=index)

    def tanh(self):
        return self._apply(_ops.tanh, self)

    def sigmoid(self):
        return self._apply(_ops.sigmoid, self)

    def reshape(self, shape):
        return self._apply(_ops.reshape, self, shape=shape)

    def log_softmax(self):
        return self._apply(_ops.log_softmax, self, axis=-1)

    def sum(self):
        return self._apply(_ops.sum, self, axis=None, keepdims=False)

    def _lift(self, x):
        return x if isinstance(x, _OpMethods) else type(self)(np.asarray(x))


class Applied(_OpMethods, Tensor):
    """The floor's tensor, made by `_apply` (the op row's forward, any inputs, keyword params)."""

    __slots__ = ("params",)


def _forward(op, xs, params) -> np.ndarray:
    """The op row's forward on the arrays (a numpy scalar made a 0-d array)."""
    y = op.forward(*xs, **params) if params else op.forward(*xs)
    return y if type(y) is np.ndarray else np.asarray(y)


def _apply(op, *inputs, **params):
    y = _forward(op, [t.data for t in inputs], params)
    rg = False
    for t in inputs:
        if t.rg:
            rg = True
            break
    out = Applied(y, inputs, _BACK[op] if rg else None, rg)
    out.params = params
    return out


Applied._apply = staticmethod(_apply)


_BACK = {_ops.matmul: _matmul_back, _ops.add: _add_back, _ops.mul: _mul_back, _ops.tanh: _tanh_back,
         _ops.sigmoid: _sigmoid_back, _ops.neg: _neg_back, _ops.sum: _total_back, _ops.reshape: _reshape_back,
         _ops.log_softmax: _log_softmax_back, _ops.cat: _cat_back, _ops.stack: _stack_back,
         _ops.getitem: lambda n, g: _scatter(n.parents[0], n.params["index"], g)}
APPLIED = SimpleNamespace(**{**vars(OPERATORS), "tanh": Applied.tanh, "sigmoid": Applied.sigmoid,
                             "sum": Applied.sum,
                             "reshape": Applied.reshape, "log_softmax": Applied.log_softmax,
                             "cat": lambda xs: _apply(_ops.cat, *xs, axis=-1),
                             "stack": lambda xs: _apply(_ops.stack, *xs, axis=1),
                             "leaf": lambda a: Applied(a, rg=True), "const": Applied})


# ==== floor+contract: the floor's dispatch with the contract's per-tensor features ====
class Contract(Tensor):
    """The floor's tensor plus what the engine promises with recording on: a name and the
    scope it was made in, every share it received kept (an edge record, at the receiving
    end), a version counter shared with the array it views, the grad-enabled and hook reads
    per op, and backward's graph-used and written-since checks (`contract_backward`)."""

    __slots__ = ("name", "scope", "shares", "version", "used", "visits")

    def __init__(self, data, parents=(), back=None, rg=False):
        self.data, self.parents, self.back = data, parents, back
        self.rg = rg and _GRAD_ENABLED.get()
        self.tick = next(TICK)
        self.g = self.parts = self.shares = self.version = None
        self.name, self.scope, self.used = None, _SCOPE.get(), False
        if data.base is not None:               # a view (x[:, t], a reshape): its base's counter
            for p in parents:
                if data.base is p.data or data.base is p.data.base:
                    if p.version is None:
                        p.version = [0]
                    self.version = p.version
                    break
        if WATCHED[0]:
            raise RuntimeError("floor: anomaly detection and capture hooks are not staged")

    def receive(self, share):
        if self.shares is None:
            self.shares = [share]
        else:
            self.shares.append(share)
        self.g = share if self.g is None else self.g + share

    def defer(self, part):
        if self.shares is None:
            self.shares = [part]
        else:
            self.shares.append(part)
        Tensor.defer(self, part)

    def named(self, name):
        self.name = name
        return self


def contract_backward(root):
    with _BACKWARD_LOCK:
        _RECORD_EDGES.get(), _ANOMALY.get()
        root.g = np.ones_like(root.data)
        order = newest_first(root)
        for n in order:
            if n.back is not None and (n.used or n.tick < LAST_WRITE[0]):
                raise RuntimeError("floor: graph used twice or written since")
            if n.parts is not None:
                _form(n)
            if n.back is not None:
                n.back(n, n.g)
                n.used = True
        root.visits = [n.tick for n in order]   # the visit order, for a replay of the walk


# ==== one training step, written once for every stage =========================
def rnn_loss(F, p, x, targets):
    """h_t = tanh(x_t W + h_{t-1} U + b); logits_t = h_t V + c; E = mean cross-entropy."""
    W, U, b = p["W"], p["U"], p["b"]
    B, T, _ = F.value(x).shape
    h = F.const(np.zeros((B, F.value(U).shape[0]), F.value(x).dtype))         # h_0 (B, H)
    hs = []
    for t in F.steps(T):
        x_t = F.getitem(x, (slice(None), t))                            # (B, D)
        h = F.tanh(F.add(F.add(F.matmul(x_t, W), F.matmul(h, U)), b))   # (B, H)
        if F.named:
            F.named(x_t, "x_t")
            F.named(h, "h_t")
        hs.append(h)
    return _readout_loss(F, hs, p, targets)


def lstm_loss(F, p, x, targets):
    """The course's LSTM on z_t = [h_{t-1}, x_t], with the same readout and loss."""
    B, T, _ = F.value(x).shape
    h = C = F.const(np.zeros((B, F.value(p["W_f"]).shape[1]), F.value(x).dtype))   # h_0, C_0 (B, H)
    hs = []
    for t in F.steps(T):
        x_t = F.getitem(x, (slice(None), t))                            # (B, D)
        z = F.cat([h, x_t])                                             # (B, H + D)
        f = F.sigmoid(F.add(F.matmul(z, p["W_f"]), p["b_f"]))
        i = F.sigmoid(F.add(F.matmul(z, p["W_i"]), p["b_i"]))
        C_tilde = F.tanh(F.add(F.matmul(z, p["W_c"]), p["b_c"]))
        o = F.sigmoid(F.add(F.matmul(z, p["W_o"]), p["b_o"]))
        C = F.add(F.mul(f, C), F.mul(i, C_tilde))                       # (B, H)
        h = F.mul(o, F.tanh(C))                                         # (B, H)
        if F.named:
            for v, name in ((x_t, "x_t"), (z, "z_t"), (f, "f_t"), (i, "i_t"), (C_tilde, "C̃_t"),
                            (o, "o_t"), (C, "C_t"), (h, "h_t")):
                F.named(v, name)
        hs.append(h)
    return _readout_loss(F, hs, p, targets)


def _readout_loss(F, hs, p, targets):
    logits = F.add(F.matmul(F.stack(hs), p["V"]), p["c"])              # (B, T, K)
    B, T, K = F.value(logits).shape
    logp = F.log_softmax(F.reshape(logits, (B * T, K)))                # (N, K)
    nll = F.neg(F.getitem(logp, (np.arange(B * T), targets.reshape(-1))))   # (N,)
    return F.mul(F.sum(nll), F.const(np.array(1.0 / (B * T), F.value(logits).dtype)))


# ==== the stages: the engine's features added back, one at a time ==============

_NO_PARAMS = {}


class Node(_OpMethods):
    """A tensor of the staged engines. Class flags say which features it pays for."""

    __slots__ = ("_data", "_op", "_parents", "_params", "_tick", "_requires_grad", "_pending", "_grad",
                 "_name", "_named", "scope", "edge_grads", "_shared", "_version", "_graph_used")
    NAMES = RECORDS = CHECKS = False

    def __init__(self, data, requires_grad=False, op=None, parents=(), params=_NO_PARAMS):
        self._data, self._requires_grad = data, requires_grad
        self._op, self._parents, self._params = op, parents, params
        self._tick = next(TICK)                 # the engine's clock: the written-since check reads it
        self._pending = self._grad = None
        if self.NAMES:
            self._name, self._named, self.scope = op.name if op else "tensor", False, _SCOPE.get()
        if self.RECORDS:
            self.edge_grads, self._shared = None, False
        if self.CHECKS:
            self._version, self._graph_used = None, False

    def named(self, name):
        self._name, self._named = name, True
        return self


class Named(Node):
    NAMES = True


class Recorded(Named):
    RECORDS = True


class Checked(Recorded):
    CHECKS = True


def apply(op, *inputs, **params):
    """The generic forward: the op row's forward on the arrays, the result recorded."""
    cls = type(inputs[0])
    y = _forward(op, [t._data for t in inputs], params)
    rg = False
    for t in inputs:
        if t._requires_grad:
            rg = _GRAD_ENABLED.get() if cls.CHECKS else True
            break
    out = cls(y, True, op, inputs, params or _NO_PARAMS) if rg else cls(y)
    if cls.CHECKS:
        if y.base is not None:                  # a view shares its base's version counter
            for t in inputs:
                if y.base is t._data or y.base is t._data.base:
                    if t._version is None:
                        t._version = [0]
                    out._version = t._version
                    break
        if WATCHED[0]:
            raise RuntimeError("floor: anomaly detection and capture hooks are not staged")
    return out


Node._apply = staticmethod(apply)


def _cat(xs):
    return apply(_ops.cat, *xs, axis=-1)


def _stack(xs):
    return apply(_ops.stack, *xs, axis=1)


def node_backward(root):
    """The engine's walk (autograd._backward) with each stage's features switched in."""
    cls = type(root)
    if cls.CHECKS:
        with _BACKWARD_LOCK:
            _RECORD_EDGES.get(), _ANOMALY.get()
            _node_backward(root, cls)
    else:
        _node_backward(root, cls)


def _node_backward(root, cls):
    record, checks = cls.RECORDS, cls.CHECKS
    seen, todo = {root}, [root]
    while todo:
        for p in todo.pop()._parents:
            if p._requires_grad and p not in seen:
                seen.add(p)
                todo.append(p)
    order = sorted(seen, key=operator.attrgetter("_tick"))
    root._pending = np.ones_like(root._data)
    for node in reversed(order):
        if checks and node._op is not None and (node._graph_used or node._tick < LAST_WRITE[0]):
            raise RuntimeError("floor: graph used twice or written since")
        g, node._pending = _dense(node._pending), None
        if record:
            node._grad, node._shared = g, True
        else:
            node._grad = g
        if node._op is None:
            continue
        op, y, params = node._op, node._data, node._params
        xs = [p._data for p in node._parents]
        rules = None if params or op.variadic else op.vjps     # the engine's convention (autograd._backward)
        shares = []
        for i, p in enumerate(node._parents):
            share = None
            if p._requires_grad:
                share = rules[i](g, y, *xs) if rules else op.vjp(i, g, y, xs, params)
                if share.shape != xs[i].shape or share.dtype is not xs[i].dtype:
                    share = _fit(share, xs[i])
                if p._pending is None:
                    p._pending = share
                    if record and (share is g or (type(share) is np.ndarray and share.base is not None)):
                        p._shared = node._shared = True
                else:
                    p._pending = _plus(p._pending, share)
                    if record:
                        p._shared = False
            shares.append(share)
        if record:
            node.edge_grads = tuple(shares)
        if checks:
            node._graph_used = True
    if record:
        root._visits = [n._tick for n in reversed(order)]


def _steps_in_scopes(T):
    for t in range(T):
        with scope(sys.intern(f"rnn/t={t + 1}")):
            yield t


def _staged(cls):
    return SimpleNamespace(**{**vars(OPERATORS), "cat": _cat, "stack": _stack, "tanh": Node.tanh,
                              "sigmoid": Node.sigmoid, "sum": Node.sum, "reshape": Node.reshape,
                              "log_softmax": Node.log_softmax, "leaf": lambda a: cls(a, True),
                              "const": cls, "backward": node_backward, "grad": operator.attrgetter("_grad"),
                              "value": operator.attrgetter("_data"),
                              "zero": lambda q: setattr(q, "_grad", None),
                              "named": Node.named if cls.NAMES else None,
                              "steps": _steps_in_scopes if cls.NAMES else range})


CONTRACT = SimpleNamespace(**{**vars(FLOOR), "leaf": lambda a: Contract(a, rg=True), "const": Contract,
                              "backward": contract_backward, "named": Contract.named,
                              "steps": _steps_in_scopes})
STAGES = {"floor": FLOOR, "+operators": OPERATORS, "+apply": APPLIED, "+op table": _staged(Node),
          "+names": _staged(Named), "+records": _staged(Recorded), "+checks": _staged(Checked),
          "floor+contract": CONTRACT}


class Step:
    """One training step (forward + backward, no SGD) of a stage, as benchmarks/impls expect:
    `step()` returns the loss, `step.grads()` the gradients under the oracle's names."""

    def __init__(self, stage: str, model: str, problem):
        self.F = STAGES[stage]
        self.loss_fn = rnn_loss if model == "rnn" else lstm_loss
        self.params = {k: self.F.leaf(v.copy()) for k, v in problem.params.items()}
        self.x, self.targets = self.F.const(problem.x), problem.targets

    def __call__(self) -> float:
        for q in self.params.values():
            self.F.zero(q)
        loss = self.loss_fn(self.F, self.params, self.x, self.targets)
        self.F.backward(loss)
        return float(self.F.value(loss))

    def grads(self):
        return {k: np.asarray(self.F.grad(q)) for k, q in self.params.items()}


def build(stage: str, model: str, problem) -> Step:
    return Step(stage, model, problem)


# ==== measuring ================================================================
def check_all(model, problem, names) -> dict:
    """Every stage's loss and gradients against the numpy oracle: {name: max rel err}."""
    from benchmarks.run import max_rel_err
    ref = impls.load("numpy_impl").build(model, problem)
    ref_loss, ref_grads = ref(), ref.grads()
    errs = {}
    for name in names:
        step = build(name, model, problem)
        loss = step()
        errs[name] = max(abs(loss - ref_loss) / abs(ref_loss), max_rel_err(step.grads(), ref_grads))
    return errs


def time_cell(model, size, dtype, repeats, sample_ms) -> dict:
    """Paired ratios to numpy of every stage and the engine, timed round-robin in this process."""
    from benchmarks.paired import paired_ratio
    from benchmarks.run import time_round_robin
    problem = impls.Problem(model, size, dtype)
    tol = 1e-10 if dtype == "float64" else 1e-4
    errs = check_all(model, problem, STAGES)
    bad = {k: e for k, e in errs.items() if not e <= tol}
    if bad:
        raise AssertionError(f"{model} {size} {dtype}: differs from numpy: {bad}")
    steps = {"numpy": impls.load("numpy_impl").build(model, problem)}
    steps.update({name: build(name, model, problem) for name in STAGES})
    steps["engine"] = impls.load("engine").build(model, problem)
    timed = time_round_robin(steps, repeats, sample_ms / 1e3, "cpu")
    return {name: {"ms": timed[name]["ms"], "ratio": paired_ratio(timed[name], timed["numpy"]),
                   "err": errs.get(name)} for name in steps}


def instructions(stage, model, size, dtype, n1=10, n2=40) -> float:
    """Instructions of one step under callgrind: the difference of an n2-step and an n1-step
    run over n2 - n1, so start-up, imports and warm-up cancel out. Independent of load."""
    counts = []
    for n in (n1, n2):
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-m",
               "benchmarks.floor", "--run-steps", str(n), "--stage", stage, "--models", model,
               "--sizes", size, "--dtypes", dtype]
        done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
        found = re.search(r"Collected : (\d+)", done.stderr)
        if not found:
            raise RuntimeError(f"callgrind failed: {done.stderr[-2000:]}")
        counts.append(int(found.group(1)))
    return (counts[1] - counts[0]) / (n2 - n1)


def run_steps(stage, model, size, dtype, n):
    problem = impls.Problem(model, size, dtype)
    if stage in ("numpy", "engine"):
        step = impls.load("numpy_impl" if stage == "numpy" else "engine").build(model, problem)
    else:
        step = build(stage, model, problem)
    for _ in range(n):
        step()


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.floor", description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="rnn,lstm")
    ap.add_argument("--sizes", default="tiny,char")
    ap.add_argument("--dtypes", default="float64,float32")
    ap.add_argument("--repeats", type=int, default=21)
    ap.add_argument("--sample-ms", type=float, default=30.0)
    ap.add_argument("--callgrind", action="store_true", help="instructions a step (valgrind), no timing")
    ap.add_argument("--run-steps", type=int, default=None, help=argparse.SUPPRESS)   # internal: callgrind
    ap.add_argument("--stage", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    impls.single_threaded()
    cells = [(m, s, d) for s in args.sizes.split(",") for d in args.dtypes.split(",")
             for m in args.models.split(",")]
    if args.run_steps is not None:
        run_steps(args.stage, *cells[0], args.run_steps)
        return
    names = ["numpy", *STAGES, "engine"]
    if args.callgrind:
        print("| cell | " + " | ".join(names) + " |")
        print("|---|" + "---|" * len(names))
        for cell in cells:
            ir = {name: instructions(name, *cell) for name in names}
            print(f"| {' '.join(cell)} | " + " | ".join(
                f"{ir[n] / 1e6:.2f} M ({ir[n] / ir['numpy']:.2f}x)" for n in names) + " |", flush=True)
        return
    print(f"load {os.getloadavg()[0]:.1f}; ratio = median over {args.repeats} rounds of stage/numpy, "
          "CPU time, one process\n")
    print("| cell | numpy ms | " + " | ".join(names[1:]) + " |")
    print("|---|---|" + "---|" * (len(names) - 1))
    for cell in cells:
        r = time_cell(*cell, args.repeats, args.sample_ms)
        print(f"| {' '.join(cell)} | {r['numpy']['ms']:.3f} | " +
              " | ".join(f"{r[n]['ratio']:.2f}" for n in names[1:]) + " |", flush=True)


if __name__ == "__main__":
    main()
