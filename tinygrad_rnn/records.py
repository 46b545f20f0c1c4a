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
shares outweigh that copy (`prepare`); `np.asarray(record)` re-runs matmul's VJP row
on the same arrays, so it is the share, bit for bit.
"""

from __future__ import annotations

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


def prepare(order, record: bool):
    """What one backward() over `order` copies, decided in one pass over its matmul nodes.

    Returns (frozen, keep):

    - frozen: W -> one copy of W for this walk, for each leaf weight whose x @ W send x
      shares that outweigh W (U at every step; the readout's V). The copy is laid out as a
      contiguous Wᵀ and handed out as its transpose, so it reads as W. backward() gives it
      to matmul's VJP in W's place: g Wᵀ then runs on a contiguous Wᵀ, which BLAS does
      1.3–2× faster than the transposed view at B = 32 (float32, (32, 128) @ (128, 128)ᵀ:
      32 → 20 µs, measured; no difference at B = 1, where no weight qualifies). The
      edge records keep the same copy (an optimizer writes W in place after backward()).
    - keep: the Recorder, or None (recording off, or no record other than the shares).
    """
    share_bytes, leaves, matmul = {}, {}, ops.matmul
    for n in order:
        if n._op is matmul:
            a, w = n._parents
            if a._requires_grad:                  # x @ W sends x a share of x's size: T of them for U
                share_bytes[w] = share_bytes.get(w, 0) + a._data.nbytes
                if record and a._op is None and w._requires_grad and w._data.ndim == 2 and a not in leaves:
                    leaves[a] = a._data.copy()    # a parameter an optimizer writes in place
    # np.array, not np.ascontiguousarray: a W in Fortran order (`U.data = M.T`) is a contiguous
    # Wᵀ already, and "the copy" would be W's own memory, which the optimizer writes after backward
    frozen = {w: np.array(w._data.T, order="C").T for w, nbytes in share_bytes.items()
              if w._op is None and w._data.ndim == 2 and nbytes > w._data.nbytes}
    keep = Recorder(frozen, leaves) if record and (frozen or leaves) else None
    return frozen, keep


class Recorder:
    """Makes each edge's record during one backward() (see the module docstring).

    Which weights are copied is decided before the walk (`prepare`). Where none is
    (tiny steps: T small shares never outweigh W), there is no Recorder and backward()
    asks nothing per edge: each record is the share itself.
    """

    def __init__(self, frozen: dict, leaves: dict):
        self.frozen = frozen                      # W -> its copy: x's shares kept as (g, x, W)
        self.leaves = leaves                      # a parameter A of A @ B -> its copy (weight_share)

    def __call__(self, node, i: int, g, share, xs):
        """The record of the share `node` (x @ W, run on the arrays xs) sends to its input i."""
        x, w = node._parents
        if i == 0:
            if type(share) is not np.ndarray or w not in self.frozen:
                return share
            return InputShare(share.shape, share.dtype, [(g, xs[0], xs[1])])   # xs[1]: W's copy
        return self.weight_share(x, share)

    def weight_share(self, a, share):
        """The record of the share a @ W sends to W: FactoredGrad (a, g) holds a by
        reference, and where a is a leaf (a parameter A of A @ B) an optimizer writes it in
        place after backward(); the record must stay the gradient that flowed, so it keeps
        one copy of such an a per backward(). Only a parameter's: an input x (x @ W over all
        steps) is no optimizer's to write, and its copy would be the whole batch again."""
        A = self.leaves.get(a)
        if A is None or type(share) is not FactoredGrad:
            return share
        (_, g), = share.parts
        return FactoredGrad(share.shape, share.dtype, [(A, g)])
