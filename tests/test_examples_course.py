"""The course examples added for the notes' missing topics, in --quick mode: each asserts its claim."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
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


def test_gru_with_its_update_gate_open_keeps_the_gradient_and_its_jacobian_is_diag_z(tmp_path):
    # docs/gru.md: the figure's numbers (T = 30 here, 60 on the page)
    r = run("gru_vs_rnn", tmp_path)
    reach = r["reach"]
    assert reach["tanh RNN"] < 1e-5 and reach["GRU"] < 1e-5 < 0.1 < reach["GRU, b_hz = 4"]
    assert 0.9 < r["step_median"]["tanh RNN"] < 1.1      # a norm of ~1 every step, yet it vanishes
    lo, hi = r["z_max"]["GRU"]
    assert 0.5 < lo < hi < 0.8
    assert r["z_max"]["GRU, b_hz = 4"][0] > 0.98
    assert r["rest_median"]["GRU, b_hz = 4"] < 0.02 < 0.2 < r["rest_median"]["GRU"]
    assert (tmp_path / "gru_vs_rnn.png").stat().st_size > 10_000


def test_eigen_alignment_the_gradient_is_the_expansion_and_turns_to_q1(tmp_path):
    # docs/vanishing.md, "The eigenvector expansion": the same U and seed as the page's snippet
    r = run("eigen_alignment", tmp_path)
    assert r["expansion_matches"] and r["tan_bound_holds"]
    np.testing.assert_allclose(abs(r["lam"][0]), 0.9, rtol=1e-12)
    np.testing.assert_allclose(abs(r["lam"][1]) / 0.9, 0.906, rtol=1e-3)
    np.testing.assert_allclose(r["cos"][[0, 5, 10]], [0.448, 0.982, 0.998], atol=1e-3)
    assert r["cos"][20] > 0.9995
    np.testing.assert_allclose(r["norms"][39], abs(r["c"][0]) * 0.9 ** 39, rtol=1e-3)
    assert (tmp_path / "eigen_alignment.png").stat().st_size > 10_000


def test_sum_vs_mean_the_sums_gradient_grows_with_T_and_gets_clipped(tmp_path):
    # docs/bptt.md, "Sum or mean over time" (T up to 50 here, 400 on the page)
    r = run("sum_vs_mean", tmp_path)
    B = 4
    np.testing.assert_allclose(r["ratio"], [B * T for T in r["T"]], rtol=1e-9)   # ‖∂E‖ = B·T ‖∂J‖
    assert np.all(np.diff(r["sum"]) > 0) and np.all(np.diff(r["mean"]) < 0)
    assert 0.5 < r["sum_slope"] < 1.0                                # between √T and T
    assert r["kept_sum"][0] == 1.0 and r["kept_sum"][-1] < 0.5 and min(r["kept_mean"]) == 1.0
    assert (tmp_path / "sum_vs_mean.png").stat().st_size > 10_000


def test_relu_counterexample_grows_6e5_with_rho_095_and_a_bounded_state(tmp_path):
    # docs/vanishing.md, "ReLU: the activity pattern picks a different matrix at every step" (the same run)
    r = run("relu_counterexample", tmp_path)
    t = r["t"]
    np.testing.assert_allclose([r["rho"], r["norm"]], [0.95, 2.73], atol=0.005)
    np.testing.assert_allclose(r["relu"][60], 6.13e5, rtol=1e-3)                  # the page's T - k = 60
    assert np.all(r["relu"][10::10] > r["relu"][:-10:10])                        # grows every 10 steps
    assert np.all(r["relu"] <= r["norm"] ** t * (1 + 1e-9))                      # under ‖U‖₂^t
    even = t % 2 == 0                                                            # U² = 0.9025 I
    np.testing.assert_allclose(r["linear"][even], 0.95 ** t[even], rtol=1e-9)
    np.testing.assert_allclose(r["linear"][~even], 0.95 ** (t[~even] - 1) * r["norm"], rtol=1e-9)
    hs = r["states"]
    assert 0 <= hs.min() and hs.max() <= 1 + 1e-12 and np.all((hs[1:] > 0).sum(axis=1) == 1)
    assert (tmp_path / "relu_counterexample.png").stat().st_size > 10_000


def test_examples_md_has_an_entry_for_every_example():
    """Each script with a `Run:  python examples/NAME.py` line gets a section, a timing row and its source."""
    root = Path(__file__).resolve().parent.parent
    page = (root / "docs" / "examples.md").read_text(encoding="utf-8")
    names = sorted(f.stem for f in (root / "examples").glob("*.py")
                   if f"python examples/{f.stem}.py" in f.read_text(encoding="utf-8"))
    assert {"gru_vs_rnn", "eigen_alignment", "sum_vs_mean", "char_rnn"} <= set(names)
    for name in names:
        assert f"{{#{name}}}" in page, f"docs/examples.md has no section {{#{name}}}"
        assert f"| [{name}](#{name}) " in page, f"docs/examples.md: no timing row for {name}"
        assert f'--8<-- "examples/{name}.py"' in page, f"docs/examples.md does not include examples/{name}.py"


def test_the_numbers_gru_md_and_bptt_md_quote_from_the_full_runs(tmp_path):
    # quoted on docs/examples.md too
    from examples import gru_vs_rnn, sum_vs_mean
    r = gru_vs_rnn.main(["--out", str(tmp_path)])                     # T = 60, as on the page
    reach = [r["reach"][k] for k in gru_vs_rnn.MODELS]
    np.testing.assert_allclose(reach, [1.3e-12, 4.9e-14, 0.35], rtol=0.05)
    np.testing.assert_allclose(r["step_median"]["tanh RNN"], 0.98, atol=0.005)
    np.testing.assert_allclose(r["z_max"]["GRU"], (0.57, 0.77), atol=0.005)
    np.testing.assert_allclose([r["rest_median"]["GRU"], r["rest_median"]["GRU, b_hz = 4"]], [0.26, 0.013],
                               rtol=0.05)
    ends = {T: np.mean([sum_vs_mean.grad_norms(T, s) for s in range(5)], axis=0) for T in (5, 400)}
    np.testing.assert_allclose([ends[5][0], ends[400][0]], [7.1, 128], rtol=0.01)    # ‖∂E/∂θ‖
    np.testing.assert_allclose([ends[5][1], ends[400][1]], [0.36, 0.08], rtol=0.02)  # ‖∂J/∂θ‖
    assert sum_vs_mean.TAU / ends[400][0] == pytest.approx(0.08, abs=0.005)         # "keeps only 8%"
