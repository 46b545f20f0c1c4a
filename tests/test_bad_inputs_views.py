"""Wrong gradients must be impossible: writes through views and detach(), `.data`
assignment, astype, gradient ownership, requires_grad_ on results, threads.

The oracle everywhere is a fresh recomputation: the same function rebuilt on new
tensors holding the values the graph saw in its forward pass. The engine may
refuse (InplaceModificationError, GraphError); it may never return anything else.
"""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest
from helpers import run_in_threads
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor, nn
from tinygrad_rnn.errors import GraphError, InplaceModificationError

RNG = np.random.default_rng(0)


def fresh_grad(fn, *values):
    """∂fn/∂(each value), from a graph built now on new leaves: the oracle."""
    leaves = [Tensor(np.array(v, dtype=np.float64), requires_grad=True) for v in values]
    fn(*leaves).backward()
    return [leaf.grad for leaf in leaves]


# ---- the reproductions ----------------------------------------------------------------
def test_write_to_a_tensor_after_its_transpose_was_used_is_refused():
    c = Tensor(np.ones((2, 2)))
    w = Tensor(np.ones((2, 2)), requires_grad=True)
    y = (c.T @ w).sum()
    c.data -= 1
    with pytest.raises(InplaceModificationError, match="backward of matmul.*'transpose'"):
        y.backward()


def test_normalising_an_rnn_input_in_place_after_the_forward_pass_is_refused():
    tg.manual_seed(0)
    rnn = nn.RNN(3, 4, dtype=np.float64)
    x = Tensor(RNG.normal(size=(2, 5, 3)))
    outputs, _ = rnn(x)                              # every step read a view x[:, t-1]
    loss = (outputs ** 2).mean()
    x.data -= 1
    with pytest.raises(InplaceModificationError, match="rnn/t=5.*'x_t'"):
        loss.backward()


def test_write_through_detach_is_refused():
    x = Tensor(np.array([0.5, 1.5, 2.5]), requires_grad=True)
    h = x.tanh()
    y = (h * 1).sum()
    h.detach().data += 1
    with pytest.raises(InplaceModificationError):
        y.backward()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layer_dtype", [np.float32, np.float64])
def test_a_layer_never_keeps_your_array_whatever_the_dtypes(dtype, layer_dtype):
    """One rule: every array handed in is copied, so mutating it afterwards changes nothing."""
    tg.manual_seed(0)
    rnn = nn.RNN(3, 4, dtype=layer_dtype)
    x = RNG.normal(size=(2, 5, 3)).astype(dtype)
    outputs, _ = rnn(x)
    loss = (outputs ** 2).sum()
    x -= 1                                           # the caller's array, after the forward pass
    loss.backward()
    tg.manual_seed(0)
    again = nn.RNN(3, 4, dtype=layer_dtype)
    outputs, _ = again(x + 1)
    (outputs ** 2).sum().backward()
    tol = 1e-5 if np.float32 in (dtype, layer_dtype) else 1e-12
    for p, q in zip(rnn.parameters(), again.parameters()):
        np.testing.assert_allclose(p.grad, q.grad, rtol=tol, atol=tol)
    assert np.linalg.norm(rnn.cells[0].W.grad) > 0.1


@pytest.mark.parametrize("make", [lambda a: Tensor(a), lambda a: Tensor(a, requires_grad=True),
                                  lambda a: Tensor(np.ones(3), requires_grad=True) * a])
def test_a_tensor_never_aliases_the_array_it_was_made_from(make):
    a = np.arange(3.0)
    t = make(a)
    a += 100
    assert t.data.max() < 100


@pytest.mark.parametrize("value, dtype", [(np.array([1, 2, 3]), np.float64), ([1, 2, 3], np.float64),
                                          ([0.1, 0.2, 0.3], np.float64), (np.array([1, 2, 3]), np.float32),
                                          (np.array([True, False, True]), np.float64),
                                          ([1.5, 2, 3], np.float32), ((1, 2, 3), np.float64)])
def test_data_assignment_keeps_a_float_parameter_in_its_dtype(value, dtype):
    p = nn.Parameter(np.zeros(3, dtype))
    p.data = value
    assert p.dtype == dtype
    np.testing.assert_array_equal(p.data, np.asarray(value, dtype=dtype))
    (p * p).sum().backward()
    np.testing.assert_allclose(p.grad, 2 * np.asarray(value, dtype), rtol=1e-6)


@pytest.mark.parametrize("src, dst", [(np.float32, np.float64), (np.float64, np.float32)])
def test_data_assignment_of_a_float_array_brings_its_dtype_as_torch(src, dst):
    p = nn.Parameter(np.zeros(3, src))
    p.data = np.ones(3, dst)                            # how a model changes precision
    assert p.dtype == dst
    (p * p).sum().backward()
    assert p.grad.dtype == dst


def test_data_assignment_of_a_list_keeps_float64_precision():
    p = nn.Parameter(np.zeros(2))
    p.data = [0.1, 0.2]
    assert p.data[0] == 0.1                             # not 0.1 rounded through float32


@pytest.mark.parametrize("value", [np.array([1 + 2j, 0, 0]), np.array(["a", "b", "c"]), [[1, 2], [3]],
                                   None])
def test_data_assignment_refuses_what_is_not_real_numbers(value):
    p = nn.Parameter(np.zeros(3))
    with pytest.raises((TypeError, ValueError)):
        p.data = value
    np.testing.assert_array_equal(p.data, np.zeros(3))


def test_data_assignment_to_an_integer_tensor_refuses_fractions():
    t = Tensor(np.array([1, 2, 3]))
    with pytest.raises(TypeError, match="cannot assign float64 values to .* of dtype int64"):
        t.data = np.array([0.5, 1.0, 2.0])
    t.data = np.array([4, 5, 6], dtype=np.int32)
    assert t.dtype == np.int64


def test_data_assignment_copies():
    p = nn.Parameter(np.zeros(3))
    v = np.ones(3)
    p.data = v
    v += 1
    np.testing.assert_array_equal(p.data, np.ones(3))


@pytest.mark.parametrize("src, dst", [(np.float32, np.float64), (np.float64, np.float32),
                                      (np.float64, np.float64)])
def test_astype_is_an_op_with_a_vjp(src, dst):
    x = Tensor(np.array([1.0, 2.0, 3.0], dtype=src), requires_grad=True)
    y = x.astype(dst)
    assert y.dtype == dst and y.op == "astype"
    (y * y).sum().backward()
    assert x.grad.dtype == src
    np.testing.assert_allclose(x.grad, [2.0, 4.0, 6.0], rtol=1e-6)


def test_astype_passes_gradcheck():
    assert tg.gradcheck(lambda x: (x.astype(np.float64) * x).tanh(), [RNG.normal(size=(3, 2))])


@pytest.mark.parametrize("dtype", [np.int64, np.int32, bool])
def test_astype_to_an_integer_dtype_is_a_constant_as_torch(dtype):
    x = Tensor(np.array([1.5, 2.5]), requires_grad=True)
    y = x.astype(dtype)
    assert y.dtype == dtype and not y.requires_grad


@pytest.mark.parametrize("dtype", [np.complex128, object, "U3"])
def test_astype_to_a_non_real_dtype_is_refused(dtype):
    with pytest.raises(TypeError, match="astype: unsupported dtype"):
        Tensor(np.ones(2)).astype(dtype)


OWNERSHIP = {     # fn of (a, b): graphs where one gradient array could reach two tensors
    "add": lambda a, b: (a + b).sum(),
    "sub": lambda a, b: (a - b).sum(),
    "reshape": lambda a, b: (a.reshape(4) + b.reshape(4)).sum(),
    "transpose": lambda a, b: (a.T + b.T).sum(),
    "cat": lambda a, b: tg.cat([a, b], axis=0).sum(),
    "stack": lambda a, b: tg.stack([a, b], axis=0).sum(),
    "sum-broadcast": lambda a, b: (a.sum() + b.sum()),
    "add-then-add": lambda a, b: ((a + b) + a).sum(),
    "getitem": lambda a, b: (a[0] + b[0]).sum(),
}


@pytest.mark.parametrize("name", OWNERSHIP)
def test_every_tensor_owns_its_gradient(name):
    a = Tensor(np.ones((2, 2)), requires_grad=True)
    b = Tensor(np.ones((2, 2)), requires_grad=True)
    OWNERSHIP[name](a, b).backward()
    expected_b = b.grad.copy()
    a.grad *= 10
    np.testing.assert_array_equal(b.grad, expected_b)
    assert not np.shares_memory(a.grad, b.grad)


def test_intermediate_gradients_are_owned_too():
    a = Tensor(np.ones(3), requires_grad=True)
    s = a + 1
    s.sum().backward()
    assert not np.shares_memory(s.grad, a.grad)
    s.grad *= 5
    np.testing.assert_array_equal(a.grad, np.ones(3))


def test_requires_grad_false_on_a_result_is_refused_as_torch():
    x = Tensor(np.ones(3), requires_grad=True)
    h = x.tanh()
    with pytest.raises(RuntimeError, match="not a leaf.*detach"):
        h.requires_grad_(False)
    with pytest.raises(RuntimeError, match="not a leaf"):
        h.requires_grad = False
    assert h.requires_grad
    h.requires_grad_(True)                         # already true: nothing changes, as torch
    x.requires_grad_(False)                        # a leaf may switch
    assert not x.requires_grad
    x.requires_grad = True
    assert x.requires_grad


def test_requires_grad_on_an_integer_leaf_is_refused():
    with pytest.raises(TypeError, match="cannot require grad"):
        Tensor(np.array([1, 2])).requires_grad = True


# ---- views: every view shares the version counter, as in PyTorch ---------------------------
VIEWS = {
    "T": lambda x: x.T,
    "transpose": lambda x: x.transpose(1, 0),
    "reshape": lambda x: x.reshape(6),
    "reshape-2": lambda x: x.reshape(3, 2),
    "column": lambda x: x[:, 0],
    "row": lambda x: x[1],
    "slice": lambda x: x[1:],
    "ellipsis": lambda x: x[...],
    "detach": lambda x: x.detach(),
    "detach-T": lambda x: x.detach().T,
    "T-T": lambda x: x.T.T,
    "column-reshape": lambda x: x[:, 1].reshape(2, 1),
}
WRITES = {
    "base in place": lambda x, v: setattr(x, "data", _iadd(x.data)),
    "view in place": lambda x, v: setattr(v, "data", _iadd(v.data)),
    "base replaced": lambda x, v: setattr(x, "data", x.data + 1.0),
    "view replaced": lambda x, v: setattr(v, "data", v.data + 1.0),
}


def _iadd(a):
    a += 1.0
    return a


def _consume(v, w):
    """A scalar whose gradient for w needs v's values (its VJP reads them): sum(v · w)."""
    return (v.reshape(-1) * w[:v.size]).sum()


@pytest.mark.parametrize("view", ["column", "row", "slice", "ellipsis", "detach", "reshape", "T-T"])
def test_an_in_place_write_to_memory_the_graph_reads_is_refused(view):
    x = Tensor(RNG.normal(size=(2, 3)))
    w = Tensor(RNG.normal(size=6), requires_grad=True)
    v = VIEWS[view](x)
    loss = _consume(v, w)
    x.data += 1.0
    with pytest.raises(InplaceModificationError, match="modified in place"):
        loss.backward()


@pytest.mark.parametrize("write", WRITES)
@pytest.mark.parametrize("view", VIEWS)
def test_a_write_after_a_view_was_used_is_refused_or_harmless(view, write):
    x0 = RNG.normal(size=(2, 3))
    x = Tensor(x0.copy())
    w = Tensor(RNG.normal(size=6), requires_grad=True)
    v = VIEWS[view](x)
    seen = v.data.copy()                              # what the forward pass read
    loss = _consume(v, w)
    WRITES[write](x, v)
    try:
        loss.backward()
    except InplaceModificationError:
        return                # refusing is right whenever the graph reads the written memory
    # No error: the graph must have read only memory the write did not touch (x.T.reshape
    # copies, a replaced array leaves its views alone), so the gradient is the true one.
    expected, = fresh_grad(lambda w_: _consume(Tensor(seen), w_), w.data)
    np.testing.assert_allclose(w.grad, expected, rtol=1e-12, atol=1e-12)


# ---- two threads, one graph ------------------------------------------------------------------
@pytest.fixture
def switch_often():
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def test_two_threads_backward_one_graph_add_up_every_time(switch_often):
    """400 trials of two concurrent backward(retain_graph=True) on one RNN graph: each
    gives exactly twice the gradient of one call (up to the order of two additions)."""
    tg.manual_seed(0)
    rnn = nn.RNN(3, 4, dtype=np.float64)
    x = RNG.normal(size=(2, 6, 3))
    outputs, _ = rnn(x)
    loss = (outputs ** 2).mean()
    loss.backward(retain_graph=True)
    once = [p.grad.copy() for p in rnn.parameters()]
    for _ in range(400):
        rnn.zero_grad()
        barrier = threading.Barrier(2, timeout=30)

        def go():
            barrier.wait()
            loss.backward(retain_graph=True)

        run_in_threads(go, go, barrier=barrier)
        for p, g in zip(rnn.parameters(), once):
            np.testing.assert_allclose(p.grad, 2 * g, rtol=1e-12, atol=1e-15)


def test_two_threads_on_a_graph_without_retain_graph_never_crash(switch_often):
    """Without retain_graph one of them may find the graph used: a GraphError, nothing else."""
    for _ in range(100):
        x = Tensor(RNG.normal(size=(3, 3)), requires_grad=True)
        loss = (x @ x).tanh().sum()
        errors = []
        barrier = threading.Barrier(2, timeout=30)

        def go():
            barrier.wait()
            try:
                loss.backward()
            except GraphError as e:
                errors.append(e)

        run_in_threads(go, go, barrier=barrier)
        assert len(errors) <= 1


# ---- the property: interleave forwards, writes, detaches and backwards -------------------------
FORWARDS = {      # kind -> fn(x, W, keep): keep(t) registers intermediates a later step may write
    "transpose-matmul": lambda x, W, keep: (keep(x.T) @ W).tanh().sum(),
    "column": lambda x, W, keep: (keep(x[:, 0]) @ W).sum(),
    "reshape": lambda x, W, keep: (keep(W.reshape(9)) * x.reshape(9)).sum(),
    "detached-h": lambda x, W, keep: _detached_h(x, W, keep),
    "row-of-transpose": lambda x, W, keep: (keep(W.T)[0] * x[1]).sum(),
    "rnn-like": lambda x, W, keep: _two_steps(x, W, keep),
}


def _detached_h(x, W, keep):
    h = keep((x @ W).tanh())
    return (h * keep(h.detach())).sum()


def _two_steps(x, W, keep):
    h = Tensor(np.zeros(3))
    for t in range(2):
        h = (keep(x[:, t]) * 0.5 + h @ W).tanh()
    return (h * h).sum()


def _oracle(kind, x_values, W_values):
    """∂loss/∂W from fresh tensors holding the values the forward pass saw."""
    W = Tensor(W_values.copy(), requires_grad=True)
    FORWARDS[kind](Tensor(x_values.copy()), W, lambda t: t).backward()
    return W.grad


ACTION = st.one_of(
    st.tuples(st.just("forward"), st.sampled_from(sorted(FORWARDS))),
    st.tuples(st.just("write"), st.integers(0, 50), st.booleans(), st.floats(-2, 2)),
    st.tuples(st.just("detach-write"), st.integers(0, 50), st.floats(-2, 2)),
    st.tuples(st.just("backward"), st.integers(0, 50), st.booleans()),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ACTION, min_size=1, max_size=14))
def test_interleaved_forwards_writes_detaches_and_backwards_never_give_a_wrong_gradient(actions):
    rng = np.random.default_rng(1)
    x = Tensor(rng.normal(size=(3, 3)))
    W = nn.Parameter(rng.normal(size=(3, 3)))
    handles = [x, W]                          # tensors a write may target: leaves, views, results
    losses = []                               # (loss, kind, x values, W values) at forward time

    def keep(t):
        handles.append(t)
        return t

    for action in actions:
        if action[0] == "forward":
            kind = action[1]
            losses.append((FORWARDS[kind](x, W, keep), kind, x.data.copy(), W.data.copy()))
        elif action[0] == "write":
            t = handles[action[1] % len(handles)]
            if action[2]:
                t.data += action[3]           # in place: every view of this memory sees it
            else:
                t.data = t.data + action[3]   # new memory for t alone
        elif action[0] == "detach-write":
            d = handles[action[1] % len(handles)].detach()
            d.data *= 1.0 + action[2] * 0.1
        elif losses:
            loss, kind, xs, Ws = losses[action[1] % len(losses)]
            W.grad = None
            try:
                loss.backward(retain_graph=action[2])
            except (InplaceModificationError, GraphError):
                continue                      # refusing is allowed
            np.testing.assert_allclose(W.grad, _oracle(kind, xs, Ws), rtol=1e-10, atol=1e-12)


# ---- more of the family: seeds, hand-set gradients, flags --------------------------------------
@pytest.mark.parametrize("grad", [np.array([["a"] * 3] * 2), np.ones((2, 3)) + 1j, [[None] * 3] * 2])
def test_a_backward_seed_that_is_not_real_numbers_is_refused(grad):
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(TypeError, match="unsupported dtype"):
        (x * 1).backward(grad)


@pytest.mark.parametrize("shape", [(5,), (1, 3), (3,), ()])
def test_a_hand_set_grad_of_another_shape_is_refused_not_broadcast(shape):
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    x.grad = np.ones(shape)
    with pytest.raises(GraphError, match=r"'tensor'.grad has shape .* but its gradient has shape \(2, 3\)"):
        (x * 2).sum().backward()


def test_a_hand_set_grad_of_the_right_shape_accumulates():
    x = Tensor(np.ones(3), requires_grad=True)
    x.grad = np.full(3, 10.0)
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad, np.full(3, 12.0))


@pytest.mark.parametrize("flag", ["no", "False", None, [True], 1.0])
def test_requires_grad_must_be_a_bool(flag):
    with pytest.raises(TypeError, match="requires_grad must be True or False"):
        Tensor(np.ones(2), requires_grad=flag)


def test_gradcheck_of_only_empty_inputs_cannot_decide():
    with pytest.raises(tg.GradcheckUndecidable, match="empty"):
        tg.gradcheck(lambda a: a.sum(), [np.zeros(0)])


def test_integer_arithmetic_wraps_as_numpy_and_torch_documented():
    t = Tensor(np.array([0], np.uint8)) - 1
    assert t.dtype == np.uint8 and int(t.data[0]) == 255 == torch_free_uint8_wrap()


def torch_free_uint8_wrap() -> int:
    """numpy's own answer (the oracle), on arrays: numpy wraps them without a warning."""
    return int((np.array([0], np.uint8) - np.array([1], np.uint8))[0])
