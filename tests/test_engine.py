"""The engine around the ops: graph walking, accumulation, scopes, threads, memory, safety checks."""

import gc
import threading
import tracemalloc
import weakref

import numpy as np
import pytest
from helpers import run_in_threads

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor


def rnn_loss(W, U, b, x, h=None):
    """E = Σ_t Σ h_t with h_t = tanh(x_t W + h_{t-1} U + b); x is (B, T, D)."""
    B, T, _ = x.shape
    h = h if h is not None else Tensor(np.zeros((B, U.shape[0])))
    E = 0
    for t in range(T):
        h = (x[:, t] @ W + h @ U + b).tanh()      # (B, H)
        E = E + h.sum()
    return E


# ---- a long unroll ------------------------------------------------------------
def test_10000_step_chain_matches_a_numpy_backward_loop():
    T, H = 10_000, 3
    rng = np.random.default_rng(0)
    U0 = rng.normal(0, 0.6, (H, H))
    xs0 = rng.normal(0, 1.0, (T, 1, H))

    U = Tensor(U0, requires_grad=True, name="U")
    xs = [Tensor(x, requires_grad=True) for x in xs0]
    h = Tensor(np.zeros((1, H)))
    for x_t in xs:
        h = (h @ U + x_t).tanh()                  # (1, H)
    loss = h.sum()
    loss.backward()                               # no RecursionError

    # the same BPTT by hand: a_t = h_{t-1} U + x_t, h_t = tanh(a_t)
    hs = [np.zeros((1, H))]
    for t in range(T):
        hs.append(np.tanh(hs[-1] @ U0 + xs0[t]))
    dU, dx = np.zeros_like(U0), np.zeros_like(xs0)
    dh = np.ones((1, H))                          # ∂E/∂h_T
    for t in reversed(range(T)):
        da = dh * (1 - hs[t + 1] ** 2)            # through tanh
        dU += hs[t].T @ da                        # ∂a_t/∂U
        dx[t] = da
        dh = da @ U0.T                            # ∂h_t/∂h_{t-1} = U^T diag(1 - h_t²)
    np.testing.assert_allclose(U.grad, dU, rtol=1e-10, atol=1e-14)
    for t in (0, T // 2, T - 2, T - 1):
        np.testing.assert_allclose(xs[t].grad, dx[t], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(h.data, hs[-1], rtol=1e-12)


# ---- accumulation over every path ------------------------------------------------
def test_tensor_used_twice_in_one_expression():
    x = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    (x * x + x).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 1)


def test_a_plus_a_has_two_edges_and_gradient_two():
    a = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = a + a
    assert y.parents == (a, a)
    y.sum().backward()
    np.testing.assert_array_equal(a.grad, [2.0, 2.0])
    assert len(y.edge_grads) == 2
    np.testing.assert_array_equal(y.edge_grads[0], [1.0, 1.0])
    np.testing.assert_array_equal(y.edge_grads[1], [1.0, 1.0])


def test_d_dx_sum_of_squares_is_2x():
    x = Tensor(np.array([3.0, -1.5]), requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [6.0, -3.0])   # not 3x: shares are summed, not assigned


def test_shared_weight_gradient_is_the_sum_of_its_edges():
    rng = np.random.default_rng(1)
    U = Tensor(rng.normal(0, 0.4, (4, 4)), requires_grad=True, name="U")
    h, uses = Tensor(np.zeros((2, 4))), []
    for _ in range(50):
        hU = h @ U                                # one edge from U per time step
        uses.append(hU)
        h = (hU + Tensor(rng.normal(size=(2, 4)))).tanh()
    h.sum().backward()
    per_step = [m.edge_grads[1] for m in uses]
    assert all(m.parents[1] is U for m in uses)
    np.testing.assert_allclose(U.grad, np.sum(per_step, axis=0), rtol=1e-12, atol=1e-15)
    assert np.abs(per_step[-1]).sum() > np.abs(per_step[0]).sum()   # later steps: less vanishing


def test_gradients_accumulate_across_backward_calls():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    assert x.grad is None
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, 3 + 2 * x.data)


def test_max_ties_share_the_gradient():
    x = Tensor(np.array([1.0, 3.0, 3.0]), requires_grad=True)
    x.max().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.5, 0.5])


# ---- what backward leaves behind ------------------------------------------------------
def test_every_intermediate_keeps_its_grad():
    rng = np.random.default_rng(2)
    U = Tensor(rng.normal(0, 0.5, (3, 3)), requires_grad=True)
    h, hs = Tensor(np.ones((1, 3))), []
    for _ in range(5):
        h = (h @ U).tanh()
        hs.append(h)
    loss = h.sum()
    loss.backward()
    assert loss.grad == 1.0
    np.testing.assert_array_equal(hs[-1].grad, np.ones((1, 3)))
    for t in range(len(hs) - 1):               # ∂E/∂h_t = (∂E/∂h_{t+1} ⊙ (1 - h_{t+1}²)) U^T
        expected = (hs[t + 1].grad * (1 - hs[t + 1].data ** 2)) @ U.data.T
        np.testing.assert_allclose(hs[t].grad, expected, rtol=1e-12)
        assert hs[t].parents[0].grad is not None   # the matmul node too


def test_edge_grads_align_with_parents():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    c = Tensor(np.array([3.0, 4.0]))
    y = x * c
    z = y * 2
    assert y.edge_grads is None                # nothing recorded before backward
    z.sum().backward()
    assert len(y.edge_grads) == len(y.parents) == 2
    np.testing.assert_array_equal(y.edge_grads[0], 2 * c.data)   # edge y -> x
    assert y.edge_grads[1] is None                              # c does not require grad
    assert z.edge_grads[1] is None                              # the constant 2
    np.testing.assert_array_equal(z.edge_grads[0], [2.0, 2.0])


def test_record_edge_grads_off():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    with tg.record_edge_grads(False):
        y = x * x
        y.sum().backward()
    assert y.edge_grads is None
    np.testing.assert_array_equal(x.grad, 2 * x.data)          # gradients are still right
    y2 = x * x
    y2.sum().backward()
    assert y2.edge_grads is not None                           # on again outside the block


# ---- no_grad, detach ---------------------------------------------------------------------
def test_no_grad_builds_no_graph():
    x = Tensor(np.ones(3), requires_grad=True)
    with tg.no_grad():
        assert not tg.is_grad_enabled()
        y = (x * 2).tanh()
        with tg.enable_grad():
            z = x * 2
    assert tg.is_grad_enabled()
    assert y.requires_grad is False and y.parents == () and y.op is None
    assert z.requires_grad is True and z.parents[0] is x
    with pytest.raises(tg.GraphError):
        y.sum().backward()


def test_detach_cuts_the_gradient():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    d = x.detach()
    assert d.requires_grad is False and d.parents == () and d._detached_from() is x
    np.testing.assert_array_equal(d.data, x.data)
    (x * d).sum().backward()
    np.testing.assert_array_equal(x.grad, x.data)              # not 2x: d is a constant


def test_truncated_bptt_with_detach():
    rng = np.random.default_rng(3)
    W, U, b = (Tensor(rng.normal(0, 0.5, s), requires_grad=True) for s in [(2, 3), (3, 3), (3,)])
    x = Tensor(rng.normal(size=(1, 4, 2)))
    h = Tensor(np.zeros((1, 3)))
    for t in range(4):
        h = (x[:, t] @ W + h @ U + b).tanh()
    h_first = h.detach()
    rnn_loss(W, U, b, x, h_first).backward()
    assert h.grad is None                                      # nothing flowed past the cut


# ---- scopes and threads -------------------------------------------------------------------
def test_nested_scopes():
    x = Tensor(np.ones(2), requires_grad=True)
    assert x.scope == ""
    with tg.scope("a"):
        y = x * 2
        with tg.scope("b"):
            with tg.scope("c"):
                z = y + 1
                leaf = Tensor(np.ones(2))
            w = z * 3
    v = w.sum()
    assert (y.scope, z.scope, leaf.scope, w.scope, v.scope) == ("a", "a/b/c", "a/b/c", "a/b", "")


def test_scope_is_per_thread():
    barrier = threading.Barrier(2, timeout=20)
    seen = {}

    def worker(name):
        def run():
            with tg.scope(name):
                barrier.wait()               # both threads are inside their scopes now
                y = Tensor(np.ones(2), requires_grad=True) * 2
                barrier.wait()
                seen[name] = y.scope
        return run
    run_in_threads(worker("rnn/t=1"), worker("lstm/t=7"))
    assert seen == {"rnn/t=1": "rnn/t=1", "lstm/t=7": "lstm/t=7"}
    assert Tensor(np.ones(1)).scope == ""


def test_no_grad_is_per_thread():
    barrier = threading.Barrier(2, timeout=20)
    seen = {}

    def evaluating():
        with tg.no_grad():
            barrier.wait()
            seen["no_grad"] = (Tensor(np.ones(2), requires_grad=True) * 2).requires_grad
            barrier.wait()

    def training():
        barrier.wait()                       # the other thread is inside no_grad() now
        seen["training"] = (Tensor(np.ones(2), requires_grad=True) * 2).requires_grad
        barrier.wait()
    run_in_threads(evaluating, training)
    assert seen == {"no_grad": False, "training": True}


def _grads_of_a_small_rnn(seed):
    rng = np.random.default_rng(seed)
    W, U, b = (Tensor(rng.normal(0, 0.5, s), requires_grad=True) for s in [(3, 4), (4, 4), (4,)])
    rnn_loss(W, U, b, Tensor(rng.normal(size=(2, 30, 3)))).backward()
    return [p.grad for p in (W, U, b)]


def test_two_threads_backpropagating_at_once_agree_with_sequential():
    expected = {seed: _grads_of_a_small_rnn(seed) for seed in (10, 11)}
    barrier = threading.Barrier(2, timeout=20)
    got = {}

    def worker(seed):
        def run():
            barrier.wait()
            for _ in range(5):
                got.setdefault(seed, []).append(_grads_of_a_small_rnn(seed))
        return run
    run_in_threads(worker(10), worker(11))
    for seed, runs in got.items():
        for grads in runs:
            for g, e in zip(grads, expected[seed]):
                np.testing.assert_allclose(g, e, rtol=1e-13)


# ---- backward's arguments and the graph's lifetime --------------------------------------------
def test_backward_with_an_explicit_grad():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    G = np.array([10.0, -1.0])
    (x * 3).backward(G)
    np.testing.assert_array_equal(x.grad, 3 * G)
    x.grad = None
    (x * 3).backward(grad=Tensor(G))
    np.testing.assert_array_equal(x.grad, 3 * G)


def test_second_backward_raises_unless_the_graph_was_retained():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(tg.GraphError, match="retain_graph"):
        loss.backward()

    x.grad = None
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_array_equal(x.grad, 2 * (2 * x.data))


def test_retain_graph_then_zero_grads():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    loss = (x * x).tanh().sum()
    loss.backward(retain_graph=True)
    first = x.grad.copy()
    x.grad = None
    loss.backward()
    np.testing.assert_allclose(x.grad, first, rtol=1e-15)


def test_graph_is_freed_when_the_root_is_dropped():
    W = Tensor(np.ones((3, 2)), requires_grad=True)
    x = Tensor(np.ones((4, 3)))
    gc.disable()                              # reference counting alone must free it: no cycles
    try:
        mid = x @ W
        out = mid.tanh()
        loss = out.sum()
        loss.backward()
        ref = weakref.ref(mid)
        del mid
        assert ref() is not None              # still reachable from loss
        del loss, out
        assert ref() is None
    finally:
        gc.enable()
    gc.collect()
    assert ref() is None
    assert W.grad is not None


def test_training_loop_memory_does_not_grow():
    rng = np.random.default_rng(4)
    params = [Tensor(rng.normal(0, 0.3, s), requires_grad=True) for s in [(3, 8), (8, 8), (8,)]]
    x = Tensor(rng.normal(size=(2, 3, 3)))
    lr = 1e-3

    def step():
        loss = rnn_loss(*params, x)
        loss.backward()
        for p in params:
            p.data -= lr * p.grad
            p.grad = None

    tracemalloc.start()
    try:
        for i in range(1, 1001):
            step()
            if i == 100:
                at_100 = tracemalloc.get_traced_memory()[0]
        at_1000 = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert at_1000 - at_100 < 200_000, f"grew by {at_1000 - at_100} bytes over 900 iterations"


# ---- in-place modification ----------------------------------------------------------------------
@pytest.mark.parametrize("modify", ["assign", "augmented"])
def test_modifying_data_between_forward_and_backward_is_detected(modify):
    W = Tensor(np.ones((3, 2)), requires_grad=True, name="W")
    x = Tensor(np.ones((4, 3)), requires_grad=True)
    loss = (x @ W).tanh().sum()
    if modify == "assign":
        W.data = W.data * 2
    else:
        W.data -= 1
    with pytest.raises(tg.InplaceModificationError, match=r"matmul.*'W'.*\(3, 2\)"):
        loss.backward()


def test_modifying_an_intermediate_the_vjp_reads_is_detected():
    x = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    h = x.tanh()                                  # tanh's VJP reads h: 1 - h²
    h.data = h.data * 0.5
    with pytest.raises(tg.InplaceModificationError, match="backward of tanh.*output 'tanh'"):
        h.sum().backward()


def test_updating_after_backward_is_fine():
    W = Tensor(np.ones((3, 2)), requires_grad=True, name="W")
    x = Tensor(np.ones((4, 3)))
    for _ in range(3):
        loss = (x @ W).tanh().sum()
        loss.backward()
        W.data -= 0.1 * W.grad
        W.grad = None
    loss = (x @ W).tanh().sum()
    loss.backward()
    np.testing.assert_allclose(W.grad, x.data.T @ (1 - np.tanh(x.data @ W.data) ** 2))


# ---- detect_anomaly ------------------------------------------------------------------------------
def test_anomaly_in_forward_names_the_op_and_the_scope():
    x = Tensor(np.array([1.0, -1.0]), requires_grad=True)
    with np.errstate(invalid="ignore"), tg.detect_anomaly(), tg.scope("rnn/t=3"):
        with pytest.raises(tg.AnomalyError, match=r"log.*rnn/t=3.*NaN"):
            x.log()


def test_anomaly_in_backward_is_caught():
    x = Tensor(np.array([0.0, 4.0]), requires_grad=True)
    with tg.scope("rnn/t=2"):
        y = (x ** 0.5).sum()                    # forward is finite: sqrt(0) = 0
    with np.errstate(divide="ignore"), tg.detect_anomaly():
        with pytest.raises(tg.AnomalyError, match=r"backward of pow.*rnn/t=2.*Inf"):
            y.backward()


def test_no_anomaly_check_outside_detect_anomaly():
    x = Tensor(np.array([0.0, 4.0]), requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = x.log()
        (x ** 0.5).sum().backward()
    assert np.isneginf(y.data[0])
    assert np.isinf(x.grad[0]) and x.grad[1] == 0.25


def test_detect_anomaly_catches_finite_shares_that_sum_to_inf():
    # Each path sends back 1e308 (finite); where they meet, the sum overflows.
    x = tg.Tensor(np.array([1e-300]), requires_grad=True, dtype=np.float64)
    with tg.detect_anomaly(), np.errstate(over="ignore"):
        loss = (x * 1e308).sum() + (x * 1e308).sum()
        with pytest.raises(tg.AnomalyError, match="summed at 'tensor'.*every gradient reaching it"):
            loss.backward()


def test_unbroadcast_sums_back_and_refuses_a_wrong_layout():
    from tinygrad_rnn.ops import unbroadcast
    assert unbroadcast(np.ones((5, 3)), (3,)).tolist() == [5.0, 5.0, 5.0]      # (B, H) -> (H,)
    assert unbroadcast(np.ones((3, 4)), (3, 1)).tolist() == [[4.0]] * 3       # stretched axis
    with pytest.raises(ValueError, match=r"shape \(4, 3\) cannot be summed to \(3, 4\)"):
        unbroadcast(np.ones((4, 3)), (3, 4))    # a VJP that returned the transposed layout


def test_sparse_getitem_gradient_behaves_as_its_dense_array():
    from tinygrad_rnn.sparse import SparseGrad
    x = Tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    y = (x[:, 1] * 2).sum() + x[[0, 0, 2]].sum() + x[:, 1].sum()    # slices and repeated rows
    y.backward()
    dense = np.zeros((3, 4))
    dense[:, 1] += 3
    dense[0] += 2
    dense[2] += 1
    assert isinstance(x.grad, np.ndarray) and x.grad.flags.writeable
    np.testing.assert_array_equal(x.grad, dense)
    read = y.parents[0].parents[0].parents[0].parents[0]      # the getitem x[:, 1] in (x[:, 1] * 2)
    assert read.op == "getitem" and isinstance(read.edge_grads[0], SparseGrad)
    assert np.linalg.norm(read.edge_grads[0]) == pytest.approx(2 * np.sqrt(3))   # as its dense array
