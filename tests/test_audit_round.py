"""An audit of the engine changes of one round, for silently wrong results.

Each test is a probe of one change: the .grad retention rule under
record_edge_grads(False), the contiguous Wᵀ copies handed to matmul's VJP, the
in-place sums of a broadcast bias's pieces, the sequence layers' x_t read inside
the step, gc aging, and tg.compile's replay. Float64 throughout; values are
compared with stated tolerances (torch 2.13, CPU, as the oracle where the API matches).
"""

from __future__ import annotations

import gc
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn import nn
from tinygrad_rnn.autograd import kept_grad
from tinygrad_rnn.errors import InplaceModificationError
from tinygrad_rnn.nn.functional import cross_entropy

TOL = dict(rtol=1e-12, atol=1e-12)
NAMES = ("x", "W", "a", "s", "u")


def _grads(tensors):
    """Each .grad (None where dropped), copied, and how many reads warned."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = [None if t.grad is None else np.array(t.grad) for t in tensors]
    return out, len(caught)


def _np(g):
    """A copy of a gradient as a numpy array, from either library."""
    return g.detach().numpy().copy() if isinstance(g, torch.Tensor) else np.array(g)


def _graph(lib, X, W0):
    """x W, a slice of it, a stack of its tanh and one row of that stack: views, a stack, reuse."""
    if lib is torch:
        x, W = torch.tensor(X, requires_grad=True), torch.tensor(W0, requires_grad=True)
        stack = torch.stack
    else:
        x, W = tg.Tensor(X.copy(), requires_grad=True), tg.Tensor(W0.copy(), requires_grad=True)
        stack = tg.stack
    a = x @ W
    s = a[:, :2]
    h = a.tanh()
    u = stack([h, h * 2])[1]
    loss = (s * s).sum() + (u * h).sum() + (stack([h, u]) ** 2).sum()
    return (x, W, a, s, u), loss


@settings(max_examples=12, deadline=None)
@given(before=st.booleans(), twice=st.booleans(), seed=st.integers(0, 2**16))
def test_unrecorded_retention_matches_torch_before_and_after_retain_grad(before, twice, seed):
    """retain_grad() before the first backward keeps (and a second backward adds to) the
    gradient; called after it, only the second backward's gradient is there, as torch."""
    rng = np.random.default_rng(seed)
    X, W0 = rng.standard_normal((3, 4)), rng.standard_normal((4, 4))
    results = []
    for lib in (tg, torch):
        ts, loss = _graph(lib, X, W0)
        if before:
            for t in ts[2:]:
                t.retain_grad()
        with tg.record_edge_grads(False):
            loss.backward(retain_graph=True)
            if not before:
                for t in ts[2:]:
                    t.retain_grad()
            if twice:
                loss.backward()
        results.append(_grads(ts)[0] if lib is tg else [None if t.grad is None else _np(t.grad) for t in ts])
    for name, mine, ref in zip(NAMES, *results):
        assert (mine is None) == (ref is None), name
        if ref is not None:
            np.testing.assert_allclose(mine, ref, err_msg=name, **TOL)


@pytest.mark.parametrize("first,second", [(True, False), (False, True), (False, False), (True, True)])
def test_mixing_recording_between_two_backwards_keeps_leaves_and_retained_sums(first, second):
    """One graph, two backward() calls, recording switched between them: what is kept at the
    end (leaves, retained tensors, and every tensor if the last pass recorded) holds both
    passes' sum where both kept it, and the last pass alone where the first dropped it."""
    rng = np.random.default_rng(3)
    X, W0 = rng.standard_normal((3, 4)), rng.standard_normal((4, 4))
    ref, ref_loss = _graph(torch, X, W0)
    for t in ref[2:]:
        t.retain_grad()
    ref_loss.backward()
    once = [t.grad.numpy() for t in ref]                        # one pass's gradients
    ts, loss = _graph(tg, X, W0)
    ts[3].retain_grad()                                         # s: kept by both passes
    with tg.record_edge_grads(first):
        loss.backward(retain_graph=True)
    with tg.record_edge_grads(second):
        loss.backward()
    got, _ = _grads(ts)
    for k in (0, 1, 3):                                         # leaves and s: both passes
        np.testing.assert_allclose(got[k], 2 * once[k], err_msg=NAMES[k], **TOL)
    for k in (2, 4):                                            # a, u: not retained
        if second:                                              # kept by the last pass; the sum
            np.testing.assert_allclose(got[k], (2 if first else 1) * once[k], err_msg=NAMES[k], **TOL)
        else:                                                   # if the first kept it too
            assert got[k] is None, NAMES[k]


def test_after_retain_grad_post_backward_the_warning_still_says_what_happened():
    ts, loss = _graph(tg, np.ones((3, 4)), np.eye(4))
    with tg.record_edge_grads(False):
        loss.backward()
    ts[2].retain_grad()
    with pytest.warns(UserWarning, match="retain_grad.*before"):
        assert ts[2].grad is None


def test_a_write_into_one_kept_gradient_never_changes_another_unrecorded():
    """Unrecorded, add passes g on unchanged and a stack or cat a slice of it: two kept tensors
    may be sent one array. A write into one's .grad must leave the other's and the leaf's."""
    rng = np.random.default_rng(4)
    x = tg.Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    a, b = (x * 2), (x * 3)
    c = a + b                                           # sends g itself to a and b
    parts = tg.cat([c, c * 1.5], axis=0)               # sends slices to c and to c * 1.5
    d = tg.stack([parts, parts], axis=0)[0]
    for t in (a, b, c, parts, d):
        t.retain_grad()
    with tg.record_edge_grads(False):
        ((d * d).sum() + c.sum()).backward()
    before = {id(t): np.array(t._grad) for t in (x, a, b, c, parts, d)}
    for t in (a, b, c, parts, d, x):
        t.grad[...] = 1e6
        for u in (x, a, b, c, parts, d):
            if u is not t and u.grad is not None and not np.all(u.grad == 1e6):
                np.testing.assert_array_equal(u.grad, before[id(u)])


# ---- the contiguous Wᵀ copies (records.prepare's frozen weights) ----------------------
def _rnn_loss(model, x, y, head):
    out, _ = model(tg.Tensor(x))
    return cross_entropy(head(out), y)


def _recorded_shares_survive_an_optimizer_step(loss, params):
    """Every edge's record after backward(), compared after an in-place SGD step on params."""
    graph = [t for t in tg.autograd.walk(loss) if t.edge_grads is not None]
    before = [[None if e is None else np.array(np.asarray(e)) for e in t.edge_grads] for t in graph]
    tg.optim.SGD(params, lr=0.5).step()
    for t, b in zip(graph, before):
        for e, eb in zip(t.edge_grads, b):
            if eb is not None:
                np.testing.assert_array_equal(np.asarray(e), eb, err_msg=t.name)


@pytest.mark.parametrize("record", [True, False])
def test_a_weight_written_in_place_between_forward_and_backward_is_refused(record):
    tg.manual_seed(0)
    rnn, head = nn.RNN(3, 16), nn.Linear(16, 4)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 5, 3)), rng.integers(0, 4, (32, 5))
    loss = _rnn_loss(rnn, x, y, head)
    U = rnn.cells[0].U
    U.data -= 0.1 * np.ones_like(U.data)               # an optimizer's in-place step, too early
    with tg.record_edge_grads(record), pytest.raises(InplaceModificationError, match="matmul"):
        loss.backward()


@pytest.mark.parametrize("record", [True, False])
def test_one_weight_shared_by_two_layers_and_two_graphs_gets_every_share(record):
    """U of layer 0 is also layer 1's U and the readout's weight: its frozen copy stands for
    all three uses; a second graph built after an in-place update reads the new U."""
    tg.manual_seed(1)
    torch.manual_seed(1)
    H, B, T = 8, 32, 6
    rng = np.random.default_rng(1)
    U0, W0 = rng.standard_normal((H, H)) * 0.3, rng.standard_normal((H, H)) * 0.3
    xs = rng.standard_normal((B, T, H))

    def loss_of(lib, U, W, x):
        h = x[:, 0] * 0
        for t in range(T):
            h = (x[:, t] @ W + h @ U).tanh()
            h = (h @ U).tanh()                          # a second layer with the same U
        return ((h @ U) ** 2).sum()                     # and the readout

    grads = {}
    for lib in (tg, torch):
        if lib is tg:
            U, W, x = (tg.Tensor(U0.copy(), requires_grad=True), tg.Tensor(W0.copy(), requires_grad=True),
                       tg.Tensor(xs))
        else:
            U, W = torch.tensor(U0, requires_grad=True), torch.tensor(W0, requires_grad=True)
            x = torch.tensor(xs)
        first = loss_of(lib, U, W, x)
        with tg.record_edge_grads(record):
            first.backward()
        g1 = _np(U.grad)
        if lib is tg:
            U.data -= 0.01 * U.grad
            U.grad = None
        else:
            with torch.no_grad():
                U -= 0.01 * U.grad
            U.grad = None
        second = loss_of(lib, U, W, x)
        with tg.record_edge_grads(record):
            second.backward()
        grads[lib] = (g1, _np(U.grad), _np(W.grad))
    for mine, ref in zip(grads[tg], grads[torch]):
        np.testing.assert_allclose(mine, ref, rtol=1e-11, atol=1e-11)


# ---- SummedGrad's in-place sums --------------------------------------------------------
@pytest.mark.parametrize("record", [True, False])
def test_a_bias_added_to_rows_of_several_shapes_and_to_itself_sums_as_torch(record):
    """b reaches (B, H) rows at every step, a (B, T, H) block, (H,) directly, and b + b: its
    pieces are summed in place into one array, never into a piece someone else holds."""
    rng = np.random.default_rng(5)
    B, T, H = 4, 5, 3
    A, b0 = rng.standard_normal((B, T, H)), rng.standard_normal(H)
    out = {}
    for lib in (tg, torch):
        a = tg.Tensor(A, requires_grad=True) if lib is tg else torch.tensor(A, requires_grad=True)
        b = tg.Tensor(b0.copy(), requires_grad=True) if lib is tg else torch.tensor(b0, requires_grad=True)
        steps = [(a[:, t] + b).tanh() for t in range(T)]
        y = (a + b) * (a + b)                           # the same g sent twice
        loss = sum((s * s).sum() for s in steps) + y.sum() + (b + b).sum() * 0.5 + (b * a).sum()
        with tg.record_edge_grads(record):
            loss.backward()
        out[lib] = (_np(a.grad), _np(b.grad))
    for mine, ref in zip(out[tg], out[torch]):
        np.testing.assert_allclose(mine, ref, **TOL)


def test_summed_bias_pieces_are_left_as_they_flowed():
    """Recorded, the share a + b sent to b is a lazy sum whose piece is g: forming b's gradient
    (in place) must leave each edge's record, and the tensors that hold g, unchanged."""
    rng = np.random.default_rng(6)
    a = tg.Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    b = tg.Tensor(rng.standard_normal(3), requires_grad=True)
    ys = [a * float(k + 1) + b for k in range(3)]
    loss = sum((y * y).sum() for y in ys)
    loss.backward()
    for y in ys:
        np.testing.assert_allclose(np.asarray(y.edge_grads[1]), (2 * y.data).sum(axis=0), **TOL)
        np.testing.assert_allclose(y.grad, 2 * y.data, **TOL)
    np.testing.assert_allclose(b.grad, sum((2 * y.data).sum(axis=0) for y in ys), **TOL)


# ---- gc aging (memory.gc_paused) -------------------------------------------------------
def test_gc_aging_leaves_a_programs_frozen_objects_frozen_and_collects_a_cycle():
    tg.manual_seed(3)
    rnn = nn.LSTM(3, 4)
    x = tg.Tensor(np.random.default_rng(0).standard_normal((2, 4, 3)))
    gc.collect()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        for _ in range(3):
            junk = [[] for _ in range(2000)]            # a young collection is due at the block's end
            out, _ = rnn(x)
            out.sum().backward()
            del junk
        assert gc.get_freeze_count() > 0.9 * frozen     # (objects freed meanwhile leave it too)
    finally:
        gc.unfreeze()

    class Cycle:
        pass

    import weakref
    c = Cycle()
    c.me = c
    ref = weakref.ref(c)
    del c
    for _ in range(3):
        junk = [[] for _ in range(2000)]
        out, _ = rnn(x)
        out.sum().backward()
        del junk
    gc.collect()
    assert ref() is None


# ---- tg.compile's replay ---------------------------------------------------------------
K = 4


class _Net:
    """A recurrent layer (any options) and a readout, cross-entropy on every step."""

    def __init__(self, kind, **options):
        tg.manual_seed(11)
        self.rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind](3, 5, **options)
        self.head = nn.Linear(5 * (2 if options.get("bidirectional") else 1), K)
        for p in self.parameters():
            p.data = p.data.astype(np.float64)

    def parameters(self):
        return self.rnn.parameters() + self.head.parameters()

    def step(self, x, y):
        out, _ = self.rnn(tg.Tensor(x))
        loss = cross_entropy(self.head(out), y)
        loss.backward()
        return loss


def _close(a, b):
    a, b = np.asarray(a), np.asarray(b)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * max(1.0, float(np.abs(b).max(initial=0))))


def _same(eager, compiled, le, lc):
    _close(lc.item(), le.item())
    for pe, pc in zip(eager.parameters(), compiled.parameters()):
        _close(pc.grad, pe.grad)
    assert len(eager.rnn.states) == len(compiled.rnn.states)
    for he, hc in zip(eager.rnn.states, compiled.rnn.states):       # ∂E/∂h_t of every step
        _close(hc.data, he.data)
        _close(hc.grad, he.grad)


@settings(max_examples=6, deadline=None)
@given(kind=st.sampled_from(["rnn", "lstm", "gru"]), layers=st.sampled_from([1, 2]),
       bidirectional=st.booleans(),
       plan=st.lists(st.tuples(st.sampled_from([3, 5]), st.booleans()), min_size=3, max_size=6))
def test_replay_equals_eager_across_shapes_and_recording_modes(kind, layers, bidirectional, plan):
    """Calls alternate between sequence lengths and recording on/off (each a program of its
    own): every call's loss, parameter gradients, h_t and ∂E/∂h_t equal eager's to 1e-12."""
    options = dict(num_layers=layers, bidirectional=bidirectional)
    eager, compiled = _Net(kind, **options), _Net(kind, **options)
    step = tg.compile(compiled.step)
    rng = np.random.default_rng(len(plan))
    for T, record in plan:
        x, y = rng.standard_normal((2, T, 3)), rng.integers(0, K, (2, T))
        for p in eager.parameters() + compiled.parameters():
            p.grad = None
        with tg.record_edge_grads(record):
            le, lc = eager.step(x, y), step(x, y)
            _same(eager, compiled, le, lc)


def test_values_held_from_one_program_survive_replays_of_another():
    """Two programs (two lengths) replayed in turn: the states, ∂E/∂h_t and gradients handed
    out by a replay of the first are not overwritten by replays of the second (or the first)."""
    net = _Net("lstm", num_layers=2)
    step = tg.compile(net.step)
    rng = np.random.default_rng(8)
    batches = {T: [(rng.standard_normal((2, T, 3)), rng.integers(0, K, (2, T))) for _ in range(5)]
               for T in (3, 5)}
    with tg.record_edge_grads(False):
        for k in range(3):                              # capture twice, then replay, both programs
            for T in (3, 5):
                for p in net.parameters():
                    p.grad = None
                step(*batches[T][k])
        held = {"dh": [s.grad for s in net.rnn.states], "h": [s.data for s in net.rnn.states],
                "grads": [p.grad for p in net.parameters()]}
        copies = {k: [np.array(a) for a in v] for k, v in held.items()}
        for k in (3, 4):
            for T in (3, 5):
                for p in net.parameters():
                    p.grad = None
                step(*batches[T][k])
    assert step.replays >= 6
    for name, arrays in held.items():
        for a, c in zip(arrays, copies[name]):
            np.testing.assert_array_equal(a, c, err_msg=name)


def test_a_replay_with_recording_off_keeps_what_eager_keeps_of_a_user_loop():
    """A cell called by hand in fn: the states it returns keep ∂E/∂h_t in the replay as in
    eager, and the intermediates read None (with the warning) in both."""
    tg.manual_seed(12)
    cells = [nn.GRUCell(3, 4), nn.GRUCell(3, 4)]
    for c in cells:
        for p in c.parameters():
            p.data = p.data.astype(np.float64)
    cells[1].load_state_dict(cells[0].state_dict())
    held = []

    def step_of(cell, keep):
        def step(x):
            h, hs, X = None, [], tg.Tensor(x)
            for t in range(x.shape[1]):
                h = cell(X[:, t], h)
                hs.append(h)
            loss = sum(((h_t * h_t).sum() for h_t in hs), tg.Tensor(np.zeros(())))
            loss.backward()
            keep[:] = hs
            return loss
        return step

    eager_hs, compiled_hs = [], []
    compiled = tg.compile(step_of(cells[1], compiled_hs))
    eager = step_of(cells[0], eager_hs)
    rng = np.random.default_rng(9)
    with tg.record_edge_grads(False):
        for _ in range(3):
            x = rng.standard_normal((2, 4, 3))
            for c in cells:
                c.zero_grad()
            le, lc = eager(x), compiled(x)
            _close(lc.item(), le.item())
            for pe, pc in zip(cells[0].parameters(), cells[1].parameters()):
                _close(pc.grad, pe.grad)
            held.append(compiled.replays)
    assert held[-1] >= 1
    for he, hc in zip(eager_hs, compiled_hs):
        _close(hc.grad, he.grad)


def test_a_step_mixing_float32_weights_with_float64_inputs_is_replayed_within_float32():
    """Eager runs float32 weights on float64 inputs (numpy promotes). The capture's check
    compared the float32 weights' gradients to float64's 1e-9 and refused the step as if fn
    clipped its gradients; it must replay, equal to eager within float32."""
    tg.manual_seed(13)
    cells = [nn.RNNCell(3, 4), nn.RNNCell(3, 4)]        # float32, the default
    cells[1].load_state_dict(cells[0].state_dict())

    def step_of(cell):
        def step(x):
            h, X = None, tg.Tensor(x)                   # float64
            for t in range(x.shape[1]):
                h = cell(X[:, t], h)
            loss = (h * h).sum()
            loss.backward()
            return loss
        return step

    eager, compiled = step_of(cells[0]), tg.compile(step_of(cells[1]))
    rng = np.random.default_rng(10)
    for _ in range(4):
        x = rng.standard_normal((2, 6, 3))
        for c in cells:
            c.zero_grad()
        le, lc = eager(x), compiled(x)
        np.testing.assert_allclose(lc.item(), le.item(), rtol=1e-5)
        for pe, pc in zip(cells[0].parameters(), cells[1].parameters()):
            assert pc.grad.dtype == pe.grad.dtype == np.float32
            np.testing.assert_allclose(pc.grad, pe.grad, rtol=2e-5, atol=2e-5)
    assert (compiled.captures, compiled.replays) == (2, 2)


class _EmbedNet:
    """Embedding, a recurrent layer started from a given state h_0, a readout."""

    def __init__(self, kind, layers):
        tg.manual_seed(3)
        self.kind, self.emb = kind, nn.Embedding(K, 3)
        self.rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind](3, 5, num_layers=layers)
        self.head = nn.Linear(5, K)
        for p in self.parameters():
            p.data = p.data.astype(np.float64)

    def parameters(self):
        return self.emb.parameters() + self.rnn.parameters() + self.head.parameters()

    def step(self, x, y, h0):
        out, _ = self.rnn(self.emb(x), (h0, h0 * 0.5) if self.kind == "lstm" else h0)
        loss = cross_entropy(self.head(out).reshape(-1, K), y.reshape(-1))
        loss.backward()
        return loss


@settings(max_examples=5, deadline=None)
@given(kind=st.sampled_from(["rnn", "lstm", "gru"]), layers=st.sampled_from([1, 2]),
       plan=st.lists(st.tuples(st.sampled_from([1, 3]), st.sampled_from([1, 4]), st.booleans()),
                     min_size=3, max_size=6))
def test_replay_with_an_embedding_and_a_state_argument_equals_eager_as_shapes_change(kind, layers, plan):
    """The embedding's sparse gradient, ∂E/∂h_0 of a tensor argument, every weight and ∂E/∂h_t,
    through batch sizes 1 and 3, lengths 1 and 4 and both recording modes: eager's, to 1e-12."""
    eager, compiled = _EmbedNet(kind, layers), _EmbedNet(kind, layers)
    step = tg.compile(compiled.step)
    rng = np.random.default_rng(len(plan))
    for B, T, record in plan:
        x, y = rng.integers(0, K, (B, T)), rng.integers(0, K, (B, T))
        h0 = rng.standard_normal((layers, B, 5) if layers > 1 else (B, 5))
        he, hc = tg.Tensor(h0.copy(), requires_grad=True), tg.Tensor(h0.copy(), requires_grad=True)
        for p in eager.parameters() + compiled.parameters():
            p.grad = None
        with tg.record_edge_grads(record):
            le, lc = eager.step(x, y, he), step(x, y, hc)
        _close(lc.item(), le.item())
        _close(hc.grad, he.grad)
        _same(eager, compiled, le, lc)


@pytest.mark.parametrize("order", ["C", "F", "from_torch"])
def test_the_copy_of_a_weight_laid_out_as_its_transpose_is_a_copy_whatever_its_order(order):
    """A weight assigned a Fortran-ordered array (`U.data = M.T`; interop.from_torch makes
    every weight so) is already a contiguous Uᵀ: np.ascontiguousarray(U.T) was U's own
    memory, and the records of x's shares (which keep the copy) changed with the optimizer's step."""
    tg.manual_seed(2)
    if order == "from_torch":
        from tinygrad_rnn.interop import from_torch
        torch.manual_seed(2)
        rnn, head = from_torch(torch.nn.RNN(3, 16, batch_first=True)), from_torch(torch.nn.Linear(16, 4))
        assert rnn.cells[0].U.data.flags.f_contiguous
    else:
        rnn, head = nn.RNN(3, 16), nn.Linear(16, 4)
        U = rnn.cells[0].U
        U.data = np.asfortranarray(U.data) if order == "F" else np.ascontiguousarray(U.data)
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((32, 5, 3)), rng.integers(0, 4, (32, 5))
    loss = _rnn_loss(rnn, x, y, head)
    loss.backward()
    _recorded_shares_survive_an_optimizer_step(loss, rnn.parameters() + head.parameters())


@pytest.mark.parametrize("record", [True, False])
def test_an_optimizer_step_between_two_backwards_of_one_graph_is_refused(record):
    tg.manual_seed(0)
    rnn, head = nn.RNN(3, 16), nn.Linear(16, 4)
    rng = np.random.default_rng(0)
    loss = _rnn_loss(rnn, rng.standard_normal((32, 5, 3)), rng.integers(0, 4, (32, 5)), head)
    with tg.record_edge_grads(record):
        loss.backward(retain_graph=True)
        tg.optim.SGD(rnn.parameters() + head.parameters(), lr=0.1).step()
        with pytest.raises(InplaceModificationError, match="modified in place"):
            loss.backward()


_UNARY = [lambda t: t.tanh(), lambda t: t.sigmoid(), lambda t: t * 1.5, lambda t: t.T.T,
          lambda t: t[:, :2] if t.shape[1] > 2 else t, lambda t: t.reshape(-1).reshape(t.shape)]


def _random_graph(rng, choices):
    """A small graph of the engine's own ops, drawn from `choices`: adds and products of
    earlier nodes (a node used twice), matmuls with one weight W, stacks and cats, slices."""
    x = tg.Tensor(rng.standard_normal((3, 4)), requires_grad=True, name="x")
    W = tg.Tensor(rng.standard_normal((4, 4)) * 0.5, requires_grad=True, name="W")
    b = tg.Tensor(rng.standard_normal(4), requires_grad=True, name="b")
    nodes = [x]
    for c, i, j in choices:
        a, other = nodes[i % len(nodes)], nodes[j % len(nodes)]
        if c < len(_UNARY):
            new = _UNARY[c](a)
        elif c == len(_UNARY):
            new = a @ W + b if a.shape == (3, 4) else a
        elif c == len(_UNARY) + 1 and a.shape == other.shape:
            new = a * other + a
        elif c == len(_UNARY) + 2 and a.shape == other.shape:
            new = tg.stack([a, other], axis=0)[1] + tg.stack([other, a], axis=1).sum(axis=1)
        elif a.ndim == 2 and a.shape[0] == other.shape[0] and other.ndim == 2:
            new = tg.cat([a, other], axis=1)[:, :a.shape[1]] * 2.0
        else:
            new = a + 1.0
        nodes.append(new)
    loss = sum(((n * n).sum() for n in nodes[1:]), (x * x).sum())
    return (x, W, b), nodes[1:], loss


@settings(max_examples=25, deadline=None)
@given(choices=st.lists(st.tuples(st.integers(0, len(_UNARY) + 3), st.integers(0, 50), st.integers(0, 50)),
                        min_size=1, max_size=10),
       retained=st.sets(st.integers(0, 9)), seed=st.integers(0, 2**16))
def test_unrecorded_backward_keeps_the_recorded_values_where_it_keeps_any(choices, retained, seed):
    """Any small graph: unrecorded, the leaves and the retained tensors hold exactly what the
    recorded pass gives, everything else reads None; a write into one kept gradient changes
    no other."""
    graphs = []
    for record in (True, False):
        leaves, nodes, loss = _random_graph(np.random.default_rng(seed), choices)
        for k in retained:
            if k < len(nodes) and nodes[k].requires_grad:
                nodes[k].retain_grad()
        with tg.record_edge_grads(record):
            loss.backward()
        graphs.append((leaves, nodes))
    (leaves_on, nodes_on), (leaves_off, nodes_off) = graphs
    for on, off in zip(leaves_on, leaves_off):
        assert (off.grad is None) == (on.grad is None), off.name     # W, b: unused in some graphs
        if on.grad is not None:
            np.testing.assert_allclose(off.grad, on.grad, **TOL)
    kept = []
    for on, off in zip(nodes_on, nodes_off):
        if off.retains_grad:
            np.testing.assert_allclose(off.grad, on.grad, err_msg=off.name, **TOL)
            kept.append(off)
        else:
            assert kept_grad(off) is None, off.name
    kept += [t for t in leaves_off if t.grad is not None]
    copies = [np.array(t.grad) for t in kept]
    for t in kept:
        t.grad[...] = 7e7
        for u, c in zip(kept, copies):
            if u is not t and not np.all(u.grad == 7e7):
                np.testing.assert_array_equal(u.grad, c, err_msg=f"{t.name} -> {u.name}")


# ---- readers of the edge records -------------------------------------------------------
def test_param_edge_grads_after_an_unrecorded_backward_is_refused_not_empty():
    """analysis.param_edge_grads returns the terms Σ_t of ∂E/∂U from the edge records; after a
    backward() under record_edge_grads(False) there are none, and it returned {} (a sum of
    nothing, not U.grad) without a word. It must say why, naming the op and the scope."""
    from tinygrad_rnn import analysis
    from tinygrad_rnn.errors import GraphError
    tg.manual_seed(0)
    rnn = nn.RNN(3, 4)
    for p in rnn.parameters():
        p.data = p.data.astype(np.float64)
    out, _ = rnn(tg.Tensor(np.random.default_rng(0).standard_normal((2, 5, 3))))
    loss = (out * out).sum()
    with pytest.raises(GraphError, match=r"matmul.*rnn/t=\d.*record_edge_grads"):
        analysis.param_edge_grads(loss, rnn.cells[0].U)              # no backward() yet
    with tg.record_edge_grads(False):
        loss.backward(retain_graph=True)
    with pytest.raises(GraphError, match=r"matmul.*rnn/t=\d.*record_edge_grads"):
        analysis.param_edge_grads(loss, rnn.cells[0].U)
    loss.backward()                                                  # recorded: the terms, summed
    terms = analysis.param_edge_grads(loss, rnn.cells[0].U)
    assert len(terms) == 5
    np.testing.assert_allclose(sum(terms.values()), rnn.cells[0].U.grad / 2, **TOL)
