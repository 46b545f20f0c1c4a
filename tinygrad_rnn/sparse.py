"""Lazy gradients: SparseGrad (what ``x[index]`` sends back to ``x``), FactoredGrad
(what ``a @ W`` sends back to ``W``) and SummedGrad (what ``a + b`` sends back to a
broadcast bias ``b``), each formed once, when its tensor is reached.

SparseGrad is zero except at ``index``.

Why not a dense array? A sequence layer reads ``x[:, t]`` for every t. Dense
gradients would be T zero arrays of x's full shape, summed: O(T · size of x)
work and memory in backward, quadratic in the sequence length. Kept as
(index, values) pieces and written into one zero array when ``x`` is reached,
the same gradient costs O(size of x).

It behaves as the dense array it stands for wherever numpy meets it
(``np.asarray(g)``, ``np.linalg.norm(g)``, ``g * V``), so edge records and
tests can treat it like any other gradient.
"""

from __future__ import annotations

import contextlib
import math
import operator

import numpy as np

_new_object = object.__new__    # a LazyGrad without __init__ (LazyGrad.of)


class LazyGrad:
    """A gradient kept as pieces and formed when its tensor is reached (see the subclasses).

    Both kinds behave as the dense array they stand for wherever numpy meets them
    (``np.asarray(g)``, ``np.linalg.norm(g)``, ``g * V``). Shares reaching one
    tensor during backward() are summed by joining their pieces (``accumulate``): a
    sum this pass made is extended in place, never a share itself (shares are the
    edges' records) and never a sum made by ``+``.
    """

    __slots__ = ("shape", "dtype", "parts", "_owned", "_formed")

    def __init__(self, shape, dtype, parts, owned: bool = False):
        # (a rule passes x.shape and x.dtype: converting them again was a third of the cost)
        self.shape = shape if type(shape) is tuple else tuple(shape)
        self.dtype = dtype if isinstance(dtype, np.dtype) else np.dtype(dtype)
        self.parts = parts              # the pieces, as each subclass documents
        self._owned = owned             # a sum made during backward, not an edge's record
        self._formed = None             # FactoredGrad: the sum of the blocks `fold` formed early

    @classmethod
    def of(cls, shape: tuple, dtype: np.dtype, parts: list, owned: bool = False):
        """`cls(shape, dtype, parts)` from an array's own shape and dtype, which need no converting:
        how backward's rules make one per share (T a weight: the call through __init__ cost twice
        these five assignments, 1.4k instructions a share, measured)."""
        out = _new_object(cls)
        out.shape, out.dtype, out.parts, out._owned, out._formed = shape, dtype, parts, owned, None
        return out

    def dense(self) -> np.ndarray:
        raise NotImplementedError

    def __array__(self, dtype=None, copy=None):
        out = self.dense()
        return out if dtype is None else out.astype(dtype)

    def astype(self, dtype) -> np.ndarray:
        return self.dense().astype(dtype)

    def __getattr__(self, name):
        """Array methods and attributes (g.min(), g.T, g.sum(axis=0)) of the dense form, so an
        edge record reads as the array it stands for."""
        if name.startswith("_") or name in LazyGrad.__slots__:
            raise AttributeError(name)
        return getattr(self.dense(), name)

    def __mul__(self, other):
        return self.dense() * other

    def __sub__(self, other):
        return self.dense() - other

    def __truediv__(self, other):
        return self.dense() / other

    def __neg__(self):
        return -self.dense()

    def __rsub__(self, other):
        return other - self.dense()

    def __rtruediv__(self, other):
        return other / self.dense()

    __rmul__ = __mul__

    def __add__(self, other):
        """A new sum: a record or a sum someone holds never changes (``b = a + r3`` leaves ``a``)."""
        if type(other) is type(self) and self._formed is None and other._formed is None:
            return type(self)(self.shape, self.dtype, self.parts + other.parts)
        out = self.dense()
        out += other
        return out

    def accumulate(self, other):
        """``self + other`` for backward's running sum of the shares reaching one tensor.

        The sum backward made itself (``_owned``: no one else holds it) is extended in
        place, so T shares cost T appends, not T copies of a growing list of pieces.
        """
        if self._owned and type(other) is type(self):
            parts = self.parts
            parts.extend(other.parts)
            if len(parts) >= CHUNK_PARTS:
                self.fold()             # a long unroll: form the full blocks now (see fold)
            return self
        if type(other) is type(self) and other._formed is None:
            return self.of(self.shape, self.dtype, self.parts + other.parts, owned=True)
        return self + other

    __radd__ = __add__

    def fold(self) -> None:
        """Form now what the sum will form anyway, where that frees pieces (the subclasses).

        Why? Backward's running sum for a weight shared by T steps holds each step's δ_t
        (the factor g_t, a bias's piece) until the weight is reached, the last node of
        the walk: T arrays at the peak of backward (a long unroll, B=1, H=32: 352 bytes of
        an RNN step's 4.0 KB, and a tuple (a_t, g_t) for W and for U). Formed a block at a
        time as the block fills, in the blocks and the order the whole sum would use, the
        same bits come out and each δ_t goes once its block is formed.
        """

    def __repr__(self):
        return f"{type(self).__name__}(shape={self.shape}, dtype={self.dtype}, pieces={len(self.parts)})"


def _of_dense(name):
    def method(self, *args):
        return getattr(self.dense(), name)(*args)
    method.__name__ = name
    return method


# Indexing, comparisons, len, iteration, abs, ** and @ read the dense form too. Without them
# Python's defaults answer silently wrong: `record == 0` was identity (False, even for a zero
# gradient) and `bool(record)` was True; the others raised where an array works.
for _name in ("__getitem__", "__len__", "__iter__", "__bool__", "__eq__", "__ne__", "__lt__", "__le__",
              "__gt__", "__ge__", "__abs__", "__pos__", "__pow__", "__rpow__", "__matmul__", "__rmatmul__"):
    setattr(LazyGrad, _name, _of_dense(_name))
LazyGrad.__hash__ = object.__hash__     # still a key by identity, as before __eq__ was defined


class SparseGrad(LazyGrad):
    """∂E/∂x from ``x[index]``: pieces (index, values), zero elsewhere."""

    __slots__ = ()

    def dense(self) -> np.ndarray:
        out = np.zeros(self.shape, self.dtype)
        for index, values in self.parts:
            # Integer arrays may repeat an element (x[[0, 0]] reads row 0
            # twice), so they need np.add.at to sum; ints and slices never
            # repeat within one read, and `+=` on a view is ~10x faster.
            if any(isinstance(i, np.ndarray) for i in index):
                np.add.at(out, index, values)
            else:
                out[index] += values
        return out

    def astype(self, dtype) -> SparseGrad:
        return SparseGrad(self.shape, dtype, [(i, v.astype(dtype)) for i, v in self.parts])


class FactoredGrad(LazyGrad):
    """∂E/∂W from ``y = a W``: pieces (a, g), standing for Σ aᵀ g.

    Why? A weight used at every time step (x_t W, h_{t-1} U) receives T shares
    a_tᵀ g_t. Formed one by one they cost T small matmuls and T arrays of W's
    shape, summed; kept as factors (arrays the graph holds anyway: a_t is an input,
    g_t the node's gradient), their sum is ONE matmul over the stacked steps when
    W is reached, the course's ∂E/∂U = Σ_t h_{t-1}ᵀ δ_t written as

        Σ_t a_tᵀ g_t = [a_1; …; a_T]ᵀ [g_1; …; g_T]

    An edge's record is one pair; ``np.asarray(record)`` forms its share on demand.
    """

    __slots__ = ()

    def dense(self) -> np.ndarray:
        out = None if self._formed is None else self._formed.copy()    # the blocks `fold` formed
        for A, G in _stacked(self.parts):                           # (rows, D), (rows, H)
            if out is None:
                out = A.T @ G                                       # (D, H)
            else:
                out += A.T @ G
        return out if out.dtype == self.dtype else out.astype(self.dtype)

    def fold(self) -> None:
        """The full blocks of `_stacked` formed and added to `_formed`, their pieces let go."""
        done = 0
        for block in _blocks(self.parts, full_only=True):
            A, G = _rows([a for a, _ in block]), _rows([g for _, g in block])
            if self._formed is None:
                self._formed = A.T @ G                              # (D, H)
            else:
                self._formed += A.T @ G
            done += len(block)
        del self.parts[:done]


CHUNK_BYTES = 2**18     # stack at most ~256 KiB of factors at a time (see _stacked)
CHUNK_PARTS = 256       # and at most 256 steps: tiny steps' Python objects weigh more than their numbers


def formed_if_large(share: LazyGrad):
    """A FactoredGrad or SummedGrad of one part as large as a block, as its dense array.

    Deferring joins T small per-step shares into one matmul (or sum); a share made
    over all steps at once (the readout's ``hs @ V`` on (B, T, H): ``(B·T, H)ᵀ (B·T, K)``)
    has nothing to join, and waiting would keep its factor g alive until the weight
    is reached, at the peak of backward (B=32, T=50, K=64: 0.8 MB). Used while edges
    are not recorded (recorded, g is kept anyway and the factors cost nothing).
    """
    if len(share.parts) != 1:
        return share
    part = share.parts[0]                   # (a, g) of a FactoredGrad, g of a SummedGrad
    nbytes = part.nbytes if type(part) is np.ndarray else part[0].nbytes + part[1].nbytes
    return share.dense() if nbytes >= CHUNK_BYTES else share


def _stacked(parts):
    """The pieces (a_t, g_t) stacked a few steps at a time as rows: ([a_1; …; a_k], [g_1; …; g_k]),
    then the next k.

    One stack of all T steps would be (B·T, ·) copies, made when W is reached, i.e.
    at the peak of backward (at B=32, T=50, H=128: 3 MB, a third of the hand-written
    BPTT's whole step). Blocks of ~256 KiB keep the matmuls large enough to run at
    BLAS speed and the copies small.
    """
    for block in _blocks(parts):
        yield _rows([a for a, _ in block]), _rows([g for _, g in block])


def _blocks(parts, full_only: bool = False):
    """The pieces (a_t, g_t) in blocks of ~256 KiB or 256 steps, from the first; the last
    block may be short (`full_only`: left out). A block's end depends only on the pieces
    from its start, so `fold` cuts a growing sum where the whole sum would be cut."""
    start, size = 0, 0
    for k, (a, g) in enumerate(parts):
        size += a.nbytes + g.nbytes
        if size >= CHUNK_BYTES or k + 1 - start >= CHUNK_PARTS:
            yield parts[start:k + 1]
            start, size = k + 1, 0
    if start < len(parts) and not full_only:
        yield parts[start:]


def _rows(pieces: list) -> np.ndarray:
    """Arrays (..., D) as the rows of one (n, D) array (also when a leading axis is 0). Pieces
    of one layout are joined first and then reshaped: the same rows in the same order, one
    reshape instead of one a piece."""
    if len(pieces) == 1:
        a = pieces[0]
    else:
        try:
            a = _joined(pieces)                         # (k·B, ..., D)
        except ValueError:                              # (B, D) and (B, T, D) pieces: rows first
            a = np.concatenate([_rows([a]) for a in pieces])
    # (math.prod of the leading axes: np.prod's Python wrapper was 1.3% of a tiny RNN step)
    return a if a.ndim == 2 else a.reshape(math.prod(a.shape[:-1]), a.shape[-1])


class SummedGrad(LazyGrad):
    """∂E/∂b from ``y = a + b`` with b broadcast over leading axes (a bias (H,) added to
    (B, H) rows): pieces g, standing for Σ of each g over its leading axes.

    Why? The adjoint of broadcasting is a sum (ops.unbroadcast). A bias used at every
    time step receives T shares Σ_batch g_t; formed one by one they cost T reductions
    and T - 1 additions of (H,) arrays. Kept as pieces, the course's ∂E/∂b = Σ_t δ_t is
    formed when b is reached: the T pieces added element by element into one (B, H)
    array (`_total`), then ONE sum over its rows:

        Σ_t Σ_rows g_t = Σ_rows (g_1 + … + g_T)
    """

    __slots__ = ()

    def dense(self) -> np.ndarray:
        groups = {}                                 # a piece's shape -> the pieces of that shape
        if len({g.shape for g in self.parts}) == 1:
            groups[None] = self.parts               # (one shape: the common case, no lists built)
        else:
            for g in self.parts:
                groups.setdefault(g.shape, []).append(g)
        out = None
        for pieces in groups.values():
            rows = np.add.reduce(_total(pieces).reshape((-1,) + self.shape), axis=0)     # (B, H) -> (H,)
            out = rows if out is None else out + rows
        return out if out.dtype == self.dtype else out.astype(self.dtype)

    def fold(self) -> None:
        """Each shape's pieces so far added up into one piece of that shape, in step order
        (`_total`): `dense` then adds the same numbers in the same order, so the same bits."""
        groups = {}
        for g in self.parts:
            groups.setdefault(g.shape, []).append(g)
        self.parts[:] = [_total(pieces) for pieces in groups.values()]


SMALL_SUM_BYTES = 2**16     # pieces up to 64 KiB in all are summed in one call (see _total)


# The steps' deltas δ_t are the g pieces of three sums: ∂E/∂W = Σ x_tᵀ δ_t, ∂E/∂U = Σ h_{t-1}ᵀ δ_t
# and ∂E/∂b = Σ δ_t (an LSTM's four gates share their z_t pieces the same way). During one backward()
# (`joins_kept`) the last two small joins are kept and handed to a sum that has the very same pieces,
# as the hand-written BPTT stacks δ once: at B = 1, T = 25 a join costs ~2k instructions a piece
# (measured). Only two, of at most SHARED_JOIN_BYTES each: no copy outlives its sums for long, and a
# long unroll's blocks (`fold`) still go as they are formed.
SHARED_JOIN_BYTES = 2**16
_JOINS: list = [None]           # {id of the first piece: (pieces, their join)}, while backward() runs


@contextlib.contextmanager
def joins_kept():
    """Within: `_joined` keeps the last two small joins for other sums of the same pieces."""
    _JOINS[0] = {}
    try:
        yield
    finally:
        _JOINS[0] = None


def _joined(pieces: list) -> np.ndarray:
    """np.concatenate(pieces), or a kept join of the same arrays: the same objects in the same order
    (looked up by the first piece, then checked piece by piece; a kept join's pieces are held, so
    their ids stay theirs)."""
    kept = _JOINS[0]
    if kept is None:
        return np.concatenate(pieces)
    key = id(pieces[0])
    hit = kept.pop(key, None)
    if hit is None or len(hit[0]) != len(pieces) or not all(map(operator.is_, hit[0], pieces)):
        hit = (pieces, np.concatenate(pieces))
        if hit[1].nbytes > SHARED_JOIN_BYTES:
            return hit[1]
    kept[key] = hit                                 # the newest: two kept, the older one goes
    if len(kept) > 2:
        del kept[next(iter(kept))]
    return hit[1]


def _total(pieces: list) -> np.ndarray:
    """g_1 + … + g_T of one shape, added in this order: a new array, or the one piece.

    Small pieces are joined and summed in one call: numpy adds the T rows of the (T, B, H)
    stack one after the other, the same bits as T additions in place, and the T calls cost
    more than their numbers (B=1, H=32, T=25: 161k instructions in place). Large ones are
    added in place one by one: the joined copy would not stay in the cache (slower from
    ~200 KiB, measured). (A piece of one element is summed pairwise once stacked: in place.)
    """
    first = pieces[0]
    if len(pieces) == 1:
        return first
    if first.nbytes * len(pieces) <= SMALL_SUM_BYTES and first.size > 1:
        joined = _joined(pieces)
        if joined.dtype == first.dtype:             # (pieces of another dtype: in place, below)
            return np.add.reduce(joined.reshape((len(pieces),) + first.shape), axis=0)
    total = first.copy()                            # a sum this method made, never a piece
    for g in pieces[1:]:
        total += g
    return total
