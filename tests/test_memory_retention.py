"""Which tensors keep their .grad after backward() (autograd.keeps_grad), and the memory that frees.

Recorded (the default), every tensor keeps its gradient. Under record_edge_grads(False) only
leaves, tensors marked with retain_grad() and the nn cells' states h_t and C_t keep theirs,
as in PyTorch; reading a dropped one gives None and a UserWarning that says how to keep it.
"""

from __future__ import annotations

import gc
import tracemalloc
import warnings

import numpy as np
import pytest
import torch

import tinygrad_rnn as tg
from tinygrad_rnn import sparse
from tinygrad_rnn.autograd import kept_grad

TOL = dict(rtol=1e-12, atol=1e-12)


def _chain(rng):
    """x -> y = x W -> z = tanh(y) -> loss: one leaf pair, two intermediates, the root."""
    x = tg.Tensor(rng.normal(size=(2, 3)), requires_grad=True, name="x")
    W = tg.Tensor(rng.normal(size=(3, 4)), requires_grad=True, name="W")
    with tg.scope("layer"):
        y = (x @ W).named("y")
        z = y.tanh().named("z")
    return x, W, y, z, (z * z).sum()


def test_recorded_every_tensor_keeps_its_grad_without_a_warning():
    x, W, y, z, loss = _chain(np.random.default_rng(0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss.backward()
        assert all(t.grad is not None for t in (x, W, y, z, loss))
    np.testing.assert_allclose(y.grad, z.grad * (1 - z.data ** 2), **TOL)


def test_unrecorded_only_leaves_keep_and_a_dropped_grad_warns_how_to_keep_it():
    x, W, y, z, loss = _chain(np.random.default_rng(0))
    with tg.record_edge_grads(False):
        loss.backward()
    assert x.grad is not None and W.grad is not None
    with pytest.warns(UserWarning) as caught:
        assert y.grad is None
    message = str(caught[0].message)
    for part in ("'y'", "(2, 4)", "'layer'", "retain_grad()", "record_edge_grads(True)"):
        assert part in message
    with pytest.warns(UserWarning, match="'sum'"):
        assert loss.grad is None
    assert kept_grad(z) is None                    # the renderer's read: None, no warning


def test_retain_grad_keeps_the_recorded_value_and_follows_torch():
    rng = np.random.default_rng(1)
    xv, Wv = rng.normal(size=(2, 3)), rng.normal(size=(3, 4))
    x, W, y, z, loss = _chain(np.random.default_rng(1))
    y.retain_grad()
    x.retain_grad()                                 # a leaf: a no-op, as torch
    assert (y.retains_grad, x.retains_grad, z.retains_grad) == (True, False, False)
    with tg.record_edge_grads(False):
        loss.backward()
    tx, tW = torch.tensor(xv, requires_grad=True), torch.tensor(Wv, requires_grad=True)
    ty = tx @ tW
    ty.retain_grad()
    tx.retain_grad()
    tz = torch.tanh(ty)
    (tz * tz).sum().backward()
    assert (ty.retains_grad, tx.retains_grad, tz.retains_grad) == (True, False, False)
    np.testing.assert_allclose(y.grad, ty.grad.numpy(), **TOL)
    np.testing.assert_allclose(W.grad, tW.grad.numpy(), **TOL)
    with pytest.warns(UserWarning):                  # torch warns there too, and gives None
        assert z.grad is None
    with pytest.warns(UserWarning):
        assert tz.grad is None


def test_retain_grad_on_a_tensor_without_gradient_is_refused_as_torch():
    c = tg.Tensor(np.ones(3), name="c") * 2.0
    with pytest.raises(RuntimeError, match="does not require grad"):
        c.retain_grad()
    with pytest.raises(RuntimeError):
        (torch.ones(3) * 2.0).retain_grad()


def test_a_second_backward_adds_to_what_is_kept_and_keeps_dropping_the_rest():
    x, W, y, z, loss = _chain(np.random.default_rng(2))
    y.retain_grad()
    with tg.record_edge_grads(False):
        loss.backward(retain_graph=True)
        first = (np.array(W.grad), np.array(y.grad))
        loss.backward()
    np.testing.assert_allclose(W.grad, 2 * first[0], **TOL)
    np.testing.assert_allclose(y.grad, 2 * first[1], **TOL)
    assert kept_grad(z) is None


def _layer_run(cls, record, **kw):
    tg.manual_seed(3)
    layer = getattr(tg.nn, cls)(3, 4, **kw)
    x = np.random.default_rng(3).normal(size=(2, 5, 3))
    with tg.record_edge_grads(record):
        out, _ = layer(x)
        loss = (out ** 2).sum()
        loss.backward()
    states = [layer.states] + ([layer.cell_states] if cls == "LSTM" else [])
    if kw.get("bidirectional"):
        states += [layer.reverse_states]
    return [[np.array(s.grad) for s in seq] for seq in states], (out, loss)


@pytest.mark.parametrize("kw", [{}, {"num_layers": 2}, {"bidirectional": True}], ids=["1", "2", "bi"])
@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_the_states_keep_their_grad_unrecorded_equal_to_the_recorded_ones(cls, kw):
    recorded, _ = _layer_run(cls, True, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error")              # reading ∂E/∂h_t, ∂E/∂C_t never warns
        unrecorded, _ = _layer_run(cls, False, **kw)
    for seq_r, seq_u in zip(recorded, unrecorded):
        assert len(seq_r) == 5
        for r, u in zip(seq_r, seq_u):
            np.testing.assert_allclose(u, r, **TOL)


def test_a_cell_called_by_hand_keeps_its_states():
    cell = tg.nn.LSTMCell(3, 4)
    x = tg.Tensor(np.random.default_rng(4).normal(size=(2, 3)))
    with tg.record_edge_grads(False):
        h, C = cell(x)
        h2, C2 = cell(x, (h, C))
        (h2 * C2).sum().backward()
    assert h.retains_grad and C.retains_grad
    assert h.grad.shape == C.grad.shape == (2, 4)
    with tg.no_grad():                              # no gradient: nothing to mark, no error
        h, C = cell(x)
    assert not h.retains_grad


def _peak(fn) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_gradients_are_freed_while_backward_walks():
    """A chain of 30 tanh on a 64 KiB array: unrecorded, each gradient goes once its input has
    its share, so backward() holds about two at a time; kept, all 30."""
    def chain(keep):
        x = tg.Tensor(np.random.default_rng(5).normal(size=(64, 128)) * 0.1, requires_grad=True)
        y = x
        for _ in range(30):
            y = y.tanh()
            if keep:
                y.retain_grad()
        return y.sum()
    one = 64 * 128 * 8
    with tg.record_edge_grads(False):
        dropped, kept = chain(False), chain(True)
        peak_dropped, peak_kept = _peak(dropped.backward), _peak(kept.backward)
    assert peak_dropped < 5 * one
    assert peak_kept > 25 * one


def test_the_last_state_keeps_its_own_rows_not_the_whole_stacked_gradient():
    """h_T's only share is its slice of the stack's (B, T, H) gradient: kept as a view, it
    would keep all T steps of that gradient alive."""
    _, (out, _) = _layer_run("RNN", False)
    g = out.parents[-1]._grad                      # out = stack(h_1 .. h_T): its last input is h_T
    assert g.base is None or g.base.nbytes == g.nbytes


def test_a_stacks_gradient_goes_once_its_slices_are_sent_to_kept_states(monkeypatch):
    """h_t = tanh(h_{t-1} U), all T stacked, each h_t kept: as views of the stack's (T, B, H)
    gradient, its slices kept all of it alive while the T sums ∂E/∂h_t (and U's factors δ_t)
    grew beside it."""
    T, B, H = 40, 32, 64
    U = tg.Tensor(np.eye(H) * 0.9, requires_grad=True)

    def run():
        with tg.record_edge_grads(False):
            h, hs = tg.Tensor(np.full((B, H), 0.5)), []
            for _ in range(T):
                h = (h @ U).tanh()
                h.retain_grad()
                hs.append(h)
            loss = tg.stack(hs).sum()
            peak = _peak(loss.backward)
        return peak, [np.array(h.grad) for h in hs]

    copied, grads = run()
    monkeypatch.setattr("tinygrad_rnn.autograd._part_of", lambda share, g: False)
    viewed, grads_viewed = run()
    assert viewed - copied > 0.5 * T * B * H * 8
    for a, b in zip(grads, grads_viewed):
        np.testing.assert_allclose(a, b, **TOL)


def test_a_lazy_share_made_over_all_steps_at_once_is_formed_at_once(monkeypatch):
    """The readout's hs @ V on (B, T, H): nothing to join, so unrecorded its (B, T, K) factor g
    is not held while backward() walks the steps behind hs (here a chain of tanh) to reach V."""
    rng = np.random.default_rng(6)
    V = tg.Tensor(rng.normal(size=(64, 32)), requires_grad=True)          # (H, K), reached last
    a = tg.Tensor(rng.normal(size=(16, 50, 64)), requires_grad=True)      # (B, T, H)

    def run():
        a.grad = V.grad = None
        with tg.record_edge_grads(False):
            loss = (a.tanh().tanh().tanh() @ V).tanh().sum()
            peak = _peak(loss.backward)
        return peak, np.array(V.grad)

    formed, grad = run()
    monkeypatch.setattr("tinygrad_rnn.autograd.formed_if_large", lambda share: share)
    deferred, grad_deferred = run()
    assert deferred - formed > 0.9 * (16 * 50 * 32 * 8)                  # g: one (B, T, K) array
    np.testing.assert_allclose(grad, grad_deferred, **TOL)
    tV = torch.tensor(V.data, requires_grad=True)
    torch.tanh(torch.tanh(torch.tanh(torch.tanh(torch.tensor(a.data)))) @ tV).sum().backward()
    np.testing.assert_allclose(grad, tV.grad.numpy(), rtol=1e-10, atol=1e-10)
    small = sparse.FactoredGrad((3, 4), np.float64, [(np.ones((2, 3)), np.ones((2, 4)))])
    assert sparse.formed_if_large(small) is small   # a per-step share still waits for its sum


def test_a_replay_drops_and_keeps_what_eager_does():
    tg.manual_seed(7)
    rnn, head = tg.nn.RNN(3, 4), tg.nn.Linear(4, 2)
    x = np.random.default_rng(7).normal(size=(2, 5, 3))

    def step(x):
        out, _ = rnn(x)
        loss = (head(out) ** 2).mean()
        loss.backward()
        return loss

    with tg.record_edge_grads(False):
        eager_loss = step(x)
        eager = [np.array(h.grad) for h in rnn.states]
        f = tg.compile(step)
        for _ in range(4):                              # the first two calls capture
            rnn.zero_grad(), head.zero_grad()
            loss = f(x)
    assert f.replays == 2
    for h, g in zip(rnn.states, eager):
        np.testing.assert_allclose(h.grad, g, **TOL)
    inner = [t for t in f.graph_tensors() if t.op is not None and not t.retains_grad]
    assert inner and all(kept_grad(t) is None for t in inner)
    with pytest.warns(UserWarning):
        assert loss.grad is None and eager_loss.grad is None


def test_a_picture_of_an_unrecorded_backward_reads_no_dropped_grad():
    tg.manual_seed(8)
    rnn = tg.nn.RNN(2, 3)
    with tg.record_edge_grads(False):
        out, _ = rnn(np.ones((1, 3, 2)))
        loss = out.sum()
        loss.backward()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for level in ("op", "cell"):
            assert "∂E/∂h_t: min" in tg.viz.draw_graph(loss, level=level).source   # kept: shown
