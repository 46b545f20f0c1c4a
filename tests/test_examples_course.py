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
