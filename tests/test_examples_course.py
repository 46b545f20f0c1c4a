"""The course examples added for the notes' missing topics, in --quick mode: each asserts its claim."""

from __future__ import annotations

import importlib

import pytest

pytest.importorskip("matplotlib")


def run(module, tmp_path):
    return importlib.import_module(f"examples.{module}").main(["--quick", "--out", str(tmp_path)])


def test_sigmoid_vanishes_below_quarter_bound_where_tanh_explodes(tmp_path):
    r = run("sigmoid_slopes", tmp_path)
    assert r["gamma"] == {"tanh": 1.0, "sigmoid": 0.25}
    assert r["bound_holds"]
    far = r["far"]
    assert far["sigmoid"][2.0] < 1e-5 < 1e2 < far["tanh"][2.0]        # ‖U‖₂ = 2: γ‖U‖₂ = 1/2 against 2
    assert max(far["sigmoid"].values()) < 1e-2                           # every ‖U‖₂ up to 6 vanishes
    assert (tmp_path / "sigmoid_slopes.png").stat().st_size > 10_000


def test_the_monitor_flags_the_tanh_plateau_that_gradient_norms_do_not(tmp_path):
    r = run("vanishing_monitor", tmp_path)
    assert abs(r["tanh_loss_tail"] - r["baseline"]) < 0.05             # the plateau at 1/6 ...
    assert r["tanh_exploded_steps"] == 0 and r["tanh_grad_norm_max"] < 100   # ... with an ordinary ‖g‖
    assert r["tanh_reach_median"] < 1e-5 and r["tanh_vanished_steps"] > 0.9 * r["steps"]
    assert r["irnn_reach_median"] > 0.05 and r["irnn_vanished_steps"] == 0
    assert "a flat loss here is not convergence" in r["warning"]
    assert (tmp_path / "vanishing_monitor.png").stat().st_size > 10_000


def test_pascanu_omega_keeps_the_gradient_reaching_the_start(tmp_path):
    r = run("pascanu_penalty", tmp_path)
    assert r["plain_reach_median"] < 1e-5                              # E alone: vanished
    assert r["penalised_reach_median"] > 1e-2                          # E + λΩ: alive
    assert r["omega_last"] < 0.2 * r["omega_first"]                    # Ω itself was minimised
    assert (tmp_path / "pascanu_penalty.png").stat().st_size > 10_000
