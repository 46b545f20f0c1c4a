"""Gradient clipping, the course's remedy for exploding gradients (as PyTorch's `nn.utils`).

    g <- threshold · g / ‖g‖      when ‖g‖ > threshold

‖g‖ is the norm of all the gradients together, as if concatenated into one vector,
so clipping rescales them all by the same factor and keeps the descent direction.

Both functions *assign* a new array to `p.grad` instead of scaling it in place:
`p.grad` may be the very array recorded on a graph edge (`edge_grads`), which the
renderer draws as the gradient that actually flowed.
"""

from __future__ import annotations

import math

import numpy as np

from ..analysis import norm
from ..tensor import Tensor
from .module import parameters_of


def _params(parameters) -> list[Tensor]:
    return [p for p in parameters_of(parameters) if p.grad is not None]


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    """Rescale all gradients so their total norm is at most `max_norm`; return the norm before.

        ‖g‖_p = (Σ_params ‖g_param‖_p^p)^(1/p)    (‖g‖_∞ = max |g_i|)
        coef  = min(1, max_norm / (‖g‖ + 1e-6))    (PyTorch's exact formula)
        g    <- coef · g

    A NaN or Inf total: raise if `error_if_nonfinite`, else scale as PyTorch does
    (coef is NaN, or 0 for an infinite norm) and return the total, so the caller sees it.
    The total is an np.float64: a float that also has torch's ``.item()``.
    """
    norm_type = float(norm_type)
    if not (max_norm >= 0):
        raise ValueError(f"clip_grad_norm_: max_norm must be >= 0, got {max_norm}")
    if not (norm_type > 0):
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 or inf, got {norm_type}")
    params = _params(parameters)
    if not params:
        return np.float64(0.0)
    total = np.float64(norm([norm(p.grad, norm_type) for p in params], norm_type))  # ‖(‖g_1‖, ...)‖ = ‖g‖
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total gradient norm of order {norm_type} over "
                           f"{len(params)} parameters is {total}, so it cannot be clipped. Find "
                           "where it starts with tg.detect_anomaly(), or pass "
                           "error_if_nonfinite=False to clip anyway")
    coef = max_norm / (total + 1e-6)
    if not coef < 1.0 and not math.isnan(coef):
        return total                                  # ‖g‖ <= max_norm: nothing to do
    with np.errstate(invalid="ignore"):
        for p in params:
            p.grad = p.grad * np.asarray(coef, dtype=p.grad.dtype)   # a new array
    return total


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamp every gradient entry into [-clip_value, clip_value] (a new array per grad)."""
    if not (clip_value >= 0):
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for p in _params(parameters):
        p.grad = np.clip(p.grad, -clip_value, clip_value)
