"""GradientMonitor: ‖g‖ and per-parameter norms after backward(), history, and reports."""

import math
import warnings

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor, nn


def param(name, grad):
    p = Tensor(np.zeros(np.shape(grad)), requires_grad=True, name=name)
    p.grad = np.asarray(grad, dtype=np.float64)
    return p


def small_rnn_with_grads(seed=0, T=5):
    tg.manual_seed(seed)
    rnn = nn.RNN(3, 4, dtype=np.float64)
    outputs, _ = rnn(np.random.default_rng(seed).normal(size=(2, T, 3)))
    (outputs * outputs).mean().backward()
    return rnn


def test_norms_are_numpy_norms_and_the_total_is_clip_grad_norms():
    rnn = small_rnn_with_grads()
    report = tg.GradientMonitor(rnn).check()
    assert list(report.norms) == ["cells.0.W", "cells.0.U", "cells.0.b"]
    for name, p in rnn.named_parameters():
        assert report.norms[name] == pytest.approx(np.linalg.norm(p.grad), rel=1e-12)
    assert report.total == pytest.approx(nn.clip_grad_norm_(rnn, 1e9), rel=1e-12)
    assert report.step == 1 and not report.exploded and report.culprits == () and report.message == ""


def test_history_totals_and_steps():
    rnn = small_rnn_with_grads()
    monitor = tg.GradientMonitor(rnn)
    first = monitor.check()
    for p in rnn.parameters():
        p.grad = 2 * p.grad
    second = monitor.check()
    assert [r.step for r in monitor.history] == [1, 2]
    np.testing.assert_allclose(monitor.totals, [first.total, 2 * first.total], rtol=1e-12)
    assert second.total == pytest.approx(2 * first.total) and monitor.explosions == []
    monitor.reset()
    assert monitor.history == [] and monitor.totals.shape == (0,)


def test_names_from_a_dict_pairs_and_plain_tensors():
    U, W = param("U", [3.0, 4.0]), param("W", [1.0])
    assert list(tg.GradientMonitor({"rec": U, "in": W}).check().norms) == ["rec", "in"]
    assert list(tg.GradientMonitor([("a", U), ("b", W)]).check().norms) == ["a", "b"]
    assert tg.GradientMonitor(U).check().norms == {"U": 5.0}
    twice = tg.GradientMonitor([param("W", [1.0]), param("W", [2.0]), U]).check()
    assert list(twice.norms) == ["0:W", "1:W", "U"]          # two cells' "W" told apart


def test_parameters_without_a_grad_are_skipped():
    unused = Tensor(np.ones(2), requires_grad=True, name="unused")
    report = tg.GradientMonitor([param("U", [3.0, 4.0]), unused]).check()
    assert report.norms == {"U": 5.0} and report.total == 5.0


def test_over_the_threshold_warns_by_default_naming_the_largest_parameters():
    params = [param("U", [100.0]), param("W", [1.0]), param("b", [0.1])]
    monitor = tg.GradientMonitor(params, threshold=10.0)
    with pytest.warns(tg.GradientExplosionWarning, match=r"step 1: ‖g‖ = 100 exceeds the threshold 10 "
                                                         r"\(largest: 'U' 100\)"):
        report = monitor.check()
    assert report.exploded and report.culprits == ("U",)
    assert monitor.explosions == [report]


def test_culprits_carry_90_percent_of_the_squared_norm():
    params = [param("a", [6.0]), param("b", [5.0]), param("c", [4.0]), param("d", [0.5])]
    report = tg.GradientMonitor(params, threshold=1.0, on_explode="ignore").check()
    # shares of ‖g‖² = 77.25: a 47%, a+b 79%, a+b+c 99.7%
    assert report.culprits == ("a", "b", "c")


def test_raise_and_callable_and_ignore():
    big = [param("U", [1e6])]
    with pytest.raises(tg.GradientExplosionError, match="clip_grad_norm_"):
        tg.GradientMonitor(big, threshold=1.0, on_explode="raise").check()
    seen = []
    tg.GradientMonitor(big, threshold=1.0, on_explode=seen.append).check()
    assert len(seen) == 1 and seen[0].culprits == ("U",) and seen[0].total == 1e6
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tg.GradientMonitor(big, threshold=1.0, on_explode="ignore").check().exploded


def test_non_finite_gradients_are_always_reported_naming_only_the_bad_parameters():
    params = [param("U", [np.nan, 1.0, np.inf]), param("W", [1.0]), param("b", [np.inf])]
    with pytest.raises(tg.GradientExplosionError) as info:
        tg.GradientMonitor(params, on_explode="raise").check()      # no threshold: Inf/NaN only
    message = str(info.value)
    assert "‖g‖ is nan" in message and "'U' (3,) (1 NaN, 1 Inf)" in message
    assert "'b' (1,) (0 NaN, 1 Inf)" in message
    assert "'W'" not in message and "tg.detect_anomaly()" in message
    report = tg.GradientMonitor(params, on_explode="ignore").check()
    assert report.culprits == ("U", "b") and math.isnan(report.total) and math.isnan(report.norms["U"])


def test_huge_finite_gradients_do_not_overflow_the_norm():
    report = tg.GradientMonitor([param("U", [1e200, 1e200])], threshold=1e300, on_explode="raise").check()
    assert report.total == pytest.approx(math.sqrt(2) * 1e200) and not report.exploded
    with pytest.warns(tg.GradientExplosionWarning, match="‖g‖ is inf"):
        tg.GradientMonitor([param("U", [np.inf])]).check()


def test_argument_errors():
    p = param("U", [1.0])
    with pytest.raises(ValueError, match="threshold must be > 0"):
        tg.GradientMonitor(p, threshold=0)
    with pytest.raises(ValueError, match="threshold must be > 0"):
        tg.GradientMonitor(p, threshold=float("nan"))
    with pytest.raises(ValueError, match="got no parameters"):
        tg.GradientMonitor([])
    with pytest.raises(RuntimeError, match="after loss.backward"):
        tg.GradientMonitor(Tensor(np.ones(1), requires_grad=True)).check()


def test_detects_explosion_in_a_training_loop_and_clipping_after_it_does_not_hide_it():
    """ρ(U) = 3 explodes, ρ(U) = 0.5 does not; the monitor sees the raw ‖g‖ before clipping."""
    totals = {}
    for rho in (0.5, 3.0):
        tg.manual_seed(0)
        rnn = nn.RNN(3, 4, nonlinearity="relu", dtype=np.float64)
        nn.init.spectral_radius_(rnn.cells[0].U, rho)
        opt = tg.optim.SGD(rnn, lr=1e-6)
        monitor = tg.GradientMonitor(rnn, threshold=1e3, on_explode="ignore")
        for _ in range(3):
            opt.zero_grad()
            outputs, _ = rnn(np.ones((2, 15, 3)))
            (outputs * outputs).mean().backward()
            monitor.check()
            assert nn.clip_grad_norm_(rnn, 1.0) == pytest.approx(monitor.history[-1].total)
            opt.step()
        totals[rho] = monitor.totals
        assert len(monitor.explosions) == (3 if rho > 1 else 0)
    assert totals[3.0].min() > 1e3 * totals[0.5].max()
