"""Adversarial tests of shared and lazy gradients (backward() lets tensors share a passed-on
gradient, `Tensor.grad` copies on first read; edge records may be lazy: FactoredGrad,
SummedGrad, SparseGrad, InputShare).

The rule they check: whatever is written into one tensor's `.grad`, and whatever the optimizer
does to the parameters afterwards, no other tensor's gradient and no edge's record changes,
and a lazy record reads exactly as the dense array it stands for.
"""

import copy
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn.autograd import kept_grad

TOL = dict(rtol=1e-12, atol=1e-12)


def _rnn_graph(rng, T=4, B=2, D=3, H=4):
    """h_t = tanh(x_t W + h_{t-1} U + b) by hand, every intermediate tensor kept."""
    W = tg.Tensor(rng.normal(size=(D, H)), requires_grad=True, name="W")
    U = tg.Tensor(rng.normal(size=(H, H)), requires_grad=True, name="U")
    b = tg.Tensor(rng.normal(size=(H,)), requires_grad=True, name="b")
    x = tg.Tensor(rng.normal(size=(B, T, D)), requires_grad=True, name="x")
    h = tg.Tensor(np.zeros((B, H)), name="h0")
    ts, hs = [W, U, b, x], []
    for t in range(T):
        xt = x[:, t]
        a, c = xt @ W, h @ U
        s = a + c
        s2 = s + b
        h = s2.tanh()
        ts += [xt, a, c, s, s2, h]
        hs.append(h)
    H_ = tg.stack(hs, 1)
    m = H_.reshape(B, -1).T * 2.0
    loss = (m * m).sum() + (W * W).sum()       # W in a matmul and elementwise
    ts += [H_, m, loss]
    return ts, loss


def _mul_chain(rng):
    a = tg.Tensor(rng.normal(size=(3,)), requires_grad=True, name="a")
    b = a * 3.0
    c = b * b
    return [a, b, c], c.sum()


def _matmul_both(rng):
    W = tg.Tensor(rng.normal(size=(3, 3)), requires_grad=True, name="W")
    x = tg.Tensor(rng.normal(size=(2, 3)), requires_grad=True, name="x")
    y = x @ W
    z = y * W[0]
    t = z + W.T[0]
    return [W, x, y, z, t], (t * t).sum()


def _cat_chain(rng):
    a = tg.Tensor(rng.normal(size=(2, 3)), requires_grad=True, name="a")
    b = tg.Tensor(rng.normal(size=(2, 3)), requires_grad=True, name="b")
    c = tg.cat([a, b, a], 0)
    d = c.T + 1.0
    e = d.reshape(-1)
    return [a, b, c, d, e], (e * e).sum()


GRAPHS = [_rnn_graph, _mul_chain, _matmul_both, _cat_chain]
MUTATIONS = {
    "imul": lambda g: g.__imul__(2.0),
    "setitem": lambda g: g.__setitem__((0,) * g.ndim, 0.0),
    "ufunc_out": lambda g: np.add(g, 1.0, out=g),
}


def _retain_all(ts):
    """Unrecorded, backward() keeps the leaves' gradients only: keep every one of `ts` too."""
    for t in ts:
        if t.requires_grad:
            t.retain_grad()


def _snapshot(ts):
    grads = [None if kept_grad(t) is None else np.array(t.grad) for t in ts]
    edges = [[None if e is None else np.array(e) for e in (t.edge_grads or ())] for t in ts]
    return grads, edges


def _assert_writes_isolated(ts, write):
    """`write` into each tensor's .grad in turn: no other tensor's gradient and no edge record
    (its own included) may change; the gradient is put back after each write."""
    grads, edges = _snapshot(ts)
    for i, victim in enumerate(ts):
        if kept_grad(victim) is None:           # none arrived, or (unrecorded) dropped
            continue
        write(victim.grad)
        now_grads, now_edges = _snapshot(ts)
        for j, t in enumerate(ts):
            if j != i and grads[j] is not None:
                np.testing.assert_array_equal(now_grads[j], grads[j], err_msg=f"{t.name} by {victim.name}")
            for k, (e, e0) in enumerate(zip(now_edges[j], edges[j])):
                if e0 is not None:
                    np.testing.assert_array_equal(e, e0, err_msg=f"edge {k} of {t.name} by {victim.name}")
        victim.grad = grads[i].copy()


@pytest.mark.parametrize("record", [True, False])
@pytest.mark.parametrize("mutate", list(MUTATIONS))
@pytest.mark.parametrize("build", GRAPHS)
def test_writing_one_grad_changes_no_other_grad_or_record(build, mutate, record):
    ts, loss = build(np.random.default_rng(0))
    if not record:
        _retain_all(ts)
    with tg.record_edge_grads(record):
        loss.backward()
    _assert_writes_isolated(ts, MUTATIONS[mutate])


def test_records_of_a_at_b_survive_the_optimizer_step():
    """y = A @ B with A and B parameters: W's record (A, g) must not follow A's in-place update."""
    rng = np.random.default_rng(1)
    A = tg.Tensor(rng.normal(size=(2, 3)), requires_grad=True, name="A")
    B = tg.Tensor(rng.normal(size=(3, 4)), requires_grad=True, name="B")
    opt = tg.optim.SGD([A, B], lr=0.5)
    with tg.record_edge_grads():
        y = A @ B
        (y * y).sum().backward()
    eager = [A.data.T @ y.grad, y.grad @ B.data.T]          # the shares, formed by hand
    before = [np.array(e) for e in y.edge_grads]
    np.testing.assert_allclose(before[1], eager[0], **TOL)
    np.testing.assert_allclose(before[0], eager[1], **TOL)
    opt.step()
    A.data[...] = 7.0
    B.data[...] = 9.0
    for e, e0 in zip(y.edge_grads, before):
        np.testing.assert_array_equal(np.asarray(e), e0)


def test_rnn_records_survive_step_and_second_forward():
    rng = np.random.default_rng(2)
    rnn = tg.nn.RNN(3, 5)
    opt = tg.optim.Adam(rnn.parameters(), lr=0.1)
    x = tg.Tensor(rng.normal(size=(2, 6, 3)), name="x")
    with tg.record_edge_grads():
        out, _ = rnn(x)
        (out * out).sum().backward()
    ts = tg.autograd.walk(out)
    _, edges = _snapshot(ts)
    opt.step()
    rnn(tg.Tensor(rng.normal(size=(2, 6, 3))))              # a second forward
    _, now = _snapshot(ts)
    for t, e, e0 in zip(ts, now, edges):
        for a, a0 in zip(e, e0):
            if a0 is not None:
                np.testing.assert_array_equal(a, a0, err_msg=t.name)


def _lazy_records():
    rng = np.random.default_rng(3)
    W = tg.Tensor(rng.normal(size=(3, 4)), requires_grad=True, name="W")
    b = tg.Tensor(rng.normal(size=(4,)), requires_grad=True, name="b")
    x = tg.Tensor(rng.normal(size=(2, 5, 3)), requires_grad=True, name="x")
    with tg.record_edge_grads():
        y = x @ W
        z = y + b
        s = z[:, 1]
        (s * s).sum().backward()
    return {"FactoredGrad": y.edge_grads[1], "SummedGrad": z.edge_grads[1], "SparseGrad": s.edge_grads[0]}


@pytest.mark.parametrize("kind", ["FactoredGrad", "SummedGrad", "SparseGrad"])
def test_lazy_record_reads_as_its_dense_array(kind):
    r = _lazy_records()[kind]
    assert type(r).__name__ == kind
    d = np.array(r)
    np.testing.assert_array_equal(np.asarray(r), d)
    np.testing.assert_allclose(np.linalg.norm(r), np.linalg.norm(d), **TOL)
    np.testing.assert_allclose(np.sum(r), d.sum(), **TOL)
    assert np.allclose(r, d)
    np.testing.assert_array_equal(r[0], d[0])
    np.testing.assert_array_equal(r > 0, d > 0)
    np.testing.assert_array_equal(r == 0, d == 0)
    np.testing.assert_array_equal(r != d, np.zeros(d.shape, bool))
    assert len(r) == len(d)
    for row, row0 in zip(r, d):
        np.testing.assert_array_equal(row, row0)
    np.testing.assert_array_equal(abs(r), np.abs(d))
    np.testing.assert_array_equal(r ** 2, d ** 2)
    v = np.arange(d.shape[-1], dtype=float)
    np.testing.assert_allclose(r @ v, d @ v, **TOL)
    np.testing.assert_array_equal(np.asarray(pickle.loads(pickle.dumps(r))), d)
    np.testing.assert_array_equal(np.asarray(copy.deepcopy(r)), d)
    assert r.astype(np.float32).dtype == np.float32
    with pytest.raises(TypeError):
        r[0] = 0.0                                  # read-only: a write would be lost silently


def test_zero_lazy_record_compares_as_zero():
    from tinygrad_rnn.sparse import SummedGrad
    r = SummedGrad((2,), np.float64, [np.zeros((3, 2))])
    assert np.all(r == 0) and not np.any(r != 0)
    assert not bool(SummedGrad((1,), np.float64, [np.zeros((3, 1))]))


def test_two_backwards_accumulate_into_shared_first_grads():
    """retain_graph=True twice: every gradient is exactly twice the first, also where the first was shared."""
    ts, loss = _rnn_graph(np.random.default_rng(4))
    loss.backward(retain_graph=True)
    first = [np.array(t.grad) for t in ts]
    loss.backward()
    for t, g in zip(ts, first):
        np.testing.assert_allclose(t.grad, 2 * g, **TOL, err_msg=t.name)


def test_add_of_two_leaves_gives_each_its_own_grad_and_matches_torch():
    a = tg.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    b = tg.Tensor(np.ones((2, 3)), requires_grad=True)
    (a + b).T.reshape(-1).sum().backward()
    assert a.grad is not b.grad
    a.grad *= 3
    ta, tb = (torch.tensor(v, requires_grad=True) for v in (np.arange(6.0).reshape(2, 3), np.ones((2, 3))))
    (ta + tb).T.reshape(-1).sum().backward()
    np.testing.assert_allclose(b.grad, tb.grad.numpy(), **TOL)
    np.testing.assert_allclose(a.grad, 3 * ta.grad.numpy(), **TOL)


def test_clip_and_zero_grad_keep_records():
    rng = np.random.default_rng(5)
    rnn = tg.nn.RNN(3, 4)
    opt = tg.optim.SGD(rnn.parameters(), lr=0.1)
    with tg.record_edge_grads():
        out, _ = rnn(tg.Tensor(rng.normal(size=(2, 5, 3))))
        (out * out).sum().backward()
    ts = tg.autograd.walk(out)
    _, edges = _snapshot(ts)
    tg.nn.utils.clip_grad_norm_(rnn.parameters(), 1e-3)
    for p in rnn.parameters():
        p.grad *= 0.5                                 # a user's in-place scaling
    opt.step()
    opt.zero_grad(set_to_none=False)
    _, now = _snapshot(ts)
    for t, e, e0 in zip(ts, now, edges):
        for a, a0 in zip(e, e0):
            if a0 is not None:
                np.testing.assert_array_equal(a, a0, err_msg=t.name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("B", [0, 1, 3])
def test_rnn_gradients_match_torch_dtype_and_empty_batch(dtype, B):
    rng = np.random.default_rng(6)
    Wv, Uv, bv = (rng.normal(size=s).astype(dtype) for s in ((3, 4), (4, 4), (4,)))
    xv = rng.normal(size=(B, 5, 3)).astype(dtype)
    W, U, b = (tg.Tensor(v, requires_grad=True) for v in (Wv, Uv, bv))
    tW, tU, tb = (torch.tensor(v, requires_grad=True) for v in (Wv, Uv, bv))
    h, th = tg.Tensor(np.zeros((B, 4), dtype)), torch.zeros(B, 4, dtype=tW.dtype)
    x, tx = tg.Tensor(xv), torch.tensor(xv)
    hs, ths = [], []
    for t in range(5):
        h = (x[:, t] @ W + h @ U + b).tanh()
        th = torch.tanh(tx[:, t] @ tW + th @ tU + tb)
        hs.append(h)
        ths.append(th)
    (tg.stack(hs, 1) ** 2).sum().backward()
    (torch.stack(ths, 1) ** 2).sum().backward()
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else TOL
    for p, tp in ((W, tW), (U, tU), (b, tb)):
        assert p.grad.dtype == dtype and p.grad.shape == p.shape
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), **tol)


OPS = st.lists(st.sampled_from(["T", "add", "getitem", "stack", "reshape", "mul", "cat"]),
               min_size=1, max_size=6)


@settings(max_examples=40, deadline=None)
@given(OPS, st.booleans())
def test_random_view_chains_isolated_and_match_torch(ops, record):
    """Random chains of view-passing ops: gradients match torch's, and writing into any of them
    changes no other one and no record."""
    rng = np.random.default_rng(7)
    v = rng.normal(size=(3, 3))
    x = tg.Tensor(v, requires_grad=True, name="x")
    tx = torch.tensor(v, requires_grad=True)
    ts, cur, tcur = [x], x, tx
    for op in ops:
        if op == "T":
            cur, tcur = cur.T, tcur.T
        elif op == "add":
            cur, tcur = cur + x, tcur + tx
        elif op == "getitem":
            cur = tg.stack([cur[:, 0], cur[:, 1], cur[:, 2]], 1)
            tcur = torch.stack([tcur[:, 0], tcur[:, 1], tcur[:, 2]], 1)
        elif op == "stack":
            cur, tcur = tg.stack([cur, cur], 0).sum(0), torch.stack([tcur, tcur], 0).sum(0)
        elif op == "reshape":
            cur, tcur = cur.reshape(9).reshape(3, 3), tcur.reshape(9).reshape(3, 3)
        elif op == "mul":
            cur, tcur = cur * 2.0, tcur * 2.0
        else:
            cur, tcur = tg.cat([cur, cur], 0)[:3], torch.cat([tcur, tcur], 0)[:3]
        ts.append(cur)
    if not record:
        _retain_all(ts)
    with tg.record_edge_grads(record):
        (cur * cur).sum().backward()
    (tcur * tcur).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), **TOL)
    _assert_writes_isolated(ts, lambda g: np.copyto(g, -1.0))


def test_param_edge_grads_gives_arrays_of_their_own():
    """Its values were the records themselves (an in-place write changed the picture) or, for two
    uses in one scope, a lazy sum that a later `+` extended in place."""
    from tinygrad_rnn.analysis import param_edge_grads
    rng = np.random.default_rng(8)
    W = tg.Tensor(rng.normal(size=(3, 4)), requires_grad=True, name="W")
    x = tg.Tensor(rng.normal(size=(2, 3)))
    with tg.record_edge_grads():
        with tg.scope("s"):
            y = x @ W + (x * 2.0) @ W
        z = y + (x * 3.0) @ W
        loss = (z * z).sum()
        loss.backward()
    records = [np.array(t.edge_grads[1]) for t in tg.autograd.walk(loss) if t.op == "matmul"]
    parts = param_edge_grads(loss, W)
    assert all(type(v) is np.ndarray for v in parts.values())
    np.testing.assert_allclose(sum(parts.values()), W.grad, **TOL)
    for v in parts.values():
        v *= 0.0
    now = [np.array(t.edge_grads[1]) for t in tg.autograd.walk(loss) if t.op == "matmul"]
    for r, r0 in zip(now, records):
        np.testing.assert_array_equal(r, r0)


def test_second_graph_accumulates_into_a_leaf_whose_first_grad_was_shared():
    """(a + b).sum() leaves a, b and the sum node one shared array; a second graph's backward
    adds to a's alone, and set_to_none=False zeroes a's alone."""
    a = tg.Tensor(np.arange(3.0), requires_grad=True)
    b = tg.Tensor(np.ones(3), requires_grad=True)
    (a + b).sum().backward()
    (a * a).sum().backward()
    np.testing.assert_allclose(a.grad, 1 + 2 * np.arange(3.0), **TOL)
    np.testing.assert_allclose(b.grad, np.ones(3), **TOL)
    opt = tg.optim.SGD([a], lr=0.1)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad, np.zeros(3))
    np.testing.assert_allclose(b.grad, np.ones(3), **TOL)


@pytest.mark.parametrize("record", [False, True])
def test_compiled_replay_matches_eager_and_keeps_gradients_apart(record):
    """tg.compile's replay hands out the graph's gradients too (rnn.states[t].grad): the same
    numbers as eager, and a write into one changes no other gradient and no record."""
    rng = np.random.default_rng(9)
    W, U, b = (tg.Tensor(rng.normal(size=s), requires_grad=True) for s in ((3, 4), (4, 4), (4,)))

    def step(xa):
        x, h, hs = tg.Tensor(xa), tg.Tensor(np.zeros((2, 4))), []
        for t in range(5):
            h = (x[:, t] @ W + h @ U + b).tanh()
            hs.append(h)
        H_ = tg.stack(hs, 1)
        loss = (H_.T.reshape(-1) * 2.0).sum() + (H_ * H_).sum()
        loss.backward()
        return loss

    with tg.record_edge_grads(record):
        f = tg.compile(step)
        for _ in range(3):
            xs = rng.normal(size=(2, 5, 3))
            for p in (W, U, b):
                p.grad = None
            f(xs)
            replayed = [np.array(p.grad) for p in (W, U, b)]
            for p in (W, U, b):
                p.grad = None
            step(xs)
            for p, g in zip((W, U, b), replayed):
                np.testing.assert_allclose(g, p.grad, rtol=1e-12, atol=1e-12)
        f(xs)
    ts = f.graph_tensors()
    _assert_writes_isolated(ts, lambda g: np.copyto(g, -5.0))


@pytest.mark.parametrize("record", [False, True])
def test_long_unroll_sums_across_stacking_blocks_match_torch(record):
    """T = 520 at B = 1: a weight's and the bias's lazy sums are stacked in blocks of at most 256
    steps (sparse._stacked); the block boundaries must not change ∂E/∂W, ∂E/∂U, ∂E/∂b."""
    rng = np.random.default_rng(10)
    T, D, H = 520, 2, 3
    vals = [rng.normal(size=(D, H)) * 0.5, rng.normal(size=(H, H)) * 0.3, rng.normal(size=H)]
    xv = rng.normal(size=(1, T, D))
    W, U, b = (tg.Tensor(v, requires_grad=True) for v in vals)
    tW, tU, tb = (torch.tensor(v, requires_grad=True) for v in vals)
    with tg.record_edge_grads(record):
        h, x, hs = tg.Tensor(np.zeros((1, H))), tg.Tensor(xv), []
        for t in range(T):
            h = (x[:, t] @ W + h @ U + b).tanh()
            hs.append(h)
        (tg.stack(hs, 1) ** 2).sum().backward()
    th, ths = torch.zeros(1, H, dtype=torch.float64), []
    for t in range(T):
        th = torch.tanh(torch.tensor(xv[:, t]) @ tW + th @ tU + tb)
        ths.append(th)
    (torch.stack(ths, 1) ** 2).sum().backward()
    for p, tp in ((W, tW), (U, tU), (b, tb)):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("record", [True, False])
@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_layers_with_readout_keep_every_gradient_and_record_apart(cls, record):
    """The public layers, a Linear readout and cross_entropy: an in-place ufunc on any tensor's
    .grad changes no other gradient and no record."""
    rng = np.random.default_rng(11)
    layer, readout = getattr(tg.nn, cls)(3, 4), tg.nn.Linear(4, 5)
    with tg.record_edge_grads(record):
        out, _ = layer(tg.Tensor(rng.normal(size=(2, 4, 3))))
        loss = tg.nn.functional.cross_entropy(readout(out), rng.integers(0, 5, size=(2, 4)))
        loss.backward()
    ts = tg.autograd.walk(loss)
    _assert_writes_isolated(ts, lambda g: np.multiply(g, 3.0, out=g))


@pytest.mark.parametrize("kind", ["summed", "factored", "sparse"])
def test_a_sum_of_records_a_user_holds_never_changes(kind):
    """`a = r1 + r2; b = a + r3` leaves a as r1 + r2 (only backward's own running sum grows in place)."""
    from tinygrad_rnn.sparse import FactoredGrad, SparseGrad, SummedGrad

    rng = np.random.default_rng(7)

    def record():
        if kind == "summed":
            return SummedGrad((3,), np.float64, [rng.standard_normal((2, 3))])
        if kind == "factored":
            a, g = rng.standard_normal((2, 4)), rng.standard_normal((2, 3))
            return FactoredGrad((4, 3), np.float64, [(a, g)])
        return SparseGrad((5, 3), np.float64, [((slice(1, 3),), rng.standard_normal((2, 3)))])

    r1, r2, r3 = record(), record(), record()
    d1, d2, d3 = (np.asarray(r) for r in (r1, r2, r3))
    a = r1 + r2
    b = a + r3
    np.testing.assert_allclose(np.asarray(a), d1 + d2, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.asarray(b), d1 + d2 + d3, rtol=1e-12, atol=1e-14)
    c = sum([r1, r2, r3])
    np.testing.assert_allclose(np.asarray(c), d1 + d2 + d3, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.asarray(a), d1 + d2, rtol=1e-12, atol=1e-14)
    # backward's own running sum: a new owned sum first, then extended in place
    total = r1.accumulate(r2)
    assert total is not r1 and total.accumulate(r3) is total
    np.testing.assert_allclose(np.asarray(total), d1 + d2 + d3, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.asarray(r1), d1, rtol=1e-12, atol=1e-14)
