"""What a Tensor costs to keep: one slot per field every tensor sets, rare fields elsewhere.

A long unroll keeps T steps of tensors, so each slot is 8 bytes of every one of them:
a lifted constant and a detached tensor are subclasses that say what they are, a root's
visit order lives in a side table, and the values freed under record_edge_grads(False)
share one placeholder per shape and dtype. These tests pin that down, and that `apply`'s
shortcuts (one input, two inputs, params) make the same tensors as before.
"""

import gc
import weakref

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor, memory, nn, ops
from tinygrad_rnn.autograd import visit_order
from tinygrad_rnn.tensor import Constant, Detached, apply


def test_a_tensor_has_a_slot_only_for_the_fields_every_tensor_sets():
    assert len(Tensor.__slots__) == 17                 # 16 fields and the weak-reference slot
    for rare in ("_constant", "_detached_from", "_visits"):
        assert rare not in Tensor.__slots__
    t = Tensor(np.ones(3))
    assert not hasattr(t, "__dict__")                  # no per-instance dict either
    assert t._constant is False and t._detached_from is None


def test_a_lifted_constant_and_a_detached_tensor_are_told_apart_by_their_class():
    x = Tensor(np.ones(2), requires_grad=True)
    c = (x * 0.5).parents[1]
    assert type(c) is Constant and isinstance(c, Tensor) and c._constant
    assert Constant.__slots__ == () and not hasattr(c, "__dict__")
    h = x * 2.0
    d = h.detach()
    assert type(d) is Detached and isinstance(d, Tensor) and not d._constant
    assert d._detached_from() is h and d.requires_grad is False
    assert type(Tensor(np.ones(2), name="const")) is Tensor    # a name never makes a kind


def test_a_roots_visit_order_is_kept_while_the_root_lives_and_not_after():
    x = Tensor(np.ones((1, 3)), requires_grad=True)
    root = (x * 2.0).tanh().sum()
    root.backward()
    order = visit_order(root)
    assert order[0] == root._tick and len(order) == 4     # sum, tanh, mul, x
    with tg.record_edge_grads(False):
        other = (x * 3.0).sum()
        other.backward()
    assert visit_order(other) is None
    ref = weakref.ref(root)
    del root
    gc.collect()
    assert ref() is None                              # the side table holds no strong reference


def test_every_step_of_a_long_unroll_shares_one_placeholder_per_shape():
    rnn, T = nn.RNN(3, 4), 2048                       # outputs: 2048 · 2 · 4 float32 = 64 KiB, freed
    x = np.random.default_rng(0).normal(size=(2, T, 3))
    with tg.record_edge_grads(False):
        hs, _ = rnn(x)
        freed = [t for t in tg.autograd.walk(hs) if memory.is_freed(t)]
    assert len(freed) == 4 * T                        # x_t W, h U, their sum and + b, each step
    assert len({id(t._data) for t in freed}) == 1     # all (2, 4) of one dtype: one FreedValues
    assert memory.placeholder((2, 4), freed[0].dtype) is freed[0]._data


def test_the_placeholder_table_stays_bounded():
    for n in range(memory._MAX_PLACEHOLDERS + 10):
        p = memory.placeholder((n + 1,), np.dtype(np.float32))
        assert p.shape == (n + 1,) and p.dtype == np.float32
    assert len(memory._PLACEHOLDERS) <= memory._MAX_PLACEHOLDERS


@pytest.mark.parametrize("make, numpy", [
    (lambda x, y: x + y, lambda a, b: a + b),                                 # two inputs
    (lambda x, y: x.tanh(), lambda a, b: np.tanh(a)),                         # one input
    (lambda x, y: x.sum(axis=1), lambda a, b: a.sum(axis=1)),                 # one input, params
    (lambda x, y: x[:, 1], lambda a, b: a[:, 1]),                             # one input, an index
    (lambda x, y: tg.cat([x, y], axis=1), lambda a, b: np.concatenate([a, b], axis=1)),  # two, params
    (lambda x, y: tg.stack([x, y, x]), lambda a, b: np.stack([a, b, a])),     # three inputs
])
def test_apply_makes_the_same_values_and_node_on_every_path(make, numpy):
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    x, y = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    out = make(x, y)
    np.testing.assert_allclose(out.data, numpy(a, b), rtol=0, atol=0)
    assert out.requires_grad and out._op is not None and out.name == out._op.name and not out._named
    assert out.parents[0] is x and out._tick > y._tick and out._grad is None
    out.sum().backward()
    assert x.grad.shape == a.shape


def test_the_result_requires_grad_if_any_input_does_but_not_under_no_grad_or_without_vjps():
    x, c = Tensor(np.ones(3), requires_grad=True), Tensor(np.ones(3))
    assert (c * x).requires_grad and (x * c).requires_grad   # the second input alone is enough
    assert not (c * c).requires_grad and (c * c)._op is None
    assert not (x > 0).requires_grad and (x > 0)._op is None  # an op without a VJP
    with tg.no_grad():
        y = x * c
    assert not y.requires_grad and y._op is None and y.parents == ()
    z = apply(ops.add, c, x)
    z.sum().backward()
    np.testing.assert_allclose(x.grad, np.ones(3), rtol=0, atol=0)
