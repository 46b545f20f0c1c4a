"""The fast paths of the layer code give what the general code gives: the targets' one-comparison
range check refuses what the full test refused, the ignored rows are still found, and the states
of a pass stay readable (and weak) with their scopes."""

import gc

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn.nn import functional as F


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.int8])
def test_targets_range_check_fast_path(dtype):
    logits = tg.Tensor(np.zeros((2, 3, 5)))
    ok = np.array([[0, 4, 2], [1, 3, 0]], dtype)
    t, every_row = F._targets(ok, logits, "cross_entropy", -100)
    assert every_row and t.dtype == dtype
    if np.dtype(dtype).kind == "i":
        with pytest.raises(ValueError, match=r"targets \[-1\] at positions \[\(1, 2\)\]"):
            F.cross_entropy(logits, np.array([[0, 4, 2], [1, 3, -1]], dtype))
    with pytest.raises(ValueError, match=r"targets \[5\] at positions \[\(0, 1\)\]"):
        F.cross_entropy(logits, np.array([[0, 5, 2], [1, 3, 0]], dtype))


def test_ignored_rows_still_found():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(4, 3))
    for ignore, t in ((-100, [0, -100, 2, 1]), (1, [0, 1, 2, 1]), (7, [0, 1, 2, 1])):
        _, every_row = F._targets(np.array(t), tg.Tensor(z), "cross_entropy", ignore)
        assert every_row == (ignore not in t)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        kept = [i for i, k in enumerate(t) if k != ignore]
        want = -np.mean([logp[i, t[i]] for i in kept])
        np.testing.assert_allclose(F.cross_entropy(tg.Tensor(z), np.array(t), ignore_index=ignore).item(),
                                   want, rtol=1e-12)


@pytest.mark.parametrize("layer", [tg.nn.RNN, tg.nn.LSTM, tg.nn.GRU])
def test_states_after_a_pass_and_parameters(layer):
    rnn = layer(3, 4, dtype=np.float64)
    x = np.random.default_rng(2).normal(size=(2, 5, 3))
    outputs, final = rnn(x)
    names = [n for n, _ in rnn.named_parameters()]
    assert len(rnn.parameters()) == len(names) and not any("refs" in n for n in names)
    outputs.sum().backward()
    assert [s.scope for s in rnn.states] == [f"rnn/t={t}" if layer is tg.nn.RNN else
                                             f"{layer.__name__.lower()}/t={t}" for t in range(1, 6)]
    for t, h in enumerate(rnn.states):
        np.testing.assert_allclose(h.data, outputs.data[:, t], rtol=0, atol=0)
        assert h.grad.shape == (2, 4)
    del outputs, final, h
    gc.collect()
    with pytest.raises(RuntimeError, match="freed"):
        _ = rnn.states


def test_scopes_follow_the_callers_scope_and_the_name():
    rnn = tg.nn.RNN(2, 3, dtype=np.float64)
    x = np.ones((1, 3, 2))
    with tg.scope("epoch=1"):
        out, _ = rnn(x)
        assert [h.scope for h in rnn.states] == [f"epoch=1/rnn/t={t}" for t in (1, 2, 3)]
    rnn.name = "enc"
    out, _ = rnn(np.ones((1, 4, 2)))
    assert [h.scope for h in rnn.states] == [f"enc/t={t}" for t in (1, 2, 3, 4)]
    out, _ = rnn(np.ones((1, 2, 2)))
    assert [h.scope for h in rnn.states] == ["enc/t=1", "enc/t=2"]
