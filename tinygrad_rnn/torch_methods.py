"""PyTorch's spellings of what a Tensor already does: shapes, casts, comparisons.

None of these is a new primitive: ``view``, ``flatten``, ``unsqueeze`` and
``squeeze`` are `reshape`, ``permute`` is `transpose` with a full permutation,
the casts are `astype`. Comparisons and `argmax` have no gradient (their results
are piecewise constant), so they return plain tensors outside the graph, as
PyTorch does. `Tensor` inherits these methods; tensor.py keeps the engine.
"""

from __future__ import annotations

import numpy as np

from . import ops
from .context import current_scope, is_grad_enabled
from .dialect import accepts_dim
from .errors import ShapeError, where


def _normalise(axis: int, ndim: int, fname: str) -> int:
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{fname}: dim {axis} is out of range for a tensor of {ndim} dims "
                         f"(valid: [{-ndim}, {ndim - 1}]){where(current_scope())}")
    return axis % ndim


def _array(x):
    return x.data if hasattr(x, "_data") else np.asarray(x)


def _compare(op):
    """The method x.<op>(y): op applied to x and y (lifted to a tensor), a bool tensor."""
    def compare(self, other):
        return self._apply(op, other)
    compare.__name__ = op.name
    return compare


class TorchMethods:
    """Mixed into Tensor (no state of its own)."""

    __slots__ = ()

    # ---- sizes (x.size is numpy's count and torch's x.size(): see Size) ------
    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return self._data.size

    def tolist(self):
        return self.data.tolist()

    # ---- shapes: all of them `reshape` or `transpose` ----------------------
    def view(self, *shape):
        """PyTorch's view is a reshape here (numpy arrays have no contiguity rule to obey)."""
        return self.reshape(*shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        if self.ndim == 0:
            return self.reshape(1)
        s, e = _normalise(start_dim, self.ndim, "flatten"), _normalise(end_dim, self.ndim, "flatten")
        if s > e:
            raise ShapeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} "
                             f"for shape {self.shape}{where(current_scope())}")
        return self.reshape(*self.shape[:s], -1, *self.shape[e + 1:])

    @accepts_dim
    def unsqueeze(self, axis: int):
        """A new axis of size 1 at position `axis` (numpy's expand_dims)."""
        axis = _normalise(axis, self.ndim + 1, "unsqueeze")
        return self.reshape(*self.shape[:axis], 1, *self.shape[axis:])

    @accepts_dim
    def squeeze(self, axis=None):
        """Drop axes of size 1: all of them, or those listed in `axis` (a listed axis of
        another size stays, as in torch)."""
        if axis is None:
            axes = [i for i, n in enumerate(self.shape) if n == 1]
        else:
            axes = [_normalise(a, self.ndim, "squeeze") for a in np.atleast_1d(axis).tolist()]
            axes = [a for a in axes if self.shape[a] == 1]
        return self.reshape(*[n for i, n in enumerate(self.shape) if i not in axes])

    def permute(self, *dims):
        """A full permutation of the axes (numpy's transpose(axes))."""
        dims = tuple(dims[0]) if len(dims) == 1 and not isinstance(dims[0], int) else dims
        if len(dims) != self.ndim:
            raise ShapeError(f"permute: dims {dims} are not a permutation of the {self.ndim} axes "
                             f"of shape {self.shape}{where(current_scope())}")
        return self._permute(dims)

    # ---- casts and in-place zeroing ------------------------------------------
    def float(self):
        """To float32, as torch's .float() (keep the default dtype with .astype)."""
        return self.astype(np.float32)

    def double(self):
        return self.astype(np.float64)

    def long(self):
        return self.astype(np.int64)

    # ---- in place: writes to the array, outside the graph --------------------
    def _write(self, name: str, value, operand=None):
        """Write `value` into this tensor's array in place (views see it; graphs that read
        the old values refuse backward). As torch: refused on a tensor that requires grad,
        unless under no_grad() (a hand-written parameter update). Refused too when the
        `operand` it is made from requires grad: torch records ``out[:, t].copy_(h_t)`` and
        sends the gradient back to h_t; here the write would cut h_t off without a word."""
        if self.requires_grad and is_grad_enabled():
            raise RuntimeError(f"{name}: '{self.name}' (shape {self.shape}) requires grad, and an "
                               "in-place write is not recorded in the graph; wrap it in "
                               "tg.no_grad() to update a parameter by hand, or write x = x + y")
        if getattr(operand, "_requires_grad", False) and is_grad_enabled():
            raise RuntimeError(f"{name}: the values come from '{operand.name}' (shape {operand.shape}), "
                               f"which requires grad{where(current_scope())}, and an in-place write is "
                               "not recorded in the graph, so no gradient would reach it. Build the "
                               "result from ops (tg.stack over the steps, tg.cat, x = x + y), or pass "
                               "operand.detach() to write the values only")
        value = np.asarray(value.data if hasattr(value, "_data") else value)
        if not np.can_cast(value.dtype, self.dtype, "same_kind"):
            raise TypeError(f"{name}: a {value.dtype} result cannot be written into '{self.name}' "
                            f"of dtype {self.dtype} without losing it (torch refuses it too)")
        try:
            self._data[...] = np.broadcast_to(value, self.shape)
        except ValueError:
            raise ShapeError(f"{name}: a result of shape {value.shape} cannot be written into "
                             f"'{self.name}' of shape {self.shape}{where(current_scope())}") from None
        self.data = self._data        # the data setter stamps the write (version counter)
        return self

    def zero_(self):
        return self._write("zero_", 0)

    def fill_(self, value):
        return self._write("fill_", value, value)

    def copy_(self, src):
        return self._write("copy_", src, src)

    def add_(self, other, alpha=1):
        return self._write("add_", self._data + alpha * _array(other), other)

    def sub_(self, other, alpha=1):
        return self._write("sub_", self._data - alpha * _array(other), other)

    def mul_(self, other):
        return self._write("mul_", self._data * _array(other), other)

    def div_(self, other):
        return self._write("div_", self._data / _array(other), other)

    def clamp_(self, min=None, max=None):
        return self._write("clamp_", np.clip(self._data, min, max))

    def __format__(self, spec: str) -> str:
        """f"{loss:.4f}" formats a one-element tensor as its number, as torch does."""
        if spec and self._data.size == 1:
            return format(self.item(), spec)
        return super().__format__(spec)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise ValueError(f"bool(): the truth value of a tensor of shape {self.shape} is "
                             "ambiguous; use (x > 0).any()-style reductions or x.item()")
        return bool(self.item())

    # ---- outside the graph: comparisons and arg-max (ops without VJPs) ----------
    # x < y, ..., x.eq(y): bool tensors. The operator == stays identity, since
    # tensors are graph nodes and dict keys; x.eq(y) is the elementwise ==.
    __lt__, __le__, __gt__, __ge__ = map(_compare, (ops.lt, ops.le, ops.gt, ops.ge))
    eq, ne = _compare(ops.eq), _compare(ops.ne)

    @accepts_dim
    def argmax(self, axis=None, keepdims=False):
        """Index of the largest entry (over everything, or along `axis`): int64, no gradient."""
        return self._apply(ops.argmax, axis=axis, keepdims=keepdims)

    @accepts_dim
    def argmin(self, axis=None, keepdims=False):
        return self._apply(ops.argmin, axis=axis, keepdims=keepdims)

    def any(self):
        return self._apply(ops.any)

    def all(self):
        return self._apply(ops.all)


class Size(int):
    """``x.size`` is numpy's element count (an int) and, called, torch's ``x.size()``:
    the shape, or ``x.size(dim)`` the length of one axis. Both dialects, one attribute."""

    def __new__(cls, shape: tuple):
        out = super().__new__(cls, int(np.prod(shape, dtype=np.int64)))
        out.shape = shape
        return out

    def __call__(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]
