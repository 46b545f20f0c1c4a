"""Numbers the course pages and example docstrings quote, measured again so they cannot drift.

Each test names the sentence it guards. Claims that a docs snippet already prints
(docs/conventions.md, docs/vanishing.md) are checked by tests/test_docs.py instead.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import analysis, nn

ROOT = Path(__file__).resolve().parent.parent


def render_norms(radius: float, tmp_path) -> np.ndarray:
    """‖∂E/∂h_t‖, t = 1..6, as `tinygrad-rnn render --spectral-radius R` prints them."""
    out = subprocess.run([sys.executable, "-m", "tinygrad_rnn", "render", "--spectral-radius", str(radius),
                          "-o", str(tmp_path / "g.dot")], capture_output=True, text=True, check=True,
                         encoding="utf-8", cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(ROOT))).stdout
    return np.array([float(v) for v in re.findall(r"t =\s+\d+\s+([0-9.e+-]+)", out)])


def test_rendering_md_radius_4_grows_toward_the_past_and_1_5_does_not(tmp_path):
    # docs/rendering.md: `render --spectral-radius 4`: ‖∂E/∂h_t‖ 0.58 at t = 6 → 4.7 at t = 1
    grows = render_norms(4, tmp_path)
    assert len(grows) == 6
    np.testing.assert_allclose([grows[-1], grows[0]], [0.58, 4.7], rtol=0.02)
    vanishes = render_norms(1.5, tmp_path)          # the radius the page used to quote
    assert vanishes[0] < 0.5 * vanishes[-1]


def test_lstm_md_the_rnn_slopes_change_every_step():
    # docs/lstm.md: the RNN's Jacobian is the same U at every step times slopes that change.
    tg.manual_seed(0)
    cell = nn.RNNCell(3, 8, dtype=np.float64)
    x = np.random.default_rng(0).normal(size=(10, 3))
    Js, hs = analysis.step_jacobians(cell, x)
    slopes = 1 - hs[1:] ** 2                                   # (T, H)
    for J, s in zip(Js, slopes):
        np.testing.assert_allclose(J, cell.U.data @ np.diag(s), rtol=1e-10, atol=1e-12)
    assert np.ptp(slopes, axis=0).max() > 0.1                  # not "the same at every step"
    assert slopes.max() <= 1.0


def test_rho_below_one_does_not_bound_a_non_normal_product():
    # docs/vanishing.md, nn/init.py, analysis.py: U = [[0.9, 5], [0, 0.9]], ρ = 0.9, ‖U¹⁰‖₂ = 19.4
    U = np.array([[0.9, 5.0], [0.0, 0.9]])
    assert analysis.spectral_radius(U) == pytest.approx(0.9, rel=1e-12)
    assert np.linalg.norm(np.linalg.matrix_power(U, 10), 2) == pytest.approx(19.38, rel=1e-3)
    # ... and for a normal U the two agree, so the bound is ρ^n
    Q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(5, 5)))
    assert analysis.spectral_norm(0.9 * Q) == pytest.approx(analysis.spectral_radius(0.9 * Q), rel=1e-10)


def test_vanishing_md_a_relu_rnn_with_rho_095_grows_6e5_over_60_steps():
    # docs/vanishing.md, "ReLU: the activity pattern picks a different matrix at every step"
    U = np.array([[-2.5, 2.5], [-1.5, 2.5]])
    U *= 0.95 / analysis.spectral_radius(U)
    np.testing.assert_allclose(sorted(analysis.eigenvalues(U).real), [-0.95, 0.95], rtol=1e-12)
    np.testing.assert_allclose(U @ U, 0.9025 * np.eye(2), atol=1e-12)        # trace 0: U² = -det I
    cell = nn.RNNCell(1, 2, nonlinearity="relu", dtype=np.float64)
    cell.U.data[...], cell.b.data[...] = U, [1.0, -1.0]
    Js, hs = analysis.step_jacobians(cell, np.zeros((60, 1)))
    norms = analysis.jacobian_norms(Js)                                      # index k: ‖∂h_60/∂h_k‖
    assert norms[0] == pytest.approx(6.13e5, rel=1e-3)
    assert np.all(np.diff(norms[::-1][::10]) > 0)                            # it keeps growing
    assert 0 <= hs.min() and hs.max() <= 1.0 + 1e-12                         # the forward stays in [0, 1]
    active = hs[1:] > 0
    assert np.all(active.sum(axis=1) == 1)                                   # one unit at a time
    # the product telescopes into entries of U along the active units j_1 .. j_60
    j = np.argmax(active, axis=1)
    entries = np.abs(U[j[:-1], j[1:]])
    np.testing.assert_allclose(norms[0], np.linalg.norm(U[:, j[0]]) * np.prod(entries), rtol=1e-9)
    # the masked matrix has the eigenvalue the full U hides, and the linear RNN shrinks
    assert analysis.spectral_radius(U @ np.diag([1.0, 0.0])) == pytest.approx(1.502, rel=1e-3)
    assert np.linalg.norm(np.linalg.matrix_power(U, 60), 2) == pytest.approx(0.95 ** 60, rel=1e-9)
    assert norms[0] <= analysis.spectral_norm(U) ** 60                       # the norm bound holds
