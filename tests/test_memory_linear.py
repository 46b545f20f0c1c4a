"""Linear under record_edge_grads(False): x W's values (read by no rule) are freed; the output stays."""
import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import memory
from tinygrad_rnn.errors import ValuesFreedError
from tinygrad_rnn.memory import is_freed


@pytest.fixture(autouse=True)
def _every_size(monkeypatch):
    """A small Linear: free its x W as an output of 64 KiB or more would be."""
    monkeypatch.setattr(memory, "FREED_PASS_BYTES", 0)


def _run(record):
    rng = np.random.default_rng(0)
    lin = tg.nn.Linear(4, 3, dtype="float64")
    lin.weight.data = rng.standard_normal((4, 3))
    lin.bias.data = rng.standard_normal(3)
    x = tg.Tensor(rng.standard_normal((2, 5, 4)), requires_grad=True)
    with tg.record_edge_grads(record):
        out = lin(x)
        before = out.data.copy()
        (out * out).sum().backward()
    return lin, x, out, before


def test_linear_frees_xw_keeps_output_and_same_grads():
    lin, x, out, before = _run(False)
    xw = out._parents[0]
    assert is_freed(xw) and not is_freed(out)
    np.testing.assert_array_equal(out.data, before)      # the user's logits stay readable
    with pytest.raises(ValuesFreedError):
        _ = xw.data
    lin_on, x_on, out_on, _ = _run(True)
    assert not is_freed(out_on._parents[0])               # recording on: nothing freed
    pairs = ((x.grad, x_on.grad), (lin.weight.grad, lin_on.weight.grad), (lin.bias.grad, lin_on.bias.grad))
    for a, b in pairs:                                    # the same gradients (a stated tolerance)
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=0)


def test_an_output_below_64_kib_keeps_xw(monkeypatch):
    monkeypatch.setattr(memory, "FREED_PASS_BYTES", 2**16)
    lin = tg.nn.Linear(4, 8, dtype="float64")
    for rows, freed in ((2**16 // 64 - 1, False), (2**16 // 64, True)):   # rows of 8 float64 = 64 B
        with tg.record_edge_grads(False):
            out = lin(tg.Tensor(np.ones((rows, 4)), requires_grad=True))
        assert is_freed(out._parents[0]) is freed, rows
