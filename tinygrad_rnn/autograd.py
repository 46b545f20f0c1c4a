"""Backpropagation: walk the recorded graph newest first, one VJP per edge.

Every op `apply` records is a node: its output, the op and the inputs (its
parents). `backward(root, seed)` computes ∂E/∂t for every tensor t on a path
to the root, by the chain rule applied one node at a time:

    ∂E/∂x_i = Σ over the ops that read x_i of  VJP_i(∂E/∂y)

A node is processed once all its consumers have sent their share. Creation order
gives that for free (an op's inputs exist before it): `walk` sorts the graph by
creation time, and backward reads that list from the newest end.

A weight shared by every time step is one leaf with one edge per use; the
shares add up in `_pending` before the weight is reached, which is BPTT's
∂E/∂U = Σ_t (the term of step t).

Which tensors keep their gradient (`keeps_grad`): with `record_edge_grads()` on (the
default) every tensor does, for the pictures. Switched off, for speed and memory, the
walk lets an intermediate's gradient go once it has sent it on, as PyTorch does: only
leaves (parameters, inputs that require grad) keep theirs, and the tensors marked with
`retain_grad()` (the nn cells mark their states h_t and C_t, so ∂E/∂h_t stays readable
for every t). A dropped gradient leaves `DROPPED` in `_grad`: `.grad` then reads None
with a warning that says how to keep it.
"""

from __future__ import annotations

import itertools
import operator
import threading

import numpy as np
from numpy import ndarray

from .anomaly import check_finite
from .context import _ANOMALY, _RECORD_EDGES
from .errors import GraphError, check_graph_usable, grad_shape
from .ops import matmul as _MATMUL
from .ops import unbroadcast
from .records import prepare
from .sparse import FactoredGrad, LazyGrad, SummedGrad, formed_if_large, joins_kept

# One clock ticks at every event: a tensor being made (its `_tick`), or a
# `.data` written (the counter of its memory, shared by its views, and `LAST_WRITE`).
TICK = itertools.count()
LAST_WRITE = [-1]                   # tick of the latest `.data` write anywhere
# backward() calls run one at a time, so the shares in `_pending` are the walk's own (two
# threads may walk one graph); one lock per call, not per node (0.3 µs a node, measured).
_BACKWARD_LOCK = threading.RLock()
_DEFERRED = (FactoredGrad, SummedGrad)      # the lazy sums over time steps (sparse.py)


class _Dropped:
    """The mark backward() leaves in `_grad` when it used a gradient and let it go."""

    __slots__ = ()

    def __repr__(self):
        return "<gradient dropped by backward()>"


DROPPED = _Dropped()


def keeps_grad(t, record: bool) -> bool:
    """Does backward() leave ∂E/∂t in `t.grad`? Always while edges are recorded; else for
    a leaf and for a tensor marked with retain_grad() (the nn cells' h_t and C_t)."""
    return record or t._op is None or t._retains_grad


def kept_grad(t):
    """`t.grad`, or None without a warning where backward() dropped it: for readers that
    visit every tensor of a graph (the renderer, tg.compile), not only the kept ones."""
    return None if t._grad is DROPPED else t.grad


def walk(root, needs_grad: bool = False) -> list:
    """Every tensor `root` depends on (itself included), each after its inputs.

    An explicit stack, not recursion: a 10,000-step unroll is a 10,000-deep
    chain and Python's recursion limit is 1,000. Sorting by creation time makes
    the order topological. `needs_grad=True` follows only tensors that require
    grad: the part of the graph backward() visits.
    """
    seen, stack = {root}, [root]
    while stack:
        for p in stack.pop()._parents:
            if p not in seen and (p._requires_grad or not needs_grad):
                seen.add(p)
                stack.append(p)
    return sorted(seen, key=_creation_time)


_creation_time = operator.attrgetter("_tick")   # t._tick, read in C: a sort key runs once per node


def backward(root, seed: np.ndarray, retain_graph: bool = False) -> None:
    """Leave ∂E/∂t in `t.grad` for every t behind `root` that keeps it (`keeps_grad`),
    given ∂E/∂root = `seed`.

    Each edge's share is also kept in the consumer's `edge_grads` (for the
    renderer) while `record_edge_grads()` is on, and the order of the visits
    (`visit_order(root)`, which viz.to_html replays).
    """
    with _BACKWARD_LOCK, joins_kept():                # (joins_kept: W, U and b share the joined δ_t)
        _backward(root, seed, retain_graph)


def _backward(root, seed: np.ndarray, retain_graph: bool) -> None:
    record, anomaly = _RECORD_EDGES.get(), _ANOMALY.get()
    order = walk(root, needs_grad=True)
    frozen, keep = prepare(order, record)          # weights copied for this walk; the Recorder (records.py)
    root._pending = seed
    try:
        for node in reversed(order):                # newest first: consumers before their inputs
            op = node._op
            if op is not None and (node._graph_used or node._tick < LAST_WRITE[0]):
                check_graph_usable(node)            # used by an earlier backward? an input written since?
            if op is None and frozen:
                frozen.pop(node, None)              # a leaf comes after all its uses: its copy has served
            g, node._pending = node._pending, None  # Σ of the shares sent to it: ∂E/∂node
            if type(g) is not ndarray or (g.base is not None and not g.flags.writeable):
                g = _dense(g)                       # (a new array owns its memory: the common case)
            if anomaly:
                check_finite(g, f"the gradient summed at '{node.name}'", node)
            if record and node._grad is None:       # the common case, inline: recorded, first backward
                node._grad, node._shared = g, True  # g is an edge's record too (see _keep)
            elif keeps_grad(node, record):
                _keep(node, g, record)
            else:
                node._grad = DROPPED                # g is sent on below, then freed: not kept
            if op is None:
                continue                            # a leaf: nothing to send on
            parents, y, params = node._parents, node._data, node._params
            xs = []                                 # the inputs' arrays; a loop, not a list comprehension:
            for p in parents:                       # Python 3.11 makes a function object for each of
                xs.append(p._data)                  # those (2,000 instructions a node, the loop 1,100)
            if frozen and op is _MATMUL:
                xs[1] = frozen.get(parents[1], xs[1])       # W as a contiguous Wᵀ (records.prepare)
            rules = None if params or op.variadic else op.vjps   # called directly, as Op.vjp would
            shares = []
            for i, p in enumerate(parents):
                if not p._requires_grad:
                    shares.append(None)
                    continue
                x = xs[i]
                share = rules[i](g, y, *xs) if rules else op.vjp(i, g, y, xs, params)     # ∂E/∂x_i
                if share.shape != x.shape or share.dtype is not x.dtype:
                    share = _fit(share, x)
                if anomaly:
                    check_finite(share, f"backward of {op.name}", node, *parents, grad_of=(p, g))
                if not record:
                    share = _unrecorded(node, p, g, share)
                # a new array, never in place: each share is an edge's record
                if p._pending is None:
                    p._pending = share
                    # (a type test first: a lazy share would form its dense array to answer .base)
                    if share is g or (type(share) is ndarray and share.base is not None):
                        p._shared = node._shared = True     # g itself or a view (add, x.T, stack)
                else:
                    p._pending, p._shared = _plus(p._pending, share), False
                if keep is not None and op is _MATMUL:
                    share = keep(node, i, g, share, xs)
                shares.append(share)
            node.edge_grads = tuple(shares) if record else None
            node._graph_used = not retain_graph
    except BaseException:
        for node in order:                          # leave no half-summed shares behind
            node._pending = None
        raise
    root._visits = list(map(_creation_time, reversed(order))) if record else None  # for viz.to_html's replay


def _unrecorded(node, p, g, share):
    """The share as sent with edges unrecorded: a lazy sum of one large part formed now, a slice copied."""
    if type(share) in _DEFERRED:
        return formed_if_large(share)
    if node._grad is DROPPED and (p._op is None or p._retains_grad) and _part_of(share, g):
        return share.copy()                         # a stack's slice to a kept h_t: g can go now
    return share


def _keep(node, g: np.ndarray, record: bool) -> None:
    """Leave g in node.grad, added to what an earlier backward() left there."""
    if node._grad is not None and node._grad is not DROPPED:
        node._grad, node._shared = _accumulate(node, g), False
    elif record:                                    # g is an edge's record too: its child's share,
        node._grad, node._shared = g, True          # or a factor of its own lazy records
    else:
        node._grad = g                              # shared or not, as its shares left it (tensor.grad)


def _part_of(share, g) -> bool:
    """Is `share` a view of part of g (a stack's or cat's slice)? Unrecorded, g is dropped once
    its node is done, but views of it keep all of it alive until the last one's tensor is
    reached. Sent to tensors that keep their gradient (the states h_t), that is nearly all of
    backward: the stack's (B, T, H) gradient next to the T sums ∂E/∂h_t made from its slices
    (B=32, T=50, H=128: 1.6 MB at the peak), and after it too, behind h_T's kept slice. Sent
    as copies, g goes at once (a copy for a tensor that keeps nothing would only add one)."""
    return type(share) is np.ndarray and share.base is not None and share.nbytes < g.nbytes


def _plus(pending, share):
    """pending + share, a new array or backward's own lazy sum extended (LazyGrad.accumulate)."""
    if type(pending) is not ndarray and isinstance(pending, LazyGrad):     # (the common case tested first)
        return pending.accumulate(share)
    return pending + share


def _accumulate(node, g: np.ndarray) -> np.ndarray:
    """A second backward() adds to `.grad`; a `.grad` set by hand to another shape would
    broadcast into a wrong sum, so it is refused."""
    if getattr(node._grad, "shape", None) != g.shape:
        raise GraphError(grad_shape(node.name, np.shape(node._grad), g.shape))
    return node._grad + g


def visit_order(root) -> list[int] | None:
    """The creation ticks the last backward() from `root` visited, in order (None: none, or unrecorded)."""
    return getattr(root, "_visits", None)


def _fit(share, x: np.ndarray):
    """A VJP's result as x's gradient: summed back to x's shape (the adjoint of
    broadcasting), in x's dtype. It may be g itself (add's VJP) or a view of it
    (x.T, x[:, t], stack): not copied here; `Tensor.grad` copies on first read. A bias
    broadcast over leading axes gets a SummedGrad: the sum of its T steps' shares is one
    sum when it is reached."""
    shape = x.shape
    if share.shape != shape:
        if shape and type(share) is np.ndarray and share.shape[-len(shape):] == shape:
            return SummedGrad.of(shape, x.dtype, [share])       # (B, H) -> (H,), deferred
        share = unbroadcast(share, shape)
    if share.dtype != x.dtype:
        return share.astype(x.dtype)
    return share


def _dense(g) -> np.ndarray:
    """A gradient as a writable array of its own: a numpy scalar, a read-only view or a lazy gradient
    (sparse.py, whose `dense()` is new already: np.array would copy it again) becomes one."""
    if type(g) is np.ndarray and g.flags.writeable:
        return g
    if isinstance(g, LazyGrad):
        return g.dense()
    return np.array(g)
