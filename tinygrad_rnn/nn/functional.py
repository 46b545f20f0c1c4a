"""Losses and activations as functions, named as PyTorch's `torch.nn.functional`.

The losses of the course, with y_t = softmax(h_t V + c):

    E_t = -log y_t[target_t]          (cross-entropy of one step)
    J   = (1/T) Σ_t J_t                (the sequence loss; J_t = mean of E_t over the batch)

Cross-entropy goes through the log_softmax primitive, not log(softmax(z)):
log_softmax(z) = z - max z - log Σ exp(z - max z) never overflows, and never
takes the log of an underflowed 0.
"""

from __future__ import annotations

import numpy as np

from ..context import current_scope
from ..errors import ShapeError, where
from ..tensor import Tensor

_REDUCTIONS = ("mean", "sum", "none")


def _tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _reduce(loss: Tensor, reduction: str, fname: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{fname}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _targets(targets, logits: Tensor) -> np.ndarray:
    """Integer class indices of shape logits.shape[:-1], checked, as a numpy array."""
    t = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    here = where(current_scope())
    if t.dtype.kind not in "iu":
        raise ValueError(f"cross_entropy: targets must be integer class indices, got dtype "
                         f"{t.dtype} (shape {t.shape}){here}; pass class indices, e.g. "
                         "targets.astype(np.int64)")
    flat = logits.ndim == 2 and t.size == logits.shape[0]   # (B·T, K) with (B, T) is fine
    if logits.ndim < 2 or (t.shape != logits.shape[:-1] and not flat):
        raise ShapeError(f"cross_entropy: logits of shape {logits.shape} need targets of shape "
                         f"{logits.shape[:-1]} (one class index per row), got targets of shape "
                         f"{t.shape}{here}")
    K = logits.shape[-1]
    bad = (t < 0) | (t >= K)
    if bad.any():
        pos = [tuple(int(i) for i in p) for p in np.argwhere(bad)[:5]]
        raise ValueError(f"cross_entropy: targets {t[bad][:5].tolist()} at positions {pos} are "
                         f"outside the {K} classes [0, {K - 1}] of logits {logits.shape}{here}; "
                         "the logits need one column per class (K > the largest target)")
    return t


def cross_entropy(logits, targets, reduction: str = "mean") -> Tensor:
    """E = -log softmax(z)[target], averaged over every row (reduction="mean").

    logits (N, K) with targets (N,), or (B, T, K) with targets (B, T) (flattened to
    N = B·T rows). Targets: integer numpy arrays, lists or Tensors.
    ∂E/∂z = softmax(z) - onehot(target) per row (divided by N for the mean).
    """
    logits = _tensor(logits)
    targets = _targets(targets, logits)
    t = targets.reshape(-1)                               # (N,)
    N, K = t.size, logits.shape[-1]
    logp = logits.reshape(N, K).log_softmax(axis=-1)      # (N, K)
    nll = -logp[np.arange(N), t]                          # (N,): integer-array indexing
    if reduction == "none":
        return nll.reshape(targets.shape)
    return _reduce(nll, reduction, "cross_entropy")


def mse_loss(input, target, reduction: str = "mean") -> Tensor:
    """E = mean((input - target)²). Shapes must be equal: no silent broadcasting."""
    input, target = _tensor(input), _tensor(target)
    if input.shape != target.shape:
        raise ShapeError(f"mse_loss: input of shape {input.shape} and target of shape "
                         f"{target.shape} differ{where(current_scope())}; reshape one "
                         "(broadcasting (B, 1) against (B,) is a classic silent bug)")
    d = input - target
    return _reduce(d * d, reduction, "mse_loss")


def sequence_loss(logits_per_step, targets) -> Tensor:
    """The course's sequence loss J = (1/T) Σ_{t=1}^{T} J_t, J_t = cross_entropy(z_t, y_t).

    logits_per_step: a list of T logits z_t of shape (B, K) (or one (B, T, K) Tensor);
    targets: (B, T) integers, column t-1 being the targets of step t.
    """
    targets = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    if isinstance(logits_per_step, Tensor):
        logits_per_step = [logits_per_step[:, t] for t in range(logits_per_step.shape[1])]
    T = len(logits_per_step)
    if T == 0:
        raise ValueError("sequence_loss: got no time steps (an empty list of logits)")
    if targets.ndim != 2 or targets.shape[1] != T:
        raise ShapeError(f"sequence_loss: {T} steps of logits need targets of shape (B, {T}), "
                         f"got {targets.shape}{where(current_scope())}")
    J = cross_entropy(logits_per_step[0], targets[:, 0])
    for t in range(1, T):
        J = J + cross_entropy(logits_per_step[t], targets[:, t])
    return J * (1.0 / T)


# ---- activations: the Tensor methods, as functions -------------------------
def softmax(x: Tensor, axis: int = -1) -> Tensor:
    return _tensor(x).softmax(axis)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    return _tensor(x).log_softmax(axis)


def relu(x: Tensor) -> Tensor:
    return _tensor(x).relu()


def tanh(x: Tensor) -> Tensor:
    return _tensor(x).tanh()


def sigmoid(x: Tensor) -> Tensor:
    return _tensor(x).sigmoid()
