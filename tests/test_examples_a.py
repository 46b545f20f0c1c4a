"""The first four teaching examples, in --quick mode: each asserts the claim it teaches."""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")


def run(module, tmp_path):
    import importlib
    return importlib.import_module(f"examples.{module}").main(["--quick", "--out", str(tmp_path)])


def assert_figures(result):
    assert result["figures"]
    for f in result["figures"]:
        assert Path(f).is_file() and Path(f).stat().st_size > 1000, f


def test_bptt_by_hand_agrees_with_autograd_term_by_term(tmp_path):
    r = run("bptt_by_hand", tmp_path)
    assert r["E"] == pytest.approx(r["E_hand"], abs=1e-12)
    for name, diff in r["max_diff"].items():
        assert diff < 1e-10, f"∂E/∂{name}: hand and autograd differ by {diff}"
    for name, diff in r["max_term_diff"].items():       # each term is one edge of the graph
        assert diff < 1e-10, f"a per-step term of ∂E/∂{name} differs from its edge by {diff}"
    assert r["term_norms"][0] == 0.0                     # h_0 = 0: the first use of U gets nothing
    assert all(n > 1e-3 for n in r["term_norms"][1:])
    assert {Path(f).suffix for f in r["figures"]} == {".svg", ".png"}
    assert_figures(r)


def test_vanishing_exploding_norms_sit_under_the_bound_and_order_by_radius(tmp_path):
    r = run("vanishing_exploding", tmp_path)
    res, radii = r["results"], sorted(r["radii"])
    for activation in ("tanh", "linear"):
        for rho in radii:
            m = res[activation][rho]
            assert np.all(m["ratio"] <= m["jacobian"] * (1 + 1e-9))     # ‖P g‖ <= ‖P‖ ‖g‖
            assert np.all(m["jacobian"] <= m["bound"] * (1 + 1e-9))    # ‖P‖ <= (γ‖U‖)^(T-k)
            assert m["spectral_radius"] == pytest.approx(rho)
    # linear RNN: ∂E_T/∂h_k = U^(T-k) ∂E_T/∂h_T exactly, so a larger ρ is larger at every distance
    lin = np.array([res["linear"][rho]["ratio"][1:] for rho in radii])
    assert np.all(np.diff(lin, axis=0) > 0)
    assert lin[radii.index(0.5), -1] < 1e-3 < 1 < lin[radii.index(1.5), -1]
    # docs/examples.md: bounded by ρ^(T-k), parallel to it far back (slope log ρ), offset below it
    for rho in radii:
        m = res["linear"][rho]
        assert m["ratio"][-1] / m["ratio"][-2] == pytest.approx(rho, rel=0.02)
        assert m["ratio"][-1] < 0.9 * m["bound"][-1]
    # tanh: on the vanishing side (ρ <= 1) the far end orders by ρ, and ρ < 1 vanishes
    far = [res["tanh"][rho]["ratio"][-1] for rho in radii if rho <= 1.0]
    assert far == sorted(far) and len(far) == 3
    assert res["tanh"][0.5]["ratio"][-1] < 1e-4 and res["tanh"][0.9]["ratio"][-1] < 0.1
    assert_figures(r)


def test_gradient_clipping_removes_non_finite_steps(tmp_path):
    r = run("gradient_clipping", tmp_path)
    plain, clipped = r["plain"], r["clipped"]
    finite = [l for l in plain["loss"] if np.isfinite(l)]
    assert plain["nonfinite_steps"] > 0 or max(finite) > 100 * r["baseline"]
    assert clipped["nonfinite_steps"] == 0
    assert np.all(np.isfinite(clipped["loss"])) and np.all(np.isfinite(clipped["grad_norm"]))
    assert max(clipped["grad_norm"]) > 1.0                # clipping actually had work to do
    assert np.mean(clipped["loss"][-10:]) < np.mean(clipped["loss"][:10])   # and it learns
    assert_figures(r)


def test_truncated_bptt_error_falls_and_cost_grows_with_chunk_length(tmp_path):
    r = run("truncated_bptt", tmp_path)
    rows = r["rows"]
    assert rows[-1]["k"] == r["T"] and rows[-1]["rel_U"] < 1e-12         # one chunk: full BPTT
    rel = [row["rel_U"] for row in rows]
    assert all(a > b for a, b in zip(rel, rel[1:]))                       # longer chunks, closer
    assert rel[0] > 0.05                                                  # k = 1 loses a lot
    E = [row["E"] for row in rows]
    np.testing.assert_allclose(E, E[-1], rtol=1e-12)                      # the same loss every time
    nodes = [row["nodes"] for row in rows]
    assert all(a < b for a, b in zip(nodes, nodes[1:]))
    assert rows[-1]["peak_bytes"] > 3 * rows[0]["peak_bytes"]
    assert_figures(r)
