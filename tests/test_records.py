"""records.py: an edge x @ W -> x keeps (g, x, W) where T shares would outweigh one copy of W."""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn.records import InputShare


def unrolled(seed=0, B=8, T=30, D=5, H=16):
    tg.manual_seed(seed)
    rnn, readout = tg.nn.RNN(D, H, dtype=np.float64), tg.nn.Linear(H, 3, dtype=np.float64)
    x = np.random.default_rng(seed).standard_normal((B, T, D))
    hs, _ = rnn(x)
    return rnn, readout, (readout(hs) ** 2).mean()


def shares_to_h(rnn):
    """The record on every edge h_{t-1} U -> h_{t-1}, newest step last."""
    U = rnn.cells[0].U
    return [n for n in tg.autograd.walk(rnn.states[-1])
            if n.op == "matmul" and n.parents[1] is U and n.parents[0].requires_grad]   # not h_0


def test_the_record_of_a_share_to_h_is_the_share_bit_for_bit_even_after_an_optimizer_step():
    rnn, readout, loss = unrolled()
    loss.backward()
    uses = shares_to_h(rnn)
    assert len(uses) == 29 and all(isinstance(n.edge_grads[0], InputShare) for n in uses)
    U = rnn.cells[0].U
    before = [np.asarray(n.edge_grads[0]) for n in uses]
    for n, share in zip(uses, before):          # exactly matmul's VJP row: g Uᵀ
        np.testing.assert_array_equal(share, n.grad @ U.data.T)
    tg.optim.SGD(rnn.parameters(), lr=0.5).step()     # writes U in place
    for n, share in zip(uses, before):
        np.testing.assert_array_equal(np.asarray(n.edge_grads[0]), share)


def test_the_records_on_the_edges_into_h_sum_to_its_gradient():
    rnn, readout, loss = unrolled(seed=1)
    loss.backward()
    for n in shares_to_h(rnn):                  # h_{t-1}.grad = readout's share + this one
        h_prev = n.parents[0]
        others = [c for c in tg.autograd.walk(loss) if h_prev in c.parents and c is not n]
        total = np.asarray(n.edge_grads[0]) + sum(
            np.asarray(c.edge_grads[c.parents.index(h_prev)]) for c in others)
        np.testing.assert_allclose(h_prev.grad, total, rtol=1e-12, atol=1e-15)


def _peak_of_backward(record: bool) -> int:
    with tg.record_edge_grads(record):
        _, _, loss = unrolled(seed=2, B=32, T=60, H=64)
        for t in tg.autograd.walk(loss):        # unrecorded, every gradient kept too: the
            if t.requires_grad:                 # difference is what the records cost
                t.retain_grad()
        gc.collect()
        tracemalloc.start()
        try:
            loss.backward()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()


def test_recording_edges_costs_less_than_a_share_per_step():
    extra = _peak_of_backward(True) - _peak_of_backward(False)
    share = 32 * 64 * 8                          # one (B, H) float64 share
    assert extra < 15 * share                    # T = 60 shares kept as arrays would be 60 of them


def test_a_weight_used_once_keeps_its_share_as_it_is():
    x = tg.Tensor(np.ones((2, 3)), requires_grad=True)
    W = tg.Tensor(np.ones((3, 4)), requires_grad=True)
    y = x @ W
    y.sum().backward()
    assert type(y.edge_grads[0]) is np.ndarray   # one use: a copy of W would cost more than it saves


def test_a_record_reads_as_the_array_it_stands_for():
    rnn, readout, loss = unrolled(seed=3)
    loss.backward()
    r = shares_to_h(rnn)[-1].edge_grads[0]
    a = np.asarray(r)
    assert isinstance(r, InputShare) and r.shape == a.shape and r.dtype == a.dtype
    for got, want in [(r.min(), a.min()), (r.max(), a.max()), (r.mean(), a.mean()), (r.T, a.T),
                      (r.sum(axis=0), a.sum(axis=0)), (2 * r, 2 * a), (r * a, a * a), (-r, -a),
                      (1 - r, 1 - a), (r - 1, a - 1), (r / 2, a / 2), (np.linalg.norm(r), np.linalg.norm(a))]:
        np.testing.assert_array_equal(got, want)


def test_without_a_weight_worth_copying_backward_asks_nothing_per_edge():
    from tinygrad_rnn.records import prepare
    rnn = tg.nn.RNN(3, 16, dtype=np.float64)
    hs, _ = rnn(np.ones((1, 5, 3)))                   # 5 shares of 128 B never outweigh U (2 KiB)
    assert prepare(tg.autograd.walk((hs ** 2).mean(), needs_grad=True), record=True) == ({}, None)
    rnn, _, loss = unrolled()                         # T = 30 shares of (8, 16) outweigh U
    U = rnn.cells[0].U
    frozen, keep = prepare(tg.autograd.walk(loss, needs_grad=True), record=True)
    assert keep is not None and keep.frozen is frozen
    np.testing.assert_array_equal(frozen[U], U.data)  # U's values, laid out as a contiguous Uᵀ
    assert frozen[U].T.flags.c_contiguous and not np.shares_memory(frozen[U], U.data)
    assert prepare(tg.autograd.walk(loss, needs_grad=True), record=False)[1] is None


@pytest.mark.parametrize("layer", [tg.nn.RNN, tg.nn.LSTM])
@pytest.mark.parametrize("record", [True, False])
def test_weights_copied_as_their_transposes_change_no_gradient(monkeypatch, layer, record):
    import tinygrad_rnn.autograd as autograd
    from tinygrad_rnn import records

    def grads(prepare):
        monkeypatch.setattr(autograd, "prepare", prepare)
        tg.manual_seed(4)
        rnn, readout = layer(5, 16, dtype=np.float64), tg.nn.Linear(16, 3, dtype=np.float64)
        hs, _ = rnn(np.random.default_rng(4).standard_normal((8, 30, 5)))
        with tg.record_edge_grads(record):
            (readout(hs) ** 2).mean().backward()
        return [p.grad for p in rnn.parameters() + readout.parameters()]

    copied_weights = []

    def prepare(order, record):
        frozen, keep = records.prepare(order, record)
        copied_weights.extend(frozen)
        return frozen, keep

    copied = grads(prepare)
    plain = grads(lambda order, record: ({}, None))      # every x @ W's VJP on W itself
    assert len(copied_weights) == (2 if layer is tg.nn.RNN else 5)   # U, V; W_f, W_i, W_c, W_o, V
    for a, b in zip(copied, plain):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_backward_lets_go_of_each_weights_copy_before_it_forms_the_weights_gradient(monkeypatch):
    import tinygrad_rnn.autograd as autograd
    from tinygrad_rnn import records
    copies, alive_at = {}, {}

    def prepare(order, record):
        frozen, keep = records.prepare(order, record)
        copies.update({w: weakref.ref(a) for w, a in frozen.items()})
        return frozen, keep

    def keeps_grad(t, record):                        # called once t's gradient is formed
        if t in copies:
            alive_at[t.name] = copies[t]() is not None
        return keeps_grad.real(t, record)

    keeps_grad.real = autograd.keeps_grad
    monkeypatch.setattr(autograd, "prepare", prepare)
    monkeypatch.setattr(autograd, "keeps_grad", keeps_grad)
    _, _, loss = unrolled(seed=5)
    with tg.record_edge_grads(False):
        loss.backward()
    assert alive_at == {"U": False, "weight": False}  # gone before U's T shares are summed
