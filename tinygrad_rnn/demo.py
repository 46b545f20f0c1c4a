"""The demo task that `tinygrad-rnn` draws: a small seeded recurrent net, run and backpropagated.

Random inputs x (B, T, D), a recurrent layer, a linear readout and a cross-entropy
loss on the LAST step only (by default). Then E depends on h_t only through
h_{t+1}, …, h_T, so ‖∂E/∂h_t‖ = ‖∂E/∂h_T · Π ∂h_i/∂h_{i-1}‖ shows the product of
Jacobians shrinking (ρ(U) < 1) or growing (ρ(U) > 1) backwards in time.
"""

from __future__ import annotations

import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import nn

LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def run_task(cell="rnn", steps=6, hidden=8, rho=0.5, loss_at="last", seed=0, batch=2,
             input_size=3, classes=4):
    """Build, run and backpropagate the seeded task; returns (loss, layer)."""
    tg.manual_seed(seed)
    rng = np.random.default_rng(seed)
    layer = LAYERS[cell](input_size, hidden)
    readout = nn.Linear(hidden, classes)
    readout.weight.name, readout.bias.name = "V", "c"           # y_t = softmax(h_t V + c)
    if rho is not None:
        set_recurrent_radius(layer, rho)
    x = rng.standard_normal((batch, steps, input_size))          # (B, T, D)
    outputs, state = layer(x)
    h_T = state[0] if cell == "lstm" else state                  # (B, H)
    if loss_at == "last":
        loss = nn.functional.cross_entropy(readout(h_T), rng.integers(0, classes, batch))
    else:
        targets = rng.integers(0, classes, (batch, steps))
        loss = nn.functional.cross_entropy(readout(outputs), targets)
    loss.backward()
    return loss, layer


def set_recurrent_radius(layer, rho: float) -> None:
    """Give every matrix acting on h_{t-1} the spectral radius rho.

    RNN: U. GRU: U_r, U_z, U_n. LSTM: the rows `cell.hidden_rows` of W_f, W_i, W_c,
    W_o (the block that multiplies h_{t-1} in z_t = [h_{t-1}, x_t]).
    """
    cell = layer.cells[0]
    for name in ("U", "U_r", "U_z", "U_n"):
        if hasattr(cell, name):
            nn.init.spectral_radius_(getattr(cell, name), rho)
    for name in ("W_f", "W_i", "W_c", "W_o"):
        if hasattr(cell, name):
            W = getattr(cell, name)
            block = tg.Tensor(W.data[cell.hidden_rows].astype(np.float64))     # (H, H)
            nn.init.spectral_radius_(block, rho)
            W.data = np.concatenate([block.data.astype(W.dtype), W.data[cell.input_rows]])
