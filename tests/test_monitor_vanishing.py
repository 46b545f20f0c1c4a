"""StateGradientMonitor: per-step ‖∂E/∂h_t‖ and the warning when h_1 receives nothing."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import analysis, nn


def run(rho: float, nonlinearity="tanh", T=30):
    tg.manual_seed(0)
    rnn = nn.RNN(2, 8, nonlinearity=nonlinearity, dtype=np.float64)
    nn.init.orthogonal_(rnn.cells[0].U)
    nn.init.spectral_radius_(rnn.cells[0].U, rho)
    x = np.random.default_rng(0).normal(size=(4, T, 2))
    outputs, h_T = rnn(x)
    loss = (h_T ** 2).sum()                         # a loss at the last step only
    loss.backward()
    return rnn, loss


def test_reach_is_the_ratio_of_the_state_gradients_and_warns_below_the_threshold():
    rnn, loss = run(0.5)
    norms = analysis.state_grad_norms(rnn)
    with pytest.warns(tg.VanishingGradientWarning, match=r"step 1: ‖∂E/∂h_1‖ / ‖∂E/∂h_T‖ = .* over T = 30"):
        r = tg.StateGradientMonitor(rnn).check()
    np.testing.assert_allclose(r.norms, norms, rtol=1e-12)
    assert r.reach == pytest.approx(norms[0] / norms[-1], rel=1e-12) and r.reach < 1e-6
    assert r.vanished


def test_no_warning_when_the_gradient_reaches_the_start():
    rnn, loss = run(1.0, nonlinearity="relu")
    nn.init.eye_(rnn.cells[0].U)
    outputs, h_T = rnn(np.abs(np.random.default_rng(1).normal(size=(4, 30, 2))))
    rnn.zero_grad()
    loss = (h_T ** 2).sum()
    loss.backward()
    monitor = tg.StateGradientMonitor(rnn, min_reach=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = monitor.check()
    assert not r.vanished and r.reach > 0.1
    np.testing.assert_allclose(monitor.reaches, [r.reach])


def test_raise_callback_and_a_states_function():
    rnn, loss = run(0.5)
    with pytest.raises(RuntimeError, match="a flat loss here is not convergence"):
        tg.StateGradientMonitor(rnn, on_vanish="raise").check()
    seen = []
    tg.StateGradientMonitor(lambda: rnn.states, on_vanish=seen.append).check()
    assert len(seen) == 1 and seen[0].vanished
    with pytest.raises(ValueError, match="on_vanish must be one of"):
        tg.StateGradientMonitor(rnn, on_vanish="stop")
    with pytest.raises(ValueError, match="min_reach must be > 0"):
        tg.StateGradientMonitor(rnn, min_reach=0)
