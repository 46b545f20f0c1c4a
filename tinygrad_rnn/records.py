"""What a recorded edge keeps: its share, or the factors that give the share bit for bit.

While `record_edge_grads()` is on, backward() keeps the gradient sent along every
edge (`edge_grads`, for the renderer and `analysis`). Most shares cost nothing to
keep: the parent's gradient is that very array (one consumer), a view of it, or a
lazy form (SparseGrad, FactoredGrad). One kind is costly: the share ``g Wᵀ`` that
``y = x W`` sends back to ``x`` when ``x`` has other consumers too. ``h_{t-1}``
gets ``δ_t Uᵀ`` from step t and another share from the readout; the sum is
∂E/∂h_{t-1}, and the share itself is then held by nothing but its record: T arrays
of h's shape (B=32, T=50, H=128: 1.6 MB; an LSTM's four gates: 9.4 MB, a quarter
of the numpy step).

`InputShare` keeps ``(g, x, W)`` instead: g is the node's gradient (the graph holds
it anyway), and W one copy per backward() (an optimizer then writes W in place, and
the record must stay the gradient that flowed). `Recorder` uses it where the T
shares outweigh that copy; `np.asarray(record)` re-runs matmul's VJP row on the
same arrays, so it is the share, bit for bit.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from . import ops
from .sparse import FactoredGrad, LazyGrad


class InputShare(LazyGrad):
    """∂E/∂x from ``y = x W`` as an edge's record: pieces (g, x, W), standing for Σ g Wᵀ."""

    __slots__ = ()

    def dense(self) -> np.ndarray:
        total = None
        for g, x, W in self.parts:
            share = ops.matmul.vjps[0](g, None, x, W)     # the very rule backward() ran: g Wᵀ
            if share.shape != self.shape:
                share = ops.unbroadcast(share, self.shape)
            if share.dtype != self.dtype:
                share = share.astype(self.dtype)
            total = share if total is None else total + share
        return total


class Recorder:
    """Makes each edge's record during one backward() (see the module docstring)."""

    def __init__(self, order):
        # how many shares each weight W of an `x @ W` would send back to x: T for U
        self.uses = Counter(n._parents[1] for n in order
                            if n._op is ops.matmul and n._parents[0]._requires_grad)
        self.frozen = {}                          # W -> its copy, or None where copying does not pay
        self.leaves = {}                          # a leaf A of A @ B -> its copy (weight_share)

    def __call__(self, node, g, share):
        """The record of the share `node` (x @ W) sends to x."""
        if type(share) is not np.ndarray:
            return share
        w = node._parents[1]
        if w not in self.frozen:                  # a leaf weight used often enough to pay for a copy
            worth = w._op is None and w._data.ndim == 2 and self.uses[w] * share.nbytes > w._data.nbytes
            self.frozen[w] = w._data.copy() if worth else None
        W = self.frozen[w]
        if W is None:
            return share
        return InputShare(share.shape, share.dtype, [(g, node._parents[0]._data, W)])

    def weight_share(self, node, share):
        """The record of the share `node` (a @ W) sends to W: FactoredGrad (a, g) holds a by
        reference, and where a is a leaf (a parameter A of A @ B) an optimizer writes it in
        place after backward(); the record must stay the gradient that flowed, so it keeps
        one copy of such an a per backward(). Only a parameter's: an input x (x @ W over all
        steps) is no optimizer's to write, and its copy would be the whole batch again."""
        a = node._parents[0]
        if type(share) is not FactoredGrad or a._op is not None or not a._requires_grad:
            return share
        if a not in self.leaves:
            self.leaves[a] = a._data.copy()
        (_, g), = share.parts
        return FactoredGrad(share.shape, share.dtype, [(self.leaves[a], g)])
