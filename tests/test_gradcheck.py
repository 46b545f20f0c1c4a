"""gradcheck itself: True on right gradients, and a precise report on a wrong one.

The wrong one is a tanh whose VJP forgets to square (g (1 - y) instead of
g (1 - y²)), used only at time step 3 of a 5-step RNN. The report must point at
the input, an index, both values, the edge into step 3, and the bad op by name.
"""

import re
from ast import literal_eval

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor
from tinygrad_rnn.ops import Op
from tinygrad_rnn.tensor import apply

badtanh = Op("badtanh", np.tanh, (lambda g, y, x: g * (1 - y),))   # should be g * (1 - y * y)
B, T, D, H = 2, 5, 3, 4
RNG = np.random.default_rng(0)
X = RNG.normal(size=(B, T, D))
PARAMS = {"W": RNG.normal(0, 0.6, (D, H)), "U": RNG.normal(0, 0.6, (H, H)), "b": RNG.normal(0, 0.2, H)}


def rnn(bad_step=None):
    """fn(W, U, b) -> E = Σ h_T: h_t = tanh(x_t W + h_{t-1} U + b), step t in scope rnn/t={t}."""
    def fn(W, U, b):
        h = Tensor(np.zeros((B, H)))
        for t in range(1, T + 1):
            with tg.scope(f"rnn/t={t}"):
                a = X[:, t - 1] @ W + h @ U + b                     # (B, H)
                h = apply(badtanh, a) if t == bad_step else a.tanh()
        return h.sum()
    return fn


def named_params():
    return [Tensor(v, requires_grad=True, name=k) for k, v in PARAMS.items()]


# ---- right gradients ------------------------------------------------------------------
def test_true_on_correct_functions():
    x, y = RNG.normal(size=(3, 4)), RNG.normal(size=(4, 2))
    assert tg.gradcheck(lambda a, b: (a @ b).tanh().sum(), [x, y]) is True
    assert tg.gradcheck(lambda a: (a * a).sum(), [x]) is True
    assert tg.gradcheck(rnn(), named_params()) is True


def test_non_scalar_outputs():
    x = RNG.normal(size=(3, 4))
    assert tg.gradcheck(lambda a: a.tanh(), [x]) is True
    assert tg.gradcheck(lambda a: a.softmax(axis=0) * 3, [x]) is True
    with pytest.raises(tg.GradcheckError, match="badtanh"):
        tg.gradcheck(lambda a: apply(badtanh, a), [x])


def test_only_inputs_that_require_grad_are_checked():
    x = RNG.normal(size=(3,))
    const = Tensor(RNG.normal(size=(3,)))
    assert tg.gradcheck(lambda a, c: (a * c).sum(), [x, const]) is True
    with pytest.raises(ValueError, match="no input requires grad"):
        tg.gradcheck(lambda c: c.sum(), [const])


def test_inputs_are_left_untouched_and_float32_is_checked_in_float64():
    x = RNG.normal(size=(2, 3)).astype(np.float32)
    before = x.copy()
    assert tg.gradcheck(lambda a: (a * a).exp().sum(), [x]) is True
    np.testing.assert_array_equal(x, before)


# ---- a wrong VJP at one time step --------------------------------------------------------------
@pytest.fixture(scope="module")
def report():
    with pytest.raises(tg.GradcheckError) as info:
        tg.gradcheck(rnn(bad_step=3), named_params())
    return str(info.value)


def test_report_names_the_input_an_index_and_both_values(report):
    first = report.splitlines()[0]
    m = re.match(r"gradcheck failed: input (\d) '(\w)' (\(.*\)) at index (\(.*\)): "
                 r"analytic (\S+) vs numeric (\S+)$", first)
    assert m, first
    k, name, shape, index = int(m[1]), m[2], literal_eval(m[3]), literal_eval(m[4])
    analytic, numeric = float(m[5]), float(m[6])
    assert name == list(PARAMS)[k] and shape == PARAMS[name].shape and len(index) == len(shape)

    # the analytic value is what the broken backward gives, the numeric one the true gradient
    broken, right = named_params(), named_params()
    rnn(bad_step=3)(*broken).backward()
    rnn()(*right).backward()
    np.testing.assert_allclose(analytic, broken[k].grad[index], rtol=1e-5)
    np.testing.assert_allclose(numeric, right[k].grad[index], rtol=1e-5, atol=1e-8)
    assert abs(analytic - numeric) > 1e-3


def test_report_flags_the_edge_into_step_3(report):
    worst = re.search(r"input \d '(\w)'", report)[1]
    edges = {int(m[1]): m[0] for m in re.finditer(rf"edge '{worst}' -> \w+ in scope 'rnn/t=(\d)'.*", report)}
    assert sorted(edges) == [1, 2, 3, 4, 5], report               # one edge per time step
    assert "<-- disagrees" in edges[3]
    assert "<-- disagrees" not in edges[4] and "<-- disagrees" not in edges[5]   # after the bad step


def test_report_names_the_first_bad_vjp(report):
    line = next(line for line in report.splitlines() if line.startswith("first op whose VJP disagrees"))
    assert "badtanh in scope 'rnn/t=3'" in line, line
