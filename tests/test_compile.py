"""tg.compile: a replayed step equals the eager step, and what it cannot follow it refuses.

Each test builds two identical models (same seed): one trained eagerly, one through
tg.compile, fed the same batches. Float64 results must agree to 1e-12 relative (the
replay runs the same VJPs; only the deferred weight gradients sum in another order).
"""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.autograd import kept_grad
from tinygrad_rnn.nn.functional import cross_entropy

B, T, D, H, K = 2, 6, 3, 5, 4
RTOL = {np.float64: 1e-12, np.float32: 2e-5}


def close(a, b, dtype=np.float64):
    a, b = np.asarray(a), np.asarray(b)
    scale = max(1.0, float(np.abs(b).max(initial=0.0)))
    np.testing.assert_allclose(a, b, rtol=RTOL[dtype], atol=RTOL[dtype] * scale)


class Model:
    """A recurrent layer, a Linear readout, cross-entropy on every step."""

    def __init__(self, kind, dtype=np.float64, embed=False, layers=1):
        tg.manual_seed(0)
        self.embed = nn.Embedding(K, D) if embed else None
        make = {"rnn": nn.RNN, "relu": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind]
        extra = {"nonlinearity": "relu"} if kind == "relu" else {}
        self.rnn = make(D, H, num_layers=layers, **extra)
        self.head = nn.Linear(H, K)
        for p in self.parameters():
            p.data = p.data.astype(dtype)

    def parameters(self):
        return (self.embed.parameters() if self.embed else []) + self.rnn.parameters() \
            + self.head.parameters()

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def step(self, x, y):
        """One training step's forward and backward: what tg.compile captures."""
        inp = self.embed(x) if self.embed else tg.Tensor(x)
        out, _ = self.rnn(inp)
        loss = cross_entropy(self.head(out), y)
        loss.backward()
        return loss


def batches(n, dtype=np.float64, embed=False, seed=1):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        x = rng.integers(0, K, (B, T)) if embed else rng.standard_normal((B, T, D)).astype(dtype)
        yield x, rng.integers(0, K, (B, T))


def assert_same(eager, compiled, le, lc, dtype=np.float64):
    close(lc.item(), le.item(), dtype)
    for pe, pc in zip(eager.parameters(), compiled.parameters()):
        close(pc.grad, pe.grad, dtype)
    for he, hc in zip(eager.rnn.states, compiled.rnn.states):   # ∂E/∂h_t of every step
        close(hc.grad, he.grad, dtype)
        close(hc.data, he.data, dtype)


@pytest.mark.parametrize("record", [True, False], ids=["edges", "no-edges"])
@pytest.mark.parametrize("kind,layers,embed", [("rnn", 1, False), ("relu", 1, False), ("lstm", 1, False),
                                               ("gru", 1, False), ("rnn", 2, False), ("lstm", 2, True)])
def test_replay_equals_eager(kind, layers, embed, record):
    eager, compiled = Model(kind, layers=layers, embed=embed), Model(kind, layers=layers, embed=embed)
    step = tg.compile(compiled.step)
    with tg.record_edge_grads(record):
        for x, y in batches(5, embed=embed):
            eager.zero_grad(), compiled.zero_grad()
            le, lc = eager.step(x, y), step(x, y)
            assert_same(eager, compiled, le, lc)
    assert (step.captures, step.replays) == (2, 3)          # the first two calls capture
    owners = [kept_grad(t) for t in step.graph_tensors() if kept_grad(t) is not None]
    assert len({id(g) for g in owners}) == len(owners)     # every tensor owns its .grad


def test_float32_replay_equals_eager_within_float32():
    eager, compiled = Model("lstm", np.float32), Model("lstm", np.float32)
    step = tg.compile(compiled.step)
    for x, y in batches(4, np.float32):
        eager.zero_grad(), compiled.zero_grad()
        assert_same(eager, compiled, eager.step(x, y), step(x, y), np.float32)
    assert step.replays == 2


def test_edge_grads_after_a_replay_are_the_eager_shares():
    eager, compiled = Model("rnn"), Model("rnn")
    step = tg.compile(compiled.step)
    for x, y in batches(3):
        eager.zero_grad(), compiled.zero_grad()
        kept = eager.step(x, y), step(x, y)     # the eager graph lives as long as its loss
    for he, hc in zip(eager.rnn.states, compiled.rnn.states):
        for ge, gc in zip(he.edge_grads, hc.edge_grads):
            assert (ge is None) == (gc is None)
            if ge is not None:
                close(np.asarray(gc), np.asarray(ge))
    assert kept and step.replays == 1


def test_training_loop_with_adam_and_clipping_outside_matches_eager():
    eager, compiled = Model("lstm"), Model("lstm")
    opt_e = tg.optim.Adam(eager.parameters(), lr=0.05)
    opt_c = tg.optim.Adam(compiled.parameters(), lr=0.05)
    step = tg.compile(compiled.step)
    for x, y in batches(6):
        opt_e.zero_grad(), opt_c.zero_grad()
        le, lc = eager.step(x, y), step(x, y)
        close(lc.item(), le.item())
        nn.clip_grad_norm_(eager.parameters(), 0.5), nn.clip_grad_norm_(compiled.parameters(), 0.5)
        opt_e.step(), opt_c.step()
    for pe, pc in zip(eager.parameters(), compiled.parameters()):
        close(pc.data, pe.data)


def test_gradients_accumulate_across_calls_as_eager_backward_does():
    eager, compiled = Model("rnn"), Model("rnn")
    step = tg.compile(compiled.step)
    for x, y in batches(5):                 # no zero_grad: every backward() adds to .grad
        eager.step(x, y), step(x, y)
    for pe, pc in zip(eager.parameters(), compiled.parameters()):
        close(pc.grad, pe.grad)
    assert step.replays >= 2


def test_zero_grad_inside_fn_is_followed():
    eager, compiled = Model("gru"), Model("gru")

    def make(model):
        def fn(x, y):
            model.zero_grad()
            return model.step(x, y)
        return fn

    fe, fc = make(eager), tg.compile(make(compiled))
    for x, y in batches(5):
        fe(x, y), fc(x, y)
        for pe, pc in zip(eager.parameters(), compiled.parameters()):
            close(pc.grad, pe.grad)
    assert fc.replays >= 2


def test_new_shapes_are_captured_anew():
    eager, compiled = Model("rnn"), Model("rnn")
    step = tg.compile(compiled.step)
    rng = np.random.default_rng(0)
    for t in (6, 6, 6, 9, 9, 9, 6):          # each shape: two captures, then replays
        x, y = rng.standard_normal((B, t, D)), rng.integers(0, K, (B, t))
        eager.zero_grad(), compiled.zero_grad()
        assert_same(eager, compiled, eager.step(x, y), step(x, y))
    assert (step.captures, step.replays) == (4, 3)


def test_a_tensor_argument_receives_its_gradient():
    tg.manual_seed(0)
    cell = nn.RNNCell(D, H)
    for p in cell.parameters():
        p.data = p.data.astype(np.float64)

    def fn(x, h0):
        h = h0
        for t in range(T):
            h = cell(x[:, t], h)
        loss = (h * h).sum()
        loss.backward()
        return loss

    step = tg.compile(fn)
    rng = np.random.default_rng(0)
    for _ in range(4):
        x = tg.Tensor(rng.standard_normal((B, T, D)), requires_grad=True)
        h0 = tg.Tensor(rng.standard_normal((B, H)), requires_grad=True)
        x2, h02 = tg.Tensor(x.data.copy(), requires_grad=True), tg.Tensor(h0.data.copy(), requires_grad=True)
        cell.zero_grad()
        fn(x2, h02)
        expected = [p.grad.copy() for p in cell.parameters()]
        cell.zero_grad()
        step(x, h0)
        close(x.grad, x2.grad), close(h0.grad, h02.grad)
        for p, g in zip(cell.parameters(), expected):
            close(p.grad, g)
    assert step.replays == 2


def test_truncated_bptt_carries_a_detached_state_through_the_replay():
    eager, compiled = Model("lstm"), Model("lstm")

    def make(model):
        def fn(x, y, h0, C0):
            out, (h, C) = model.rnn(tg.Tensor(x), (h0, C0))
            loss = cross_entropy(model.head(out), y)
            loss.backward()
            return loss, h.detach(), C.detach()
        return fn

    fe, fc = make(eager), tg.compile(make(compiled))
    z = np.zeros((B, H))
    se = sc = (tg.Tensor(z), tg.Tensor(z))
    for x, y in batches(5):
        eager.zero_grad(), compiled.zero_grad()
        le, *se = fe(x, y, *se)
        lc, *sc = fc(x, y, *sc)
        close(lc.item(), le.item())
        close(sc[0].data, se[0].data), close(sc[1].data, se[1].data)
        for pe, pc in zip(eager.parameters(), compiled.parameters()):
            close(pc.grad, pe.grad)
    assert fc.replays == 3


def test_losses_returned_earlier_keep_their_values():
    compiled = Model("rnn")
    step = tg.compile(compiled.step)
    losses = []
    for x, y in batches(4):
        compiled.zero_grad()
        losses.append(step(x, y))
    values = [loss.item() for loss in losses]
    assert len(set(np.round(values, 12))) == 4      # four batches, four different losses


def test_the_generated_code_sums_a_shared_weight_in_one_matmul():
    compiled = Model("rnn")
    step = tg.compile(compiled.step)
    with tg.record_edge_grads(False):
        for x, y in batches(2):
            compiled.zero_grad()
            step(x, y)
    assert f"∂E/∂U = Σ_t A_tᵀ G_t over its {T} uses: one matmul AᵀG" in step.code
    assert "matmul(" in step.code
    # tanh's VJP written out, δ_t straight into the stack U's, W's and b's sums read
    assert "subtract(g" in step.code and "out=bufS0[0:2])" in step.code and "S0 = bufS0" in step.code


def test_anomaly_mode_runs_eagerly():
    compiled = Model("rnn")
    step = tg.compile(compiled.step)
    with tg.detect_anomaly():
        for x, y in batches(3):
            step(x, y)
    assert (step.captures, step.replays) == (0, 0)


def test_a_target_out_of_range_gets_the_eager_error():
    compiled = Model("rnn")
    step = tg.compile(compiled.step)
    (x, y), = batches(1)
    step(x, y), step(x, y)
    bad = y.copy()
    bad[0, 0] = K
    with pytest.raises(ValueError, match="outside the 4 classes"):
        step(x, bad)
    bad[0, 0] = -1                         # numpy would read the last class silently
    with pytest.raises(ValueError, match="outside the 4 classes"):
        step(x, bad)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int8, np.uint16])
def test_the_index_guard_reads_negative_and_too_large_targets_in_any_integer_dtype(dtype):
    from tinygrad_rnn.compile import _in_range
    ok = np.array([[0, 3], [2, 1]], dtype=dtype)
    assert _in_range(ok, 4) and not _in_range(ok, 3)
    if np.dtype(dtype).kind == "i":
        assert not _in_range(np.array([0, -1], dtype=dtype), 4)


# ---- what the replay cannot follow is refused -----------------------------
def test_dropout_inside_fn_is_refused():
    tg.manual_seed(0)
    drop, lin = nn.Dropout(0.5), nn.Linear(D, K)

    def fn(x):
        loss = drop(lin(tg.Tensor(x))).sum()
        loss.backward()
        return loss

    with pytest.raises(tg.CompileError, match="random numbers"):
        tg.compile(fn)(np.ones((B, D), np.float32))


def test_an_optimizer_step_inside_fn_is_refused():
    compiled = Model("rnn")
    opt = tg.optim.SGD(compiled.parameters(), lr=0.1)

    def fn(x, y):
        loss = compiled.step(x, y)
        opt.step()
        return loss

    (x, y), = batches(1)
    with pytest.raises(tg.CompileError, match="optimizer.step"):
        tg.compile(fn)(x, y)


def test_clipping_inside_fn_is_refused_before_any_replay():
    compiled = Model("rnn")

    def fn(x, y):
        loss = compiled.step(x, y)
        nn.clip_grad_norm_(compiled.parameters(), 1e-3)
        return loss

    step = tg.compile(fn)
    with pytest.raises(tg.CompileError, match="clipping"):
        for x, y in batches(3):
            step(x, y)
    assert step.replays == 0


def test_an_argument_changed_in_numpy_first_is_refused():
    compiled = Model("rnn")

    def fn(x, y):
        return compiled.step(x / 2, y)    # x / 2 is numpy: the tape never sees x

    (x, y), = batches(1)
    with pytest.raises(tg.CompileError, match="argument 0"):
        tg.compile(fn)(x, y)


def test_a_tensor_made_from_computed_values_is_refused():
    lin = nn.Linear(D, K)

    def fn(x):
        h = lin(tg.Tensor(x))
        loss = (tg.Tensor(h.data) * h).sum()
        loss.backward()
        return loss

    with pytest.raises(tg.CompileError, match="values of a tensor computed inside fn"):
        tg.compile(fn)(np.ones((B, D), np.float32))


@pytest.mark.parametrize("ret,match", [(lambda loss: loss.data, "scalar loss Tensor"),
                                       (lambda loss: None, "scalar loss Tensor")])
def test_fn_must_return_its_loss(ret, match):
    compiled = Model("rnn")
    (x, y), = batches(1)
    with pytest.raises(tg.CompileError, match=match):
        tg.compile(lambda x, y: ret(compiled.step(x, y)))(x, y)


def test_fn_must_call_backward():
    compiled = Model("rnn")
    (x, y), = batches(1)

    def fn(x, y):
        return cross_entropy(compiled.head(compiled.rnn(tg.Tensor(x))[0]), y)

    with pytest.raises(tg.CompileError, match="without calling loss.backward"):
        tg.compile(fn)(x, y)


def test_past_eight_shapes_a_compiled_step_runs_eagerly_and_says_so_once():
    eager, compiled = Model("rnn"), Model("rnn")
    step = tg.compile(compiled.step)
    rng = np.random.default_rng(0)
    with pytest.warns(UserWarning, match="running the rest eagerly") as caught:
        for t in range(1, 11):                  # ten sequence lengths: ten shapes
            x, y = rng.standard_normal((B, t, D)), rng.integers(0, K, (B, t))
            eager.zero_grad(), compiled.zero_grad()
            close(step(x, y).item(), eager.step(x, y).item())
    assert step.captures == 8 and len(step.programs) == 8
    assert sum("running the rest eagerly" in str(w.message) for w in caught) == 1


def test_an_index_argument_beside_an_ellipsis_is_refused():
    tg.manual_seed(0)
    emb = nn.Embedding(K, D)

    def fn(ids):
        loss = emb.weight[..., ids].sum()        # the replay could not tell which axis ids index
        loss.backward()
        return loss

    with pytest.raises(tg.CompileError, match=r"beside \.\.\. or None"):
        tg.compile(fn)(np.array([0, 1]))
