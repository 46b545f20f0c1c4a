"""A GRU cell from primitive Tensor ops, matching `nn.GRUCell` (PyTorch's equations).

    r_t = σ(x_t W_r + b_ir + h_{t-1} U_r + b_hr)             reset gate
    z_t = σ(x_t W_z + b_iz + h_{t-1} U_z + b_hz)             update gate
    n_t = tanh(x_t W_n + b_in + r_t * (h_{t-1} U_n + b_hn))   candidate
    h_t = (1 - z_t) * n_t + z_t * h_{t-1}

Write `gru_step(x_t, h_prev, p)`: x_t (B, D) and h_prev (B, H) Tensors, p a dict of
Tensors named as the cell's parameters (p["W_r"] (D, H), p["U_r"] (H, H), p["b_ir"] (H,), ...);
return h_t (B, H). The checker compares h_t and every gradient with `nn.GRUCell`.
"""

import numpy as np

from ..nn.cells import GRUCell
from .checking import check_step

NAME, PAGE, FUNCTION = "gru_cell", "gru.md", "gru_step"
TEMPLATE = '''def gru_step(x_t, h_prev, p):
    """h_t of a GRU, from Tensor ops: @, +, *, -, .sigmoid(), .tanh()."""
    r_t = (x_t @ p["W_r"] + p["b_ir"] + h_prev @ p["U_r"] + p["b_hr"]).sigmoid()   # (B, H)
    # your code: z_t, n_t, h_t
    return h_prev
'''
HINTS = {
    "h_t": "check n_t: the reset gate multiplies after the matmul, r_t * (h_{t-1} U_n + b_hn), and "
           "h_t = (1 - z_t) * n_t + z_t * h_{t-1} (z_t keeps the old state)",
    "b_hn": "b_hn sits inside r_t * (h_{t-1} U_n + b_hn)",
}


def check(fn) -> str:
    cell = GRUCell(3, 4)
    h_prev = np.random.default_rng(13).normal(size=(2, 4))
    check_step(fn, cell, (h_prev,), ("h_t",), hint=lambda what: HINTS.get(what, ""))
    return "h_t and the gradients of all 12 parameters, x_t and h_{t-1} match nn.GRUCell"
