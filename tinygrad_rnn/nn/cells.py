"""Recurrent cells: one time step of an RNN, an LSTM and a GRU, written in primitive ops.

A cell maps (x_t, state_{t-1}) to state_t. It knows nothing about time: the
sequence layers in `sequence.py` call it T times in a Python loop, and that loop
*is* the unrolled graph that `backward()` walks (BPTT).

Row-vector convention, batch first: x_t (B, D), h_t (B, H), W (D, H), U (H, H).
Each `forward` is the course's equation block, one line per equation, and names
its results ("h_t", "f_t", ...) so the renderer and `.name` speak the notes' notation.

Initialisation is PyTorch's: every parameter uniform in ±1/sqrt(H) (`nn.init.uniform_`,
from the library's seedable generator, `tg.manual_seed`). Re-initialise U with
`nn.init.orthogonal_`, `eye_` (IRNN) or `spectral_radius_` to study its effect.
"""

from __future__ import annotations

import numpy as np

from ..context import current_scope, get_default_dtype
from ..errors import ShapeError, where
from ..tensor import Tensor, cat
from . import init
from .module import Module, Parameter

NONLINEARITIES = ("tanh", "relu")


def _uniform(shape, hidden_size, dtype) -> Parameter:
    """PyTorch's recurrent init: U(-1/sqrt(H), 1/sqrt(H)), from the library generator."""
    k = 1.0 / np.sqrt(hidden_size)
    return init.uniform_(Parameter(np.zeros(shape, dtype or get_default_dtype())), -k, k)


def _as_tensor(x, like: Tensor) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x), dtype=like.dtype)


def _state(s, x_t: Tensor, cell, like: Tensor, name: str) -> Tensor:
    """The state as a Tensor; None means zeros (B, H), a constant named h_0 or C_0."""
    if s is None:
        return Tensor(np.zeros((x_t.shape[0], cell.hidden_size), like.dtype), name=name)
    return _as_tensor(s, like)


def _check_step(cell, x_t: Tensor, states: dict[str, Tensor]) -> None:
    """Clear errors for one step: x_t (B, D) and every state (B, H). The current
    scope (e.g. 'rnn/t=3') says which time step, when the cell runs inside a layer."""
    name = type(cell).__name__
    if x_t.ndim != 2 or x_t.shape[1] != cell.input_size:
        raise ShapeError(f"{name}: x_t has shape {x_t.shape}, expected (B, input_size) = "
                         f"(B, {cell.input_size}){where(current_scope())}")
    expected = (x_t.shape[0], cell.hidden_size)
    for label, s in states.items():
        if s.shape != expected:
            raise ShapeError(f"{name}: state {label} has shape {s.shape}, expected (B, hidden_size) "
                             f"= {expected} to match x_t of shape {x_t.shape}{where(current_scope())}")


class RNNCell(Module):
    """Elman cell:  h_t = f(x_t W + h_{t-1} U + b),  f = tanh or relu.

    Parameters: W (input_size, hidden_size), U (hidden_size, hidden_size),
    b (hidden_size,) (None with bias=False). Call as ``h = cell(x_t, h)``;
    ``h=None`` starts from zeros.
    """

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh",
                 bias: bool = True, dtype=None):
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"RNNCell: unknown nonlinearity {nonlinearity!r}; "
                             f"choose one of {', '.join(map(repr, NONLINEARITIES))}")
        self.input_size, self.hidden_size, self.nonlinearity = input_size, hidden_size, nonlinearity
        self.W = _uniform((input_size, hidden_size), hidden_size, dtype)    # (D, H)
        self.U = _uniform((hidden_size, hidden_size), hidden_size, dtype)   # (H, H)
        self.b = _uniform((hidden_size,), hidden_size, dtype) if bias else None  # (H,)

    def forward(self, x_t, h_prev=None) -> Tensor:
        x_t = _as_tensor(x_t, self.W)                                        # (B, D)
        h_prev = _state(h_prev, x_t, self, self.W, "h_0")                    # (B, H)
        _check_step(self, x_t, {"h_{t-1}": h_prev})
        a_t = x_t @ self.W + h_prev @ self.U                                 # (B, H)
        if self.b is not None:
            a_t = a_t + self.b                                               # (B, H)
        h_t = a_t.tanh() if self.nonlinearity == "tanh" else a_t.relu()      # (B, H)
        h_t.name = "h_t"
        return h_t

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, nonlinearity={self.nonlinearity!r}"


class LSTMCell(Module):
    """LSTM cell, the course's equations, gates on z_t = [h_{t-1}, x_t] (hidden first):

        f_t = σ(z_t W_f + b_f)                  forget gate
        i_t = σ(z_t W_i + b_i)                  input gate
        C̃_t = tanh(z_t W_c + b_c)               candidate cell state
        o_t = σ(z_t W_o + b_o)                  output gate
        C_t = f_t * C_{t-1} + i_t * C̃_t         cell state: the additive path
        h_t = o_t * tanh(C_t)                   hidden state

    W_f, W_i, W_c, W_o are (hidden_size + input_size, hidden_size): their first
    H rows act on h_{t-1}, the rest on x_t. Call as ``(h, C) = cell(x_t, (h, C))``;
    ``state=None`` starts from zeros.
    """

    def __init__(self, input_size: int, hidden_size: int, dtype=None):
        self.input_size, self.hidden_size = input_size, hidden_size
        shape = (hidden_size + input_size, hidden_size)
        self.W_f, self.b_f = _uniform(shape, hidden_size, dtype), _uniform(hidden_size, hidden_size, dtype)
        self.W_i, self.b_i = _uniform(shape, hidden_size, dtype), _uniform(hidden_size, hidden_size, dtype)
        self.W_c, self.b_c = _uniform(shape, hidden_size, dtype), _uniform(hidden_size, hidden_size, dtype)
        self.W_o, self.b_o = _uniform(shape, hidden_size, dtype), _uniform(hidden_size, hidden_size, dtype)

    def forward(self, x_t, state=None) -> tuple[Tensor, Tensor]:
        x_t = _as_tensor(x_t, self.W_f)                                      # (B, D)
        h_prev, C_prev = state if state is not None else (None, None)
        h_prev = _state(h_prev, x_t, self, self.W_f, "h_0")                  # (B, H)
        C_prev = _state(C_prev, x_t, self, self.W_f, "C_0")                  # (B, H)
        _check_step(self, x_t, {"h_{t-1}": h_prev, "C_{t-1}": C_prev})
        z_t = cat([h_prev, x_t], axis=-1)                     # (B, H + D)  z_t = [h_{t-1}, x_t]
        f_t = (z_t @ self.W_f + self.b_f).sigmoid()           # (B, H)  f_t = σ(z_t W_f + b_f)
        i_t = (z_t @ self.W_i + self.b_i).sigmoid()           # (B, H)  i_t = σ(z_t W_i + b_i)
        C_tilde_t = (z_t @ self.W_c + self.b_c).tanh()        # (B, H)  C̃_t = tanh(z_t W_c + b_c)
        o_t = (z_t @ self.W_o + self.b_o).sigmoid()           # (B, H)  o_t = σ(z_t W_o + b_o)
        C_t = f_t * C_prev + i_t * C_tilde_t                  # (B, H)  C_t = f_t * C_{t-1} + i_t * C̃_t
        h_t = o_t * C_t.tanh()                                # (B, H)  h_t = o_t * tanh(C_t)
        z_t.name, f_t.name, i_t.name, C_tilde_t.name = "z_t", "f_t", "i_t", "C̃_t"
        o_t.name, C_t.name, h_t.name = "o_t", "C_t", "h_t"
        return h_t, C_t

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}"


class GRUCell(Module):
    """GRU cell with torch.nn.GRU's equations (the reset gate acts after the hidden matmul):

        r_t = σ(x_t W_r + b_ir + h_{t-1} U_r + b_hr)            reset gate
        z_t = σ(x_t W_z + b_iz + h_{t-1} U_z + b_hz)            update gate
        n_t = tanh(x_t W_n + b_in + r_t * (h_{t-1} U_n + b_hn))  candidate state
        h_t = (1 - z_t) * n_t + z_t * h_{t-1}

    W_* (input_size, hidden_size), U_* (hidden_size, hidden_size), b_i* and b_h*
    (hidden_size,): two biases per gate, as PyTorch, because b_hn sits inside r_t * (...).
    Call as ``h = cell(x_t, h)``; ``h=None`` starts from zeros.
    """

    def __init__(self, input_size: int, hidden_size: int, dtype=None):
        self.input_size, self.hidden_size = input_size, hidden_size
        D, H = input_size, hidden_size
        self.W_r, self.W_z, self.W_n = (_uniform((D, H), H, dtype) for _ in range(3))  # (D, H)
        self.U_r, self.U_z, self.U_n = (_uniform((H, H), H, dtype) for _ in range(3))  # (H, H)
        self.b_ir, self.b_iz, self.b_in = (_uniform(H, H, dtype) for _ in range(3))    # (H,)
        self.b_hr, self.b_hz, self.b_hn = (_uniform(H, H, dtype) for _ in range(3))    # (H,)

    def forward(self, x_t, h_prev=None) -> Tensor:
        x_t = _as_tensor(x_t, self.W_r)                                                  # (B, D)
        h_prev = _state(h_prev, x_t, self, self.W_r, "h_0")                              # (B, H)
        _check_step(self, x_t, {"h_{t-1}": h_prev})
        r_t = (x_t @ self.W_r + self.b_ir + h_prev @ self.U_r + self.b_hr).sigmoid()      # (B, H)
        z_t = (x_t @ self.W_z + self.b_iz + h_prev @ self.U_z + self.b_hz).sigmoid()      # (B, H)
        n_t = (x_t @ self.W_n + self.b_in + r_t * (h_prev @ self.U_n + self.b_hn)).tanh()  # (B, H)
        h_t = (1 - z_t) * n_t + z_t * h_prev                                              # (B, H)
        r_t.name, z_t.name, n_t.name, h_t.name = "r_t", "z_t", "n_t", "h_t"
        return h_t

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}"
