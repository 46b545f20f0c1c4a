"""A U with spectral radius below 1 whose gradient grows anyway.

For a linear RNN h_t = h_{t-1} U the gradient that reaches h_0 from h_T is
multiplied by U^T (T factors). If U is normal (symmetric, a scaled rotation...)
its norm is ρ(U)^T, which shrinks when ρ(U) < 1. The spectral radius is not the
bound: a non-normal U can make ‖∂h_T/∂h_0‖₂ = ‖U^T‖₂ grow for many steps first.

Write `make_U()` returning a numpy (H, H) matrix, H >= 2, with ρ(U) < 1 and
‖∂h_10/∂h_0‖₂ >= 10. The checker measures ‖∂h_t/∂h_0‖₂ with backward().
"""

import numpy as np

from ..analysis import spectral_radius
from ..tensor import Tensor
from .checking import ExerciseFailure, array

NAME, PAGE, FUNCTION = "nonnormal_growth", "vanishing.md", "make_U"
T, GROWTH = 10, 10.0
TEMPLATE = '''import numpy as np


def make_U():
    """An (H, H) matrix with spectral radius < 1 whose gradient grows over 10 steps."""
    return 0.9 * np.eye(2)   # your code: this one is normal, so it only shrinks
'''


def gradient_norms(U: np.ndarray, steps: int) -> list[float]:
    """‖∂h_t/∂h_0‖₂ for t = 1..steps: backward() from h_t seeded with every e_j at once."""
    H, norms = len(U), []
    for t in range(1, steps + 1):
        h0 = Tensor(np.eye(H), requires_grad=True)        # H copies of h_0, copy j seeded with e_j
        h = h0
        for _ in range(t):
            h = h @ Tensor(U)                             # (H, H): h_t = h_{t-1} U, one row per copy
        h.backward(np.eye(H))
        norms.append(float(np.linalg.norm(h0.grad, 2)))
    return norms


def check(fn) -> str:
    U = array("make_U()", fn())
    if U.ndim != 2 or U.shape[0] != U.shape[1] or U.shape[0] < 2:
        raise ExerciseFailure(f"make_U() must return a square (H, H) matrix with H >= 2, got shape {U.shape}")
    rho = spectral_radius(U)
    if not rho < 1:
        raise ExerciseFailure(f"ρ(U) = {rho:.4g} >= 1: the exercise asks for a spectral radius below 1")
    norms = gradient_norms(U, T)
    shown = ", ".join(f"{n:.3g}" for n in norms)
    if not norms[-1] >= GROWTH:
        normal = np.allclose(U @ U.T, U.T @ U)
        raise ExerciseFailure(
            f"‖∂h_{T}/∂h_0‖₂ = {norms[-1]:.4g} < {GROWTH:g} (t = 1..{T}: {shown})\n  hint: "
            + ("U is normal (UUᵀ = UᵀU), so ‖U^t‖₂ = ρ^t only shrinks: put a large entry "
               "off the diagonal of a triangular matrix" if normal else
               "U is non-normal but not enough: make the off-diagonal entry larger, or ρ closer to 1"))
    return f"ρ(U) = {rho:.3g} < 1, yet ‖∂h_t/∂h_0‖₂ for t = 1..{T}: {shown}"
