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
from ..dialect import accepts_dim
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


def _targets(targets, logits: Tensor, fname: str, ignore_index: int) -> tuple[np.ndarray, bool]:
    """Integer class indices of shape logits.shape[:-1], checked, as a numpy array, and whether
    every row is kept (no target is ignore_index)."""
    t = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    if t.dtype.kind not in "iu":
        raise ValueError(f"{fname}: targets must be integer class indices, got dtype "
                         f"{t.dtype} (shape {t.shape}){where(current_scope())}; pass class indices, "
                         "e.g. targets.astype(np.int64)")
    flat = logits.ndim == 2 and t.size == logits.shape[0]   # (B·T, K) with (B, T) is fine
    if logits.ndim < 2 or (t.shape != logits.shape[:-1] and not flat):
        raise ShapeError(f"{fname}: logits of shape {logits.shape} need targets of shape "
                         f"{logits.shape[:-1]} (one class index per row), got targets of shape "
                         f"{t.shape}{where(current_scope())}")
    K = logits.shape[-1]
    # Seen as unsigned, a negative index wraps to a huge one: one comparison finds the indices
    # outside [0, K) at both ends. The full test runs only if there are some (ignore_index's
    # rows, or a mistake): five array ops a call were 0.4% of a tiny RNN training step.
    if not np.count_nonzero(t.view(f"u{t.itemsize}") >= K):
        return t, not 0 <= ignore_index < K or not np.any(t == ignore_index)
    bad = ((t < 0) | (t >= K)) & (t != ignore_index)
    if bad.any():
        pos = [tuple(int(i) for i in p) for p in np.argwhere(bad)[:5]]
        raise ValueError(f"{fname}: targets {t[bad][:5].tolist()} at positions {pos} are "
                         f"outside the {K} classes [0, {K - 1}] of logits {logits.shape}"
                         f"{where(current_scope())}; the logits need one column per class "
                         "(K > the largest target)"
                         + (f"; ignore_index is {ignore_index}" if ignore_index != -100 else ""))
    return t, False                                      # the rows outside [0, K) are ignored


def _weight(weight, K: int, dtype, fname: str):
    """The per-class weight w (K,) as a numpy constant, or None."""
    if weight is None:
        return None
    w = np.asarray(weight.data if isinstance(weight, Tensor) else weight, dtype=dtype)
    if w.shape != (K,):
        raise ShapeError(f"{fname}: weight must have one entry per class, shape ({K},), got "
                         f"{w.shape}{where(current_scope())}")
    return w


def _check_options(fname: str, reduction: str, label_smoothing: float = 0.0) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fname}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float, np.floating)) \
            or not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{fname}: label_smoothing must be a number in [0, 1], got {label_smoothing!r}")


def _weighted_mean(loss: Tensor, total) -> Tensor:
    """Σ loss / Σ weights of the rows kept (NaN if no row is kept, as torch)."""
    if type(total) is int and total > 0:        # N rows, none ignored: no 1/0 to silence
        return loss.sum() * (1.0 / total)       # (entering np.errstate costs a few µs a call)
    with np.errstate(divide="ignore", invalid="ignore"):
        return loss.sum() * (np.float64(1.0) / total).astype(loss.dtype)


def nll_loss(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """E_i = -w[t_i] · logp[i, t_i] on log-probabilities (the output of log_softmax).

    Rows whose target is `ignore_index` count for nothing: E_i = 0, and the mean
    divides by Σ_i w[t_i] over the rows kept (PyTorch's rule), not by N.
    """
    _check_options("nll_loss", reduction)
    logp = _tensor(input)
    t, every_row = _targets(target, logp, "nll_loss", ignore_index)
    loss, total = _nll(logp, t, _weight(weight, logp.shape[-1], logp.dtype, "nll_loss"), ignore_index,
                       every_row)
    if reduction == "none":
        return loss.reshape(t.shape)
    return loss.sum() if reduction == "sum" else _weighted_mean(loss, total)


def _nll(logp: Tensor, t: np.ndarray, w, ignore_index: int, every_row: bool):
    """Per-row -w[t] logp[t] (N,), rows with t == ignore_index zeroed, and Σ w[t] over kept rows
    (`every_row`: no row is ignored, from `_targets`)."""
    t = t.reshape(-1)                                    # (N,)
    N, K = t.size, logp.shape[-1]
    logp = logp.reshape(N, K)
    if every_row and w is None:                          # the common case: one getitem
        return -logp[np.arange(N), t], N
    keep = t != ignore_index                             # (N,)
    safe = np.where(keep, t, 0)
    wt = (keep if w is None else w[safe] * keep).astype(logp.dtype)   # (N,): 0 on ignored rows
    return -logp[np.arange(N), safe] * wt, wt.sum()


def cross_entropy(logits, targets, weight=None, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """E = -log softmax(z)[target], averaged over every row (reduction="mean").

    logits (N, K) with targets (N,), or (B, T, K) with targets (B, T) (flattened to
    N = B·T rows): the classes are on the LAST axis (PyTorch puts them on axis 1).
    Targets: integer numpy arrays, lists or Tensors.
    ∂E/∂z = softmax(z) - onehot(target) per row (divided by N for the mean).

    PyTorch's options, with its exact semantics:

    * ``weight`` (K,): row i counts w[t_i]; the mean divides by Σ_i w[t_i].
    * ``ignore_index``: rows with that target count for nothing (padding); the
      mean is over the rows kept.
    * ``label_smoothing`` ε: the target puts 1 - ε on the class and ε/K on every
      class, E_i = (1 - ε) E_i^nll + (ε/K) Σ_k -w_k logp[i, k]; the smoothing
      term is divided by the same Σ_i w[t_i] under the mean.

    Targets may also be class probabilities of the logits' shape (float):
    E_i = -Σ_k w_k p_ik logp[i, k], with p smoothed to (1 - ε) p + ε/K; the mean
    divides by N (PyTorch's rule for probability targets).
    """
    _check_options("cross_entropy", reduction, label_smoothing)
    logits = _tensor(logits)
    if _is_probabilities(targets, logits):
        return _soft_cross_entropy(logits, targets, weight, reduction, label_smoothing)
    t, every_row = _targets(targets, logits, "cross_entropy", ignore_index)
    N, K = t.size, logits.shape[-1]
    w = _weight(weight, K, logits.dtype, "cross_entropy")
    logp = logits.reshape(N, K).log_softmax(axis=-1)     # (N, K)
    loss, total = _nll(logp, t, w, ignore_index, every_row)   # (N,)
    if label_smoothing:
        keep = (t.reshape(-1) != ignore_index).astype(logits.dtype)[:, None]      # (N, 1)
        smooth = -(logp * (keep if w is None else keep * w)).sum(axis=-1)          # (N,)
        loss = loss * (1.0 - label_smoothing) + smooth * (label_smoothing / K)
    if reduction == "none":
        return loss.reshape(t.shape)
    return loss.sum() if reduction == "sum" else _weighted_mean(loss, total)


def _is_probabilities(targets, logits: Tensor) -> bool:
    return np.shape(targets) == logits.shape and np.asarray(
        targets.data if isinstance(targets, Tensor) else targets).dtype.kind == "f"


def _soft_cross_entropy(logits: Tensor, p, weight, reduction: str, eps: float) -> Tensor:
    """E_i = -Σ_k w_k p_ik log softmax(z_i)_k, over the last axis (the classes)."""
    K = logits.shape[-1]
    p = p if isinstance(p, Tensor) else Tensor(np.asarray(p, dtype=logits.dtype))
    if eps:
        p = p * (1.0 - eps) + eps / K
    w = _weight(weight, K, logits.dtype, "cross_entropy")
    logp = logits.log_softmax(axis=-1)                   # (..., K)
    loss = -(logp * p * (1.0 if w is None else w)).sum(axis=-1)   # (...)
    return _reduce(loss, reduction, "cross_entropy")


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
@accepts_dim
def softmax(x: Tensor, axis: int = -1) -> Tensor:
    return _tensor(x).softmax(axis)


@accepts_dim
def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    return _tensor(x).log_softmax(axis)


def relu(x: Tensor) -> Tensor:
    return _tensor(x).relu()


def tanh(x: Tensor) -> Tensor:
    return _tensor(x).tanh()


def sigmoid(x: Tensor) -> Tensor:
    return _tensor(x).sigmoid()
