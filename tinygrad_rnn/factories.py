"""Making tensors as PyTorch does: tg.tensor, zeros, ones, full, arange, randn, rand, randint, *_like.

Dtypes follow PyTorch's inference: Python floats take the default float dtype
(float32 unless `tg.set_default_dtype` changed it), Python ints become int64,
numpy arrays keep theirs; ``dtype=`` overrides (a numpy dtype, a name such as
"float64", `tg.float64`, or a torch dtype). Random factories draw from the library
generator, so `tg.manual_seed` reproduces them.
"""

from __future__ import annotations

import numpy as np

from .context import get_default_dtype
from .rng import generator
from .tensor import Tensor

float32, float64, int64 = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int64)


def _dtype(dtype, default=None):
    """A numpy dtype from a numpy dtype, a name, or a torch dtype (torch.float64 -> float64)."""
    if dtype is None:
        return np.dtype(default or get_default_dtype())
    if type(dtype).__module__ == "torch":
        dtype = str(dtype).removeprefix("torch.")
    return np.dtype(dtype)


def _shape(size) -> tuple:
    """zeros(2, 3) and zeros((2, 3)) alike."""
    return tuple(size[0]) if len(size) == 1 and not isinstance(size[0], (int, np.integer)) else size


def tensor(data, dtype=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of `data` (a number, nested list, numpy array or Tensor)."""
    data = data.data if isinstance(data, Tensor) else data
    out = Tensor(data, dtype=None if dtype is None else _dtype(dtype))
    return Tensor(out.data.copy(), requires_grad=requires_grad)


def zeros(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros(_shape(size), _dtype(dtype)), requires_grad=requires_grad)


def ones(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones(_shape(size), _dtype(dtype)), requires_grad=requires_grad)


def full(size, fill_value, dtype=None, requires_grad: bool = False) -> Tensor:
    default = np.int64 if isinstance(fill_value, (int, np.integer)) else None
    if isinstance(fill_value, bool):
        default = np.bool_
    shape = (size,) if isinstance(size, (int, np.integer)) else tuple(size)
    return Tensor(np.full(shape, fill_value, _dtype(dtype, default)), requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad: bool = False) -> Tensor:
    """[start, end) by step; int64 if every bound is an int, else the default float dtype."""
    if end is None:
        start, end = 0, start
    ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
    return Tensor(np.arange(start, end, step).astype(_dtype(dtype, np.int64 if ints else None)),
                  requires_grad=requires_grad)


def randn(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    """Standard normal entries, from the library generator."""
    return Tensor(generator().standard_normal(_shape(size)).astype(_dtype(dtype)),
                  requires_grad=requires_grad)


def rand(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    """Uniform entries in [0, 1), from the library generator."""
    return Tensor(generator().random(_shape(size)).astype(_dtype(dtype)), requires_grad=requires_grad)


def randint(low, high=None, size=(), dtype=None) -> Tensor:
    """Integers in [low, high) (int64), as torch.randint(low, high, size), and torch's
    randint(high, size) too: a shape in second place is the size (numpy would read it as
    `high` and draw one number)."""
    if isinstance(high, (tuple, list)):
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    return Tensor(generator().integers(low, high, tuple(size)).astype(_dtype(dtype, np.int64)))


def _like(t: Tensor, dtype):
    return t.shape, _dtype(dtype, t.dtype)


def zeros_like(t: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    shape, dtype = _like(t, dtype)
    return zeros(shape, dtype=dtype, requires_grad=requires_grad)


def ones_like(t: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    shape, dtype = _like(t, dtype)
    return ones(shape, dtype=dtype, requires_grad=requires_grad)


def randn_like(t: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    shape, dtype = _like(t, dtype)
    return randn(shape, dtype=dtype, requires_grad=requires_grad)
