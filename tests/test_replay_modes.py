"""benchmarks/replay_modes.py: the per-process numbers it collects and how it classifies them.
No timing is asserted: the rows below are made up, and the child's are only checked for form."""

from benchmarks import replay_modes


def row(numpy, replay, buffers=None):
    return {"numpy": numpy, "replay": replay, "ratio": replay / numpy,
            "buffers": buffers or {"bufS0": 16}, "params": [0, 16]}


def test_a_slow_replay_is_told_apart_from_a_slow_machine():
    rows = [row(0.25, 0.30)] * 4 + [row(0.25, 0.50), row(0.45, 0.55, {"bufS0": 32})]
    text = replay_modes.summary(rows)
    assert "6 processes" in text
    assert "2 with a slow replay" in text and "1 of them with a slow numpy step too" in text
    assert "2 distinct layout(s)" in text


def test_a_child_reports_both_steps_and_where_the_buffers_lie():
    out = replay_modes.child("rnn", "toy", "float64", steps=2, rounds=1)
    assert out["numpy"] > 0 and out["replay"] > 0 and out["ratio"] > 0
    assert out["buffers"] and all(0 <= v < 4096 for v in out["buffers"].values())
    assert len(out["params"]) == 5            # W, U, b and the readout's weight and bias
