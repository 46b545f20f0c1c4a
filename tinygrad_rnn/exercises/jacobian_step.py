"""One step of the Jacobian product, in the library's row convention.

    h_t = tanh(x_t W + h_{t-1} U + b)         ∂h_t/∂h_{t-1} = diag(1 - h_t²) Uᵀ

Write `jacobian(h_t, U)`: h_t (H,), U (H, H); return the (H, H) Jacobian in the
numerator layout, row j = output h_t[j], column i = input h_{t-1}[i]. The checker
compares it with the engine's (backward() seeded with each e_j, `analysis.step_jacobian`).
"""

import numpy as np

from ..analysis import step_jacobian
from ..nn.cells import RNNCell
from .checking import close, compare, float64_params

NAME, PAGE, FUNCTION = "jacobian_step", "conventions.md", "jacobian"
TEMPLATE = '''import numpy as np


def jacobian(h_t, U):
    """dh_t/dh_{t-1} (H, H), row j = output h_t[j], column i = input h_{t-1}[i]."""
    return np.zeros_like(U)   # your code
'''


def check(fn) -> str:
    rng = np.random.default_rng(5)
    cell = RNNCell(2, 4)
    p = float64_params(cell)
    p["U"].data = rng.normal(size=(4, 4))
    x_t, h_prev = rng.normal(size=(1, 2)), rng.normal(size=(1, 4))
    J_grad_layout, h_t = step_jacobian(cell, x_t, h_prev)   # J[i, j] = ∂h_t[j]/∂h_{t-1}[i]
    expected, U = J_grad_layout.T, p["U"].data
    got = fn(h_t.copy(), U.copy())
    d = np.diag(1 - h_t ** 2)
    hint = ""
    if close(got, expected.T):
        hint = "this is the transpose, U diag(1 - h_t²): the gradient layout (row i = input h_{t-1}[i])"
    elif close(got, U.T @ d):
        hint = ("Uᵀ diag(1 - h_t²) is the notes' W_hᵀ diag(σ') with our U in place of W_h = Uᵀ: "
                "a different matrix (see the conventions box)")
    elif close(got, U.T):
        hint = "the slope of tanh is missing: ∂tanh(a)/∂a = 1 - tanh(a)² = 1 - h_t²"
    compare("∂h_t/∂h_{t-1}", expected, got, hint=hint)
    return "your Jacobian equals the engine's, row by row"
