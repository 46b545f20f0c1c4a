"""Recurrent cells: one time step of an RNN, an LSTM and a GRU, written in primitive ops.

A cell maps (x_t, state_{t-1}) to state_t. It knows nothing about time: the
sequence layers in `sequence.py` call it T times in a Python loop, and that loop
*is* the unrolled graph that `backward()` walks (BPTT).

Row-vector convention, batch first: x_t (B, D), h_t (B, H), W (D, H), U (H, H).
Each `forward` is the course's equation block and nothing else: one line per
equation, each naming its result (``.named("f_t")``) so the renderer and `.name`
speak the notes' notation. `forward` trusts its inputs: calling a cell
(``cell(x_t, h)``) first converts numpy inputs, fills a missing state with zeros
and checks the shapes (`_Cell.__call__`); the sequence layers check the whole
sequence once, up front, and run `forward` directly.

Initialisation is PyTorch's: every parameter uniform in ±1/sqrt(H) (`nn.init.uniform_`,
from the library's seedable generator, `tg.manual_seed`). Re-initialise U with
`nn.init.orthogonal_`, `eye_` (IRNN) or `spectral_radius_` to study its effect.
With ``bias=False`` every bias is a constant zero instead of a parameter (as in
PyTorch, there is nothing to train and nothing in `state_dict`), so the equation
lines stay the course's.
"""

from __future__ import annotations

import numpy as np

from ..context import current_scope, get_default_dtype
from ..errors import ShapeError, where
from ..tensor import Tensor, cat
from . import checks, init
from .module import Module, Parameter

NONLINEARITIES = ("tanh", "relu", "sigmoid")   # sigmoid: the notes' γ = 1/4 case (not in PyTorch)
_ACTIVATIONS = {"tanh": Tensor.tanh, "relu": Tensor.relu, "sigmoid": Tensor.sigmoid}


def sizes(owner: str, input_size, hidden_size) -> tuple[int, int]:
    """PyTorch's rule for recurrent layers: both sizes are integers > 0."""
    return (checks.size(owner, "input_size", input_size, 1),
            checks.size(owner, "hidden_size", hidden_size, 1))


def _uniform(shape, hidden_size, dtype) -> Parameter:
    """PyTorch's recurrent init: U(-1/sqrt(H), 1/sqrt(H)), from the library generator."""
    k = 1.0 / np.sqrt(hidden_size)
    return init.uniform_(Parameter(np.zeros(shape, dtype or get_default_dtype())), -k, k)


def _bias(hidden_size, dtype, bias: bool, name: str) -> Tensor:
    """A bias parameter (H,), or with bias=False a constant zero that trains nothing."""
    if bias:
        return _uniform((hidden_size,), hidden_size, dtype)
    return Tensor(np.zeros(hidden_size, dtype or get_default_dtype()), name=name)


def _keep_grads(state: tuple) -> tuple:
    """Mark the new state h_t (and C_t) with retain_grad(): backward() keeps ∂E/∂h_t for
    every t even under record_edge_grads(False), where other intermediates drop theirs."""
    for s in state:
        if s.requires_grad:
            s.retain_grad()
    return state


class _Cell(Module):
    """What the three cells share: sizes, and the checks a direct call makes.

    `state_names` lists what the cell carries from step to step; `step` is the
    sequence layers' view of `forward`, with the state always a tuple ((h,) or (h, C)).
    """

    state_names = ("h_{t-1}",)

    def __init__(self, input_size: int, hidden_size: int):
        self.input_size, self.hidden_size = sizes(type(self).__name__, input_size, hidden_size)

    @property
    def dtype(self):
        # The first parameter's (W, W_f, W_r), read from the attributes directly: a layer reads it
        # on every call, and walking the parameters (`_children`) was 0.2% of a tiny RNN step.
        for value in vars(self).values():
            if isinstance(value, Parameter):
                return value.dtype
        return next(p for _, p in self._children() if isinstance(p, Parameter)).dtype

    def as_tuple(self, state) -> tuple:
        """The state as a tuple, (h,) or (h, C); None means zeros (a tuple of Nones)."""
        return (state,)

    def from_tuple(self, state: tuple):
        """The inverse of `as_tuple`: what `forward` takes and returns (h, or (h, C))."""
        return state[0]

    def step(self, x_t: Tensor, state: tuple) -> tuple:
        """One step with the state as a tuple, (h,): how the sequence layers call the cell.
        Written out for a state of one part (the LSTM has its own): as
        ``_keep_grads(as_tuple(forward(x_t, from_tuple(state))))``, without those three calls
        a step (0.4% of a tiny RNN training step, measured)."""
        h_t = self.forward(x_t, state[0])
        if h_t.requires_grad:
            h_t.retain_grad()                                   # see _keep_grads
        return (h_t,)

    def __call__(self, x_t, state=None):
        """``cell(x_t, state)``: convert and check the inputs, then run `forward`."""
        x_t = x_t if isinstance(x_t, Tensor) else Tensor(np.asarray(x_t), dtype=self.dtype)  # (B, D)
        parts = self.as_tuple(state)
        parts = tuple(self._state(s, x_t, name) for s, name in zip(parts, self.state_names))
        self._check_step(x_t, parts)
        out = self.forward(x_t, self.from_tuple(parts))
        _keep_grads(self.as_tuple(out))
        return out

    def _state(self, s, x_t: Tensor, name: str) -> Tensor:
        """One state part as a Tensor; None means zeros (B, H), a constant named h_0 or C_0."""
        if s is None:
            return Tensor(np.zeros((x_t.shape[0], self.hidden_size), self.dtype),
                          name=name.replace("{t-1}", "0"))
        return s if isinstance(s, Tensor) else Tensor(np.asarray(s), dtype=self.dtype)

    def _check_step(self, x_t: Tensor, parts: tuple) -> None:
        """Clear errors for one step: x_t (B, D) and every state (B, H). The current
        scope (e.g. 'rnn/t=3') says which time step, when the cell runs in a user's loop."""
        name = type(self).__name__
        if x_t.ndim != 2 or x_t.shape[1] != self.input_size:
            raise ShapeError(f"{name}: x_t has shape {x_t.shape}, expected (B, input_size) = "
                             f"(B, {self.input_size}){where(current_scope())}")
        expected = (x_t.shape[0], self.hidden_size)
        for label, s in zip(self.state_names, parts):
            if s.shape != expected:
                raise ShapeError(f"{name}: state {label} has shape {s.shape}, expected (B, hidden_size) "
                                 f"= {expected} to match x_t of shape {x_t.shape}{where(current_scope())}")

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}"


class RNNCell(_Cell):
    """Elman cell:  h_t = f(x_t W + h_{t-1} U + b),  f = tanh, relu or sigmoid.

    Parameters: W (input_size, hidden_size), U (hidden_size, hidden_size),
    b (hidden_size,) (a constant zero with bias=False). Call as ``h = cell(x_t, h)``;
    ``h=None`` starts from zeros.
    """

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh",
                 bias: bool = True, dtype=None):
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"RNNCell: unknown nonlinearity {nonlinearity!r}; "
                             f"choose one of {', '.join(map(repr, NONLINEARITIES))}")
        super().__init__(input_size, hidden_size)
        self.nonlinearity = nonlinearity
        self.W = _uniform((input_size, hidden_size), hidden_size, dtype)    # (D, H)
        self.U = _uniform((hidden_size, hidden_size), hidden_size, dtype)   # (H, H)
        self.b = _bias(hidden_size, dtype, bias, "b")                       # (H,)
        self.bias = bias

    def forward(self, x_t: Tensor, h_prev: Tensor) -> Tensor:
        a_t = x_t @ self.W + h_prev @ self.U + self.b                        # (B, H)
        return _ACTIVATIONS[self.nonlinearity](a_t).named("h_t")                # (B, H)  h_t = f(a_t)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, nonlinearity={self.nonlinearity!r}"


class LSTMCell(_Cell):
    """LSTM cell, the course's equations, gates on z_t = [h_{t-1}, x_t] (hidden first):

        f_t = σ(z_t W_f + b_f)                  forget gate
        i_t = σ(z_t W_i + b_i)                  input gate
        C̃_t = tanh(z_t W_c + b_c)               candidate cell state
        o_t = σ(z_t W_o + b_o)                  output gate
        C_t = f_t * C_{t-1} + i_t * C̃_t         cell state: the additive path
        h_t = o_t * tanh(C_t)                   hidden state

    W_f, W_i, W_c, W_o are (hidden_size + input_size, hidden_size): the rows
    `hidden_rows` (the first H) act on h_{t-1}, the rows `input_rows` on x_t.
    Call as ``(h, C) = cell(x_t, (h, C))``; ``state=None`` starts from zeros.
    """

    state_names = ("h_{t-1}", "C_{t-1}")

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype=None):
        super().__init__(input_size, hidden_size)
        shape, H = (hidden_size + input_size, hidden_size), hidden_size
        self.W_f, self.b_f = _uniform(shape, H, dtype), _bias(H, dtype, bias, "b_f")
        self.W_i, self.b_i = _uniform(shape, H, dtype), _bias(H, dtype, bias, "b_i")
        self.W_c, self.b_c = _uniform(shape, H, dtype), _bias(H, dtype, bias, "b_c")
        self.W_o, self.b_o = _uniform(shape, H, dtype), _bias(H, dtype, bias, "b_o")
        self.bias = bias

    @property
    def hidden_rows(self) -> slice:
        """The rows of each W_f, W_i, W_c, W_o that multiply h_{t-1}: ``W_f.data[cell.hidden_rows]``
        is the (H, H) recurrent block (the U of an RNN)."""
        return slice(0, self.hidden_size)

    @property
    def input_rows(self) -> slice:
        """The rows of each gate matrix that multiply x_t: the (D, H) input block (an RNN's W)."""
        return slice(self.hidden_size, self.hidden_size + self.input_size)

    def as_tuple(self, state) -> tuple:
        if state is None:
            return (None, None)
        h, C = state
        return (h, C)

    def from_tuple(self, state: tuple):
        return state

    def step(self, x_t: Tensor, state: tuple) -> tuple:
        """One step with the state (h, C) as a tuple, which `forward` takes and returns."""
        return _keep_grads(self.forward(x_t, state))

    def forward(self, x_t: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        h_prev, C_prev = state                                   # h_{t-1}, C_{t-1}: (B, H) each
        z_t = cat([h_prev, x_t], axis=-1).named("z_t")           # (B, H + D)  z_t = [h_{t-1}, x_t]
        f_t = (z_t @ self.W_f + self.b_f).sigmoid().named("f_t")  # (B, H)  f_t = σ(z_t W_f + b_f)
        i_t = (z_t @ self.W_i + self.b_i).sigmoid().named("i_t")  # (B, H)  i_t = σ(z_t W_i + b_i)
        C_tilde_t = (z_t @ self.W_c + self.b_c).tanh().named("C̃_t")  # (B, H)  C̃_t = tanh(z_t W_c + b_c)
        o_t = (z_t @ self.W_o + self.b_o).sigmoid().named("o_t")  # (B, H)  o_t = σ(z_t W_o + b_o)
        C_t = (f_t * C_prev + i_t * C_tilde_t).named("C_t")      # (B, H)  C_t = f_t * C_{t-1} + i_t * C̃_t
        h_t = (o_t * C_t.tanh()).named("h_t")                    # (B, H)  h_t = o_t * tanh(C_t)
        return h_t, C_t


class GRUCell(_Cell):
    """GRU cell with torch.nn.GRU's equations (the reset gate acts after the hidden matmul):

        r_t = σ(x_t W_r + b_ir + h_{t-1} U_r + b_hr)            reset gate
        z_t = σ(x_t W_z + b_iz + h_{t-1} U_z + b_hz)            update gate
        n_t = tanh(x_t W_n + b_in + r_t * (h_{t-1} U_n + b_hn))  candidate state
        h_t = (1 - z_t) * n_t + z_t * h_{t-1}

    W_* (input_size, hidden_size), U_* (hidden_size, hidden_size), b_i* and b_h*
    (hidden_size,): two biases per gate, as PyTorch, because b_hn sits inside r_t * (...).
    Call as ``h = cell(x_t, h)``; ``h=None`` starts from zeros.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype=None):
        super().__init__(input_size, hidden_size)
        D, H = input_size, hidden_size
        self.W_r, self.W_z, self.W_n = (_uniform((D, H), H, dtype) for _ in range(3))  # (D, H)
        self.U_r, self.U_z, self.U_n = (_uniform((H, H), H, dtype) for _ in range(3))  # (H, H)
        self.b_ir, self.b_iz, self.b_in = (_bias(H, dtype, bias, n) for n in ("b_ir", "b_iz", "b_in"))
        self.b_hr, self.b_hz, self.b_hn = (_bias(H, dtype, bias, n) for n in ("b_hr", "b_hz", "b_hn"))
        self.bias = bias

    def forward(self, x_t: Tensor, h_prev: Tensor) -> Tensor:
        r_t = (x_t @ self.W_r + self.b_ir + h_prev @ self.U_r + self.b_hr).sigmoid().named("r_t")  # (B, H)
        z_t = (x_t @ self.W_z + self.b_iz + h_prev @ self.U_z + self.b_hz).sigmoid().named("z_t")  # (B, H)
        n_t = (x_t @ self.W_n + self.b_in + r_t * (h_prev @ self.U_n + self.b_hn)).tanh().named("n_t")
        return ((1 - z_t) * n_t + z_t * h_prev).named("h_t")                                    # (B, H)
