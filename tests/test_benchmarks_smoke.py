"""The benchmark harness runs end to end, and what it times computes the right thing.

No timing is asserted (speed goals live in benchmarks/RESULTS.md). The hand-written
numpy BPTT doubles as the oracle: at the benchmark configuration, in float64, the
engine's gradients must equal it to rounding, and so must every other implementation
the harness times.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks import impls

ROOT = Path(__file__).resolve().parents[1]


def one_step(name, model, size, dtype="float64", lr=None):
    module = impls.load(name)
    if isinstance(module, str):
        pytest.skip(module)
    step = module.build(model, impls.Problem(model, size, dtype), lr)
    return step, step()


@pytest.mark.parametrize("size", ["tiny", "medium"])
@pytest.mark.parametrize("model", impls.MODELS)
def test_engine_gradients_equal_the_numpy_oracle(model, size):
    numpy_step, numpy_loss = one_step("numpy_impl", model, size)
    engine_step, engine_loss = one_step("engine", model, size)
    assert engine_loss == pytest.approx(numpy_loss, rel=1e-12)
    expected, got = numpy_step.grads(), engine_step.grads()
    assert set(got) == set(expected)
    for k in expected:
        assert got[k].dtype == np.float64, k
        np.testing.assert_allclose(got[k], expected[k], rtol=1e-9, atol=1e-13, err_msg=k)


@pytest.mark.parametrize("model", impls.MODELS)
def test_engine_sgd_step_follows_the_oracle(model):
    """Two training steps with SGD: the second loss is computed from updated weights."""
    numpy_step, _ = one_step("numpy_impl", model, "tiny", lr=impls.LR)
    engine_step, _ = one_step("engine", model, "tiny", lr=impls.LR)
    assert engine_step() == pytest.approx(numpy_step(), rel=1e-12)


@pytest.mark.parametrize("name", [m for m in impls.MODULES if m not in ("numpy_impl", "engine")])
@pytest.mark.parametrize("model", impls.MODELS)
def test_every_compared_implementation_matches_the_oracle(name, model):
    numpy_step, numpy_loss = one_step("numpy_impl", model, "toy")
    other_step, other_loss = one_step(name, model, "toy")
    assert other_loss == pytest.approx(numpy_loss, rel=1e-10)
    for k, g in numpy_step.grads().items():
        np.testing.assert_allclose(np.asarray(other_step.grads()[k]), g, rtol=1e-8, atol=1e-12, err_msg=k)


def test_a_missing_package_is_skipped_with_a_reason(monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "mygrad" else real(n, *a))
    reason = impls.load("mygrad_impl")
    assert isinstance(reason, str) and "mygrad is not installed" in reason


def test_quick_run_writes_results(tmp_path):
    done = subprocess.run([sys.executable, "-m", "benchmarks.run", "--quick", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    text = (tmp_path / "RESULTS.md").read_text()
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    for model in impls.MODELS:
        timed = {r["impl"]: r for r in rows if r["model"] == model and r["size"] == "tiny"}
        assert {"numpy_impl", "engine", "engine_noedges"} <= set(timed)
        for r in timed.values():
            assert r["check"] == "ok", r
            assert r["ms"] > 0
    assert "## Targets (issue 6)" in text and "## Peak memory" in text and "## Long unroll" in text
    assert "| tiny | rnn |" in text and "| tiny | lstm |" in text
    for name in impls.MODULES:
        reason = impls.load(name)
        if isinstance(reason, str):
            assert reason in text  # a skipped implementation says so
    pytest.importorskip("matplotlib")
    assert (tmp_path / "results.png").stat().st_size > 0
