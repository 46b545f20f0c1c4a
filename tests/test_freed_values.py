"""Values no backward rule reads, freed by the recurrent layers under record_edge_grads(False).

Each op's row in ops.py says what its VJPs read (`saves`, PyTorch's saved tensors). As each
time step ends, the sequence layers free the values of their own intermediates that
nothing reads (memory.free_unread): x_t W, h_{t-1} U, their sum and the sum + b of an
RNN step. The gradients must not change by a bit, every read of a freed value must raise a
ValuesFreedError naming the tensor, and nothing is freed where something may read them.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import memory, ops
from tinygrad_rnn.autograd import walk
from tinygrad_rnn.errors import ValuesFreedError
from tinygrad_rnn.memory import FreedValues, is_freed
from tinygrad_rnn.sparse import LazyGrad

B, T, D, H = 2, 5, 3, 4
TOL = dict(rtol=1e-12, atol=1e-12)


@pytest.fixture(autouse=True)
def _every_size(monkeypatch):
    """These layers are small: free their values as a pass of 64 KiB or more would be."""
    monkeypatch.setattr(memory, "FREED_PASS_BYTES", 0)


def _layer(kind="rnn", **options):
    tg.manual_seed(0)
    make = {"rnn": tg.nn.RNN, "lstm": tg.nn.LSTM, "gru": tg.nn.GRU}[kind]
    return make(D, H, dtype=np.float64, **options)


def _x(seed=1):
    return np.random.default_rng(seed).normal(size=(B, T, D))


def _run(layer, record, loss_on="outputs", retain=False):
    """One forward and backward; the loss, the parameters' and the states' gradients, the graph."""
    with tg.record_edge_grads(record):
        tg.manual_seed(5)                                 # the same dropout masks in both runs
        layer.zero_grad()
        outputs, _ = layer(_x())
        if loss_on == "states":                           # a loss on layer.states, not the outputs
            loss = sum(((h * h).sum() for h in layer.states[1:]), layer.states[0].sum())
        else:
            loss = (outputs * outputs).mean() + outputs.sum()
        loss.backward(retain_graph=retain)
        if retain:                                        # a second backward through the same graph
            loss.backward()
        grads = {n: p.grad.copy() for n, p in layer.named_parameters() if p.grad is not None}
        states = [h.grad.copy() for h in layer.states]
        return loss.item(), grads, states, walk(loss)


CASES = [
    ("rnn", {}), ("lstm", {}), ("gru", {}),
    ("rnn", {"num_layers": 2}), ("lstm", {"num_layers": 2}), ("gru", {"bidirectional": True}),
    ("rnn", {"bidirectional": True, "num_layers": 2}), ("rnn", {"nonlinearity": "relu"}),
    ("rnn", {"nonlinearity": "sigmoid"}), ("lstm", {"num_layers": 2, "dropout": 0.5}),
    ("rnn", {"bias": False}),
]


@pytest.mark.parametrize("kind, options", CASES)
@pytest.mark.parametrize("loss_on, retain", [("outputs", False), ("outputs", True), ("states", False)])
def test_gradients_are_the_same_as_with_every_value_kept(kind, options, loss_on, retain):
    loss_on_, grads_on, states_on, graph_on = _run(_layer(kind, **options), True, loss_on, retain)
    loss_off, grads_off, states_off, graph_off = _run(_layer(kind, **options), False, loss_on, retain)
    assert not any(is_freed(t) for t in graph_on)
    assert any(is_freed(t) for t in graph_off)            # the test must test something
    np.testing.assert_allclose(loss_off, loss_on_, **TOL)
    assert grads_on and grads_off.keys() == grads_on.keys()
    for name in grads_on:
        np.testing.assert_allclose(grads_off[name], grads_on[name], **TOL, err_msg=name)
    for t, (a, b) in enumerate(zip(states_off, states_on), start=1):
        np.testing.assert_allclose(a, b, **TOL, err_msg=f"∂E/∂h_{t}")


def _freed_graph(kind="rnn"):
    layer = _layer(kind)
    with tg.record_edge_grads(False):
        outputs, final = layer(_x())
        loss = (outputs * outputs).sum()
        loss.backward()
    return layer, outputs, final, loss


def test_an_rnn_step_frees_the_four_arrays_under_its_tanh():
    # x_t W, h_{t-1} U, their sum, the sum + b: tanh reads only h_t, matmul its inputs, add nothing.
    layer, outputs, _, loss = _freed_graph()
    freed = [t for t in walk(loss) if is_freed(t)]
    assert len(freed) == 4 * T
    assert sorted({t.op for t in freed}) == ["add", "matmul"]
    for h in layer.states:
        assert not is_freed(h) and h.op == "tanh"
        a_t = h.parents[0]                                # x_t W + h_{t-1} U + b
        assert is_freed(a_t) and is_freed(a_t.parents[0])
        assert [is_freed(p) for p in a_t.parents[0].parents] == [True, True]


def test_backward_from_a_freed_intermediate_needs_none_of_its_values():
    # a_3 = x_3 W + h_2 U + b is freed, but add's rule reads nothing: backward from it works
    # and gives the parameters' gradients of the run that kept every value.
    grads = {}
    for record in (True, False):
        layer = _layer()
        with tg.record_edge_grads(record):
            outputs, _ = layer(_x())                      # held: the states live while it does
            a_3 = layer.states[2].parents[0]
            assert is_freed(a_3) is not record
            a_3.backward(np.ones((B, H)))
        grads[record] = {n: p.grad.copy() for n, p in layer.named_parameters()}
    assert grads[True].keys() == grads[False].keys() and grads[True]
    for name in grads[True]:
        np.testing.assert_allclose(grads[False][name], grads[True][name], **TOL, err_msg=name)


def test_the_freed_bytes_are_gone_from_the_graph():
    # The bytes the graph's arrays hold, counted once per array: four (B, H) arrays a step fewer.
    def held(graph):
        return sum(t._data.nbytes for t in graph if not is_freed(t) and t._data.base is None)
    on = _run(_layer(), True)[3]
    off = _run(_layer(), False)[3]
    assert held(on) - held(off) == 4 * T * B * H * 8
    layer = _layer()
    with tg.record_edge_grads(False):
        since = memory.pass_start(T * B * H * 8)          # the outputs' bytes
        with memory.gc_paused():
            outputs, h = layer._unroll(_x(), None)        # freed already, by the layer itself
    assert memory.free_unread((outputs, h), since) == 0


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_a_pass_below_64_kib_of_outputs_keeps_every_value(kind, monkeypatch):
    # Finding a small step's unread values costs more time than their bytes are worth: the
    # layers and Linear keep them below memory.FREED_PASS_BYTES of outputs, and free at it.
    def freed(batch, steps):
        tg.manual_seed(0)
        layer, readout = _layer(kind), tg.nn.Linear(H, 2, dtype=np.float64)
        x = np.random.default_rng(0).standard_normal((batch, steps, D))
        with tg.record_edge_grads(False):
            loss = readout(layer(x)[0]).sum()
        return sum(is_freed(t) for t in walk(loss))
    monkeypatch.setattr(memory, "FREED_PASS_BYTES", 2**16)
    small = 2**16 // (H * 8)                              # B * T steps of (H,) float64 rows: 64 KiB
    assert freed(1, small - 1) == 0
    assert freed(1, small) > 0 and freed(2, small // 2) > 0


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_every_read_of_a_freed_value_says_so(kind):
    layer, outputs, _, loss = _freed_graph(kind)
    freed = [t for t in walk(loss) if is_freed(t)]
    assert freed
    W = tg.Tensor(np.ones((H, 2)))
    reads = {
        ".data": lambda t: t.data, ".numpy()": lambda t: t.numpy(), "np.asarray": np.asarray,
        "np.array": lambda t: np.array(t, dtype=np.float32), "op input": lambda t: t + 1,
        "matmul": lambda t: t @ W, "tanh": lambda t: t.tanh(), "reshape": lambda t: t.reshape(-1),
        "getitem": lambda t: t[0], "cat": lambda t: tg.cat([t, t]), "sum": lambda t: t.sum(),
        ".tolist()": lambda t: t.tolist(),
    }
    for t in freed:
        for what, read in reads.items():
            with pytest.raises(ValuesFreedError) as caught:
                read(t)
            message = str(caught.value)
            assert f"'{t.name}'" in message and f"'{t.scope}'" in message, (what, message)
            assert str(t.shape) in message and "record_edge_grads" in message, (what, message)
        assert t.shape == (B, H) and t.dtype == np.float64 and t.ndim == 2 and len(t) == B
        text = repr(t)                                    # repr never raises: it says what is gone
        assert "values freed" in text and t.scope in text and str(t.shape) in text


def test_item_of_a_freed_scalar_step_raises_naming_it():
    tg.manual_seed(0)
    rnn = tg.nn.RNN(1, 1, dtype=np.float64)
    with tg.record_edge_grads(False):
        outputs, _ = rnn(np.ones((1, 3, 1)))
    a_3 = rnn.states[2].parents[0]
    with pytest.raises(ValuesFreedError, match=r"'add' \(shape \(1, 1\), float64\) in scope 'rnn/t=3'"):
        a_3.item()


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_states_outputs_and_inputs_stay_readable(kind):
    layer, outputs, final, loss = _freed_graph(kind)
    assert outputs.data.shape == (B, T, H) and np.isfinite(outputs.numpy()).all()
    for t, h in enumerate(layer.states, start=1):         # h_t is the outputs' step t, and readable
        np.testing.assert_array_equal(h.data, outputs.data[:, t - 1])
        assert h.grad.shape == (B, H)
    if kind == "lstm":
        assert all(np.isfinite(C.data).all() for C in layer.cell_states)
        final = final[0]
    np.testing.assert_array_equal(final.data, outputs.data[:, -1])
    assert float(loss.item()) > 0
    for t in walk(loss):                                  # what a rule reads is always there
        if t._op is not None and not is_freed(t):
            assert isinstance(t.data, np.ndarray)
        for i, p in enumerate(t.parents):
            if t._op is not None and memory._reads(t._op, i):
                assert not is_freed(p), (t.op, i, p.name)


def test_nothing_is_freed_where_the_values_may_be_read():
    x = _x()

    def freed(layer):
        outputs, _ = layer(x)
        return sum(is_freed(t) for t in walk(outputs))

    assert freed(_layer()) == 0                           # recorded edges: the pictures show values
    with tg.record_edge_grads(False):
        assert freed(_layer()) > 0
        with tg.no_grad():
            assert freed(_layer()) == 0
        with tg.detect_anomaly():
            assert freed(_layer()) == 0
        layer = _layer()
        graphs = []

        def step():
            outputs, _ = layer(x)
            loss = (outputs * outputs).sum()
            loss.backward()
            graphs.append(walk(loss))
            return loss

        compiled = tg.compile(step)
        compiled()                                        # captured: the tape reads every value
        compiled()
        assert graphs and not any(is_freed(t) for g in graphs for t in g)


def test_backward_under_detect_anomaly_after_a_freeing_forward():
    layer = _layer()
    with tg.record_edge_grads(False):
        outputs, _ = layer(_x())
        with tg.detect_anomaly():
            (outputs * outputs).sum().backward()
    assert np.isfinite(layer.cells[0].U.grad).all()


def test_gradcheck_of_a_layer_under_recording_off():
    layer = _layer()
    with tg.record_edge_grads(False):
        assert tg.gradcheck(lambda x: layer(x)[0], [_x()[:, :3]])


@pytest.mark.parametrize("level", ["op", "cell"])
def test_the_renderer_draws_a_graph_whose_values_were_freed(level):
    layer, outputs, _, loss = _freed_graph()
    source = tg.viz.draw_graph(loss, level=level).source
    assert "h_3" in source or "t=3" in source
    if level == "op":
        assert "freed (backward() does not read it)" in source


def _placeholder(a):
    return FreedValues(a.shape, a.dtype)


def _dense(share):
    return share.dense() if isinstance(share, LazyGrad) else np.asarray(share)


# (op, inputs, params): every op with a VJP, on inputs inside its domain.
_rng = np.random.default_rng(3)
_P = _rng.uniform(0.5, 2.0, size=(3, 4))
ROWS = [
    (ops.add, [_P, _P[0]], {}), (ops.sub, [_P, _P], {}), (ops.mul, [_P, _P + 1], {}),
    (ops.div, [_P, _P + 1], {}), (ops.neg, [_P], {}), (ops.pow, [_P, _P], {}),
    (ops.matmul, [_P, _P.T], {}), (ops.exp, [_P], {}), (ops.log, [_P], {}), (ops.tanh, [_P], {}),
    (ops.sigmoid, [_P], {}), (ops.abs, [_P - 1.25], {}), (ops.sqrt, [_P], {}),
    (ops.clamp, [_P, ], {"lo": 0.8, "hi": 1.5}), (ops.relu, [_P - 1.25], {}),
    (ops.sum, [_P], {"axis": 1, "keepdims": False}), (ops.max, [_P], {"axis": 0, "keepdims": False}),
    (ops.min, [_P], {"axis": None, "keepdims": False}), (ops.softmax, [_P], {"axis": -1}),
    (ops.log_softmax, [_P], {"axis": -1}), (ops.reshape, [_P], {"shape": (4, 3)}),
    (ops.transpose, [_P], {"axes": (1, 0)}), (ops.getitem, [_P], {"index": (slice(None), 1)}),
    (ops.astype, [_P], {"dtype": np.float32}), (ops.cat, [_P, _P, _P], {"axis": 1}),
    (ops.stack, [_P, _P], {"axis": 0}),
]


def _vjps(op, xs, y, g, params):
    return [_dense(op.vjp(i, g, y, xs, params)) for i in range(len(xs))]


def test_every_op_with_a_gradient_is_in_the_table():
    with_vjps = {v.name for v in vars(ops).values() if isinstance(v, ops.Op) and v.vjps}
    assert with_vjps == {op.name for op, _, _ in ROWS}


@pytest.mark.parametrize("op, xs, params", ROWS, ids=[op.name for op, _, _ in ROWS])
def test_an_ops_rules_read_nothing_it_does_not_save(op, xs, params):
    # What `saves` leaves out is replaced by a FreedValues: every rule still gives the same share.
    y = op.forward(*xs, **params)
    g = _rng.normal(size=np.shape(y))
    want = _vjps(op, xs, y, g, params)
    kept = [x if memory._reads(op, i) else _placeholder(x) for i, x in enumerate(xs)]
    got = _vjps(op, kept, y if "y" in op.saves else _placeholder(np.asarray(y)), g, params)
    for i, (a, b) in enumerate(zip(got, want)):
        np.testing.assert_array_equal(a, b, err_msg=f"{op.name} input {i}")


@pytest.mark.parametrize("op, xs, params", ROWS, ids=[op.name for op, _, _ in ROWS])
def test_an_ops_rules_read_everything_it_saves(op, xs, params):
    # And nothing is saved for nothing: each value `saves` names is read by some rule.
    y = op.forward(*xs, **params)
    g = _rng.normal(size=np.shape(y))
    saved = [("y", None)] if "y" in op.saves else []
    saved += [("x", i) for i in range(len(xs)) if memory._reads(op, i)]
    assert op.saves in ("", "x", "y", "xy", "by")
    for what, i in saved:
        ys = _placeholder(np.asarray(y)) if what == "y" else y
        inputs = [_placeholder(x) if j == i else x for j, x in enumerate(xs)]
        with pytest.raises(ValuesFreedError):
            _vjps(op, inputs, ys, g, params)


def test_each_step_is_freed_before_the_next_one_runs():
    # So a step's values never all exist at once (the forward pass's end was a long unroll's peak).
    layer = _layer()
    step, seen = layer.cells[0].step, []

    def watched(x_t, state):
        if state[0].op is not None:                       # h_{t-1} of the step before: tanh(a_{t-1})
            seen.append(is_freed(state[0].parents[0]))
        return step(x_t, state)

    layer.cells[0].step = watched
    with tg.record_edge_grads(False):
        layer(_x())
    assert seen == [True] * (T - 1)
