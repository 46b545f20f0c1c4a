"""An LSTM cell from primitive Tensor ops, matching `nn.LSTMCell` (the course's equations).

    z_t = [h_{t-1}, x_t]                        (hidden state first)
    f_t = σ(z_t W_f + b_f)    i_t = σ(z_t W_i + b_i)    C̃_t = tanh(z_t W_c + b_c)
    o_t = σ(z_t W_o + b_o)    C_t = f_t * C_{t-1} + i_t * C̃_t    h_t = o_t * tanh(C_t)

Write `lstm_step(x_t, state, p)`: x_t (B, D), state = (h_prev, C_prev) (B, H) each,
p a dict of Tensors p["W_f"] (H + D, H), p["b_f"] (H,), ... (also _i, _c, _o);
return (h_t, C_t). Join along features with `tg.cat([a, b], axis=-1)`.
"""

import numpy as np

from ..nn.cells import LSTMCell
from .checking import check_step

NAME, PAGE, FUNCTION = "lstm_cell", "lstm.md", "lstm_step"
TEMPLATE = '''import tinygrad_rnn as tg


def lstm_step(x_t, state, p):
    """(h_t, C_t) of an LSTM, from Tensor ops."""
    h_prev, C_prev = state
    z_t = tg.cat([h_prev, x_t], axis=-1)                    # (B, H + D)
    # your code: the gates f_t, i_t, C~_t, o_t, then C_t and h_t
    return h_prev, C_prev
'''
HINTS = {
    "C_t": "C_t = f_t * C_{t-1} + i_t * C̃_t, with C̃_t = tanh(z_t W_c + b_c) and z_t = [h_{t-1}, x_t] "
           "(hidden state first: the first H rows of each W act on h_{t-1})",
    "h_t": "h_t = o_t * tanh(C_t): the squashed cell state, gated by o_t",
}


def check(fn) -> str:
    cell = LSTMCell(3, 4)
    rng = np.random.default_rng(17)
    state = (rng.normal(size=(2, 4)), rng.normal(size=(2, 4)))
    check_step(fn, cell, state, ("h_t", "C_t"), hint=lambda what: HINTS.get(what, ""))
    return "h_t, C_t and the gradients of all 8 parameters, x_t, h_{t-1} and C_{t-1} match nn.LSTMCell"
