"""SparseGrad: the gradient that ``x[index]`` sends back to ``x`` — zero except at ``index``.

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

import numpy as np


class SparseGrad:
    __slots__ = ("shape", "dtype", "parts", "_owned")

    def __init__(self, shape, dtype, parts, owned: bool = False):
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.parts = parts              # [(index, values), ...], index as x[index] used it
        self._owned = owned             # a sum made during backward, not an edge's record

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

    def __array__(self, dtype=None, copy=None):
        out = self.dense()
        return out if dtype is None else out.astype(dtype)

    def astype(self, dtype) -> SparseGrad:
        return SparseGrad(self.shape, dtype, [(i, v.astype(dtype)) for i, v in self.parts])

    def __add__(self, other):
        """Sum of shares reaching one tensor during backward(). Two sparse
        shares stay sparse: a sum this pass made is extended in place (never a
        share itself: shares are the edges' records)."""
        if isinstance(other, SparseGrad):
            if self._owned:
                self.parts.extend(other.parts)
                return self
            return SparseGrad(self.shape, self.dtype, self.parts + other.parts, owned=True)
        out = self.dense()
        out += other
        return out

    __radd__ = __add__

    def __repr__(self):
        return f"SparseGrad(shape={self.shape}, dtype={self.dtype}, pieces={len(self.parts)})"
