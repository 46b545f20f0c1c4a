"""The sigmoid RNN (the notes' γ = 1/4 case): gradients by finite differences and against torch."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import analysis, nn


def test_sigmoid_rnn_gradients_match_finite_differences_and_torch():
    torch = pytest.importorskip("torch")
    tg.manual_seed(0)
    rnn = nn.RNN(3, 4, nonlinearity="sigmoid", dtype=np.float64)
    x = np.random.default_rng(0).normal(size=(2, 5, 3))                  # (B, T, D)
    cell = rnn.cells[0]
    assert tg.gradcheck(lambda x: rnn(x)[0], [x])                          # ∂/∂x through every σ'
    rnn.zero_grad()
    outputs, _ = rnn(x)
    (outputs ** 2).sum().backward()
    W, U, b = (torch.tensor(p.data, requires_grad=True) for p in (cell.W, cell.U, cell.b))
    h, E = torch.zeros(2, 4, dtype=torch.float64), 0.0
    for t in range(5):
        h = torch.sigmoid(torch.tensor(x[:, t]) @ W + h @ U + b)         # h_t = σ(x_t W + h_{t-1} U + b)
        E = E + (h ** 2).sum()
    E.backward()
    for ours, theirs in ((cell.W, W), (cell.U, U), (cell.b, b)):
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_sigmoid_slope_is_at_most_a_quarter_so_the_bound_is_quarter_norm_u():
    tg.manual_seed(1)
    cell = nn.RNNCell(4, 6, nonlinearity="sigmoid", dtype=np.float64)
    nn.init.orthogonal_(cell.U)
    nn.init.spectral_radius_(cell.U, 3.5)                 # γ ‖U‖₂ = 0.875 < 1: vanishing guaranteed
    x = np.random.default_rng(1).normal(size=(20, 4))
    Js, hs = analysis.step_jacobians(cell, x)
    for J, h in zip(Js, hs[1:]):
        np.testing.assert_allclose(J, cell.U.data @ np.diag(h * (1 - h)), rtol=1e-10, atol=1e-13)
    norms = analysis.jacobian_norms(Js)[::-1]
    bound = analysis.gradient_bound(cell.U, np.arange(len(norms)), "sigmoid")
    assert np.all(norms <= bound * (1 + 1e-9)) and bound[-1] < 0.1
