"""The primitive ops: each forward beside its vector-Jacobian products (VJPs).

One row per op, read left to right:

    Op(name, forward(*xs, **params), (vjp for input 0, vjp for input 1, ...))

`forward` maps numpy arrays to a numpy array `y`. The VJP for input ``i`` maps
the upstream gradient ``g = ∂E/∂y`` to ``∂E/∂x_i = g · ∂y/∂x_i``; it is called
as ``vjp(g, y, *xs, **params)``, so a rule can reuse the forward result ``y``
(``tanh``: ``1 - y²``) instead of recomputing it. VJPs may return a gradient of
the *broadcast* shape: the engine sums it back to the input's shape in one place
(`unbroadcast`), so no rule below worries about broadcasting.

Everything not in this file (``mean``, ``a - b`` on a Tensor, cross-entropy,
the RNN and LSTM cells) is composed from these rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .sparse import FactoredGrad, SparseGrad


@dataclass(frozen=True)
class Op:
    name: str
    forward: Callable[..., np.ndarray]
    vjps: tuple[Callable[..., np.ndarray], ...]   # one rule per input, in argument order
    variadic: bool = False
    # cat and stack take any number T of inputs, so they have one rule for all
    # of them, told which input it is: vjps[0](g, y, xs, i, **params). Unpacking
    # T inputs into each of T calls would make backward O(T²).
    saves: str = "xy"   # what its VJPs read (PyTorch's saved tensors): "x" every input, "a"/"b" one of two,
    # "y" the output, "" shapes and dtypes only. The rest can go once forward is done (memory.py)

    def vjp(self, i: int, g: np.ndarray, y: np.ndarray, xs, params) -> np.ndarray:
        """∂E/∂xs[i] from g = ∂E/∂y, for any row (backward() writes it out for a row without params)."""
        if self.variadic:
            return self.vjps[0](g, y, xs, i, **params)
        rule = self.vjps[i]
        return rule(g, y, *xs, **params) if params else rule(g, y, *xs)   # `**{}` costs 0.2 µs a call


def unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The adjoint of broadcasting is summation: sum ``g`` back down to ``shape``.

    First the leading axes broadcasting added ((B, H) + (H,): sum over B), then
    the axes that were 1 and got stretched ((3, 1) + (1, 4): sum over axis 1).
    """
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra > 0:
        g = np.add.reduce(g, axis=tuple(range(extra)))
    if g.shape != shape:
        g = g.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True)
    if g.shape != shape:    # a VJP returned the wrong layout: never reshape it silently
        raise ValueError(f"unbroadcast: a gradient of shape {g.shape} cannot be summed to {shape}")
    return g


def _mT(a: np.ndarray) -> np.ndarray:
    """Matrix transpose of the last two axes (a vector is its own transpose)."""
    return a if a.ndim < 2 else a.swapaxes(-1, -2)


def _matmul_vjp_a(g, y, a, b):
    # Y = A B  =>  dA = G B^T.  Vectors are promoted to matrices, as np.matmul does.
    if a.ndim == 2 and b.ndim == 2:   # the common case first: x_t W, h_{t-1} U
        return g @ b.T
    if b.ndim == 1:
        return np.multiply.outer(g, b)
    if a.ndim == 1:
        return b @ g if g.ndim == 1 else (g[..., None, :] @ _mT(b))[..., 0, :]  # da = B g
    if b.ndim == 2:   # (B, T, H) @ V: one 2-D G Vᵀ (BLAS reads Vᵀ as is; B=32, T=50 f32: 407 -> 282 µs)
        return (g.reshape(-1, g.shape[-1]) @ b.T).reshape(*g.shape[:-1], b.shape[0])
    return g @ _mT(b)


def _matmul_vjp_b(g, y, a, b):
    # Y = A B  =>  dB = A^T G.
    if a.ndim == 1:  # dB[..., i, j] = a_i g[..., j]
        return np.multiply.outer(a, g) if g.ndim < 2 else a[:, None] * g[..., None, :]
    if b.ndim == 1:
        return _mT(a) @ g if g.ndim == 1 else (_mT(a) @ g[..., :, None])[..., 0]
    if b.ndim == 2:   # a weight: keep (a, g); a shared W's T shares become one matmul (sparse.py)
        dtype = a.dtype if a.dtype is g.dtype or a.dtype == g.dtype else np.result_type(a, g)
        return FactoredGrad.of(b.shape, dtype, [(a, g)])
    return _mT(a) @ g


def _sum_vjp(g, y, x, axis, keepdims):
    # Every input element contributes once to its sum: copy g back along `axis`.
    # (A 0-d x has no axis to restore: numpy and torch accept axis=0 or -1 on it.)
    if axis is not None and not keepdims and x.ndim:
        g = np.expand_dims(g, axis)
    return np.full(x.shape, g)      # a new array: a broadcast view would be copied where it arrives


def _max_vjp(g, y, x, axis, keepdims):
    # Only the arg-max receives the gradient; ties share it equally.
    if axis is not None and not keepdims and x.ndim:
        g, y = np.expand_dims(g, axis), np.expand_dims(y, axis)
    mask = x == y
    return g * mask / mask.sum(axis=axis, keepdims=True)


def _getitem_vjp(g, y, x, index):
    # Scatter g back to where it was read from: zero elsewhere. Kept sparse
    # (see sparse.py): T reads x[:, t] then cost O(x) in backward, not O(T·x).
    return SparseGrad.of(x.shape, x.dtype, [(index, g)])


def _cat_vjp(g, y, xs, i, axis):
    # Input i occupies rows start:stop of the result along `axis`: its gradient is that slice.
    axis %= g.ndim
    start = 0
    for x in xs[:i]:
        start += x.shape[axis]
    return g[(slice(None),) * axis + (slice(start, start + xs[i].shape[axis]),)]


def _stack_vjp(g, y, xs, i, axis):
    return g[(slice(None),) * (axis % g.ndim) + (i,)]    # input i is position i of the new axis


def _pow_vjp_a(g, y, a, b):
    # d(a^b)/da = b a^(b-1); where b = 0 the power is the constant 1, so 0 (torch's
    # convention: 0 · 0^(-1) would be NaN at a = 0).
    with np.errstate(divide="ignore", invalid="ignore"):
        d = b * a ** (b - 1)
    return g * np.where(b == 0, 0, d)


def _pow_vjp_b(g, y, a, b):
    # d(a^b)/db = a^b log a; at a = 0 with b >= 0 it is 0, as torch defines it
    # (a^b log a -> 0 as a -> 0+; 0 · log 0 would be NaN).
    with np.errstate(divide="ignore", invalid="ignore"):
        d = y * np.log(a)
    return g * np.where((a == 0) & (b >= 0), 0, d)


def _inside(x, lo, hi):
    # clamp's mask: 1 where x was not clipped (bounds included, as torch), else 0.
    mask = np.ones(x.shape, dtype=bool)
    if lo is not None:
        mask &= x >= lo
    if hi is not None:
        mask &= x <= hi
    return mask


def _sigmoid(x):
    # σ(x) = (1 + tanh(x/2)) / 2: exact, cannot overflow (tanh saturates), and one
    # transcendental instead of exp + where + divide (3-5x faster, measured). The 1/2 is a
    # 0-d array of x's dtype, not the number 0.5: numpy converts a Python number at every
    # call, which costs more than the product itself at min-char-rnn sizes (see (*) below).
    half = _HALF.get(x.dtype, 0.5)
    return half * np.tanh(half * x) + half


_HALF = {np.dtype(t): np.array(0.5, t) for t in (np.float16, np.float32, np.float64)}
for _half in _HALF.values():
    _half.flags.writeable = False           # shared by every call: never written


def stack_as_cat(xs, axis) -> int | None:
    """The axis k at which stack(xs, axis) is concatenate(xs, k) with axis k split into (n, s[k]) (C order:
    x_i[..., j, ...] is at [..., i·s[k] + j, ...]), or None: one shape only (or a wrong reshape could fit)."""
    n = xs[0].ndim if xs else 0
    k = axis % (n + 1) if -n - 1 <= axis <= n else n       # a new last axis has no s[k]: np.stack's
    return None if k == n or len({x.shape for x in xs}) > 1 else k


def _stack(*xs, axis):   # np.stack views each input first (an expand_dims call each: a third of the op)
    k = stack_as_cat(xs, axis)
    if k is None:                        # and every error (shapes that differ, an axis out of range)
        return np.stack(xs, axis=axis)
    s = xs[0].shape
    out = np.empty(s[:k] + (len(xs),) + s[k:], np.result_type(*xs))     # owns its memory, as np.stack's
    np.concatenate(xs, axis=k, out=out.reshape(s[:k] + (len(xs) * s[k],) + s[k + 1:]))
    return out


def _log_softmax(x, axis):   # np.maximum.reduce, np.add.reduce: what x.max, x.sum call, minus a Python call
    shifted = x - np.maximum.reduce(x, axis, keepdims=True)  # max-shift: exp cannot overflow
    return shifted - np.log(np.add.reduce(np.exp(shifted), axis, keepdims=True))


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# (*) Written without a Python number: numpy converts one at every call (`1 - y` costs
# twice `y * y` on a (1, 32) array), and at min-char-rnn sizes that is most of a rule's time.
# --------------------------------------------------------------------------
#  name          forward                               VJP per input: g -> ∂E/∂x_i
# --------------------------------------------------------------------------
add = Op("add", np.add, saves="", vjps=(
    lambda g, y, a, b: g,
    lambda g, y, a, b: g))
sub = Op("sub", np.subtract, saves="", vjps=(
    lambda g, y, a, b: g,
    lambda g, y, a, b: -g))
mul = Op("mul", np.multiply, saves="x", vjps=(      # each rule reads the other operand
    lambda g, y, a, b: g * b,
    lambda g, y, a, b: g * a))
div = Op("div", np.divide, saves="by", vjps=(       # not a: g / b and -g y / b
    lambda g, y, a, b: g / b,
    lambda g, y, a, b: -g * y / b))                    # d(a/b)/db = -a/b² = -y/b
neg = Op("neg", np.negative, saves="", vjps=(
    lambda g, y, a: -g,))
pow = Op("pow", np.power, (_pow_vjp_a, _pow_vjp_b), saves="xy")
matmul = Op("matmul", np.matmul, (_matmul_vjp_a, _matmul_vjp_b), saves="x")  # G Bᵀ, and Aᵀ G kept as (A, G)

exp = Op("exp", np.exp, saves="y", vjps=(
    lambda g, y, x: g * y,))                           # (e^x)' = e^x = y
log = Op("log", np.log, saves="x", vjps=(
    lambda g, y, x: g / x,))
tanh = Op("tanh", np.tanh, saves="y", vjps=(
    lambda g, y, x: g - g * y * y,))                   # tanh' = 1 - tanh², as g (1 - y²) (*)
sigmoid = Op("sigmoid", _sigmoid, saves="y", vjps=(
    lambda g, y, x: g * (y - y * y),))                 # σ' = σ(1 - σ) <= 1/4, as y - y² (*)
abs = Op("abs", np.abs, saves="x", vjps=(
    lambda g, y, x: g * np.sign(x),))                  # |x|' = sign x (0 at the kink, as torch)
sqrt = Op("sqrt", np.sqrt, saves="y", vjps=(
    lambda g, y, x: g / (2 * y),))                     # (√x)' = 1 / (2√x) = 1 / 2y
clamp = Op("clamp", lambda x, lo, hi: np.clip(x, lo, hi), saves="x", vjps=(
    lambda g, y, x, lo, hi: g * _inside(x, lo, hi),))  # passes where lo <= x <= hi (torch)
relu = Op("relu", lambda x: np.maximum(x, 0), saves="x", vjps=(
    lambda g, y, x: g * (x > 0),))

sum = Op("sum", lambda x, axis, keepdims: np.add.reduce(x, axis, keepdims=keepdims), (_sum_vjp,), saves="")
max = Op("max", lambda x, axis, keepdims: x.max(axis=axis, keepdims=keepdims), (_max_vjp,), saves="xy")
min = Op("min", lambda x, axis, keepdims: x.min(axis=axis, keepdims=keepdims), (_max_vjp,), saves="xy")
# Softmax and log-softmax are primitives, not exp/sum compositions: one
# max-shifted pass is both faster and stable for large logits.
softmax = Op("softmax", _softmax, saves="y", vjps=(
    lambda g, y, x, axis: y * (g - (g * y).sum(axis=axis, keepdims=True)),))
log_softmax = Op("log_softmax", _log_softmax, saves="y", vjps=(
    lambda g, y, x, axis: g - np.exp(y) * g.sum(axis=axis, keepdims=True),))

reshape = Op("reshape", lambda x, shape: x.reshape(shape), saves="", vjps=(
    lambda g, y, x, shape: g.reshape(x.shape),))
transpose = Op("transpose", lambda x, axes: x.transpose(axes), saves="", vjps=(
    lambda g, y, x, axes: g.transpose(np.argsort(axes)),))  # undo the permutation
getitem = Op("getitem", lambda x, index: x[index], (_getitem_vjp,), saves="")
astype = Op("astype", lambda x, dtype: x.astype(dtype), saves="", vjps=(
    lambda g, y, x, dtype: g.astype(x.dtype),))            # a cast's Jacobian is I: cast g back
cat = Op("cat", lambda *xs, axis: np.concatenate(xs, axis=axis), (_cat_vjp,), variadic=True, saves="")
stack = Op("stack", _stack, (_stack_vjp,), variadic=True, saves="")

# No gradient: piecewise constant results (PyTorch returns them outside the graph too).
lt = Op("lt", np.less, ())
le = Op("le", np.less_equal, ())
gt = Op("gt", np.greater, ())
ge = Op("ge", np.greater_equal, ())
eq = Op("eq", np.equal, ())
ne = Op("ne", np.not_equal, ())
argmax = Op("argmax", lambda x, axis, keepdims: np.argmax(x, axis, keepdims=keepdims).astype(np.int64), ())
argmin = Op("argmin", lambda x, axis, keepdims: np.argmin(x, axis, keepdims=keepdims).astype(np.int64), ())
any = Op("any", lambda x: np.any(x), ())
all = Op("all", lambda x: np.all(x), ())
