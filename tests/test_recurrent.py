"""RNN, LSTM and GRU layers: BPTT by backward() equals the hand-written numpy BPTT.

The oracles in benchmarks/numpy_bptt.py write every gradient out from the course's
formulas. Here the same problem (float64, B=2, T=5, D=3, H=4, readout V (H, K),
cross-entropy mean over the B*T positions) runs through our layers, and every
parameter gradient, the initial-state gradients, and ∂E/∂h_t (∂E/∂C_t) at every
step must agree to 1e-10. Then: gradcheck on each cell, scopes and names, the
`states` weak references, parameter layout and initialisation, and every error.
"""

import gc
import weakref

import numpy as np
import pytest
from helpers import graph_nodes

import tinygrad_rnn as tg
from benchmarks.numpy_bptt import gru_forward_backward, lstm_forward_backward, rnn_forward_backward
from tinygrad_rnn import nn

B, T, D, H, K = 2, 5, 3, 4, 3
TOL = dict(rtol=1e-10, atol=1e-12)
MODELS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]


def make_layer(model, input_size=D, **kwargs):
    if model.startswith("rnn"):
        return nn.RNN(input_size, H, nonlinearity=model[4:], dtype=np.float64, **kwargs)
    layer_class = {"lstm": nn.LSTM, "gru": nn.GRU}[model]
    return layer_class(input_size, H, dtype=np.float64, **kwargs)


def make_problem(model, seed=0):
    """A layer whose cell holds random weights, the oracle's params dict, x, targets, states."""
    rng = np.random.default_rng(seed)
    layer = make_layer(model)
    params = {name: rng.normal(0, 0.5, p.shape) for name, p in layer.cells[0].named_parameters()}
    for name, p in layer.cells[0].named_parameters():
        p.data = params[name].copy()
    params.update(V=rng.normal(0, 0.5, (H, K)), c=rng.normal(0, 0.1, K))
    x = rng.normal(0, 1, (B, T, D))
    targets = rng.integers(0, K, (B, T))
    states = {"h0": rng.normal(0, 0.5, (B, H))}
    if model == "lstm":
        states["C0"] = rng.normal(0, 0.5, (B, H))
    return layer, params, x, targets, states


def oracle(model, params, x, targets, **states):
    if model.startswith("rnn"):
        return rnn_forward_backward(params, x, targets, nonlinearity=model[4:], **states)
    if model == "lstm":
        return lstm_forward_backward(params, x, targets, **states)
    return gru_forward_backward(params, x, targets, **states)


def sequence_loss(outputs, V, c, targets):
    """E = mean over the B*T positions of -log softmax(h_t V + c)[target_t]."""
    logits = (outputs @ V + c).reshape(B * T, K)              # (B*T, K)
    logp = logits.log_softmax(axis=-1)
    return -logp[np.arange(B * T), targets.reshape(-1)].mean()


def run_ours(model, layer, params, x, targets, states):
    """Forward + backward; returns (loss, outputs, the tensors whose .grad we compare)."""
    V, c = nn.Parameter(params["V"], name="V"), nn.Parameter(params["c"], name="c")
    xt = tg.Tensor(x, requires_grad=True)
    init = {k: tg.Tensor(v, requires_grad=True) for k, v in states.items()}
    if model == "lstm":
        outputs, _ = layer(xt, (init["h0"], init["C0"]) if init else None)
    else:
        outputs, _ = layer(xt, init.get("h0"))
    loss = sequence_loss(outputs, V, c, targets)
    loss.backward()
    leaves = {"V": V, "c": c, "x": xt, **init, **dict(layer.cells[0].named_parameters())}
    return loss, outputs, leaves


# ---------------------------------------------------------------- against the numpy oracle

@pytest.mark.parametrize("model", MODELS)
def test_gradients_match_numpy_bptt(model):
    layer, params, x, targets, states = make_problem(model)
    loss_np, grads, cache = oracle(model, params, x, targets, **states)
    loss, outputs, leaves = run_ours(model, layer, params, x, targets, states)

    np.testing.assert_allclose(loss.item(), loss_np, **TOL)
    np.testing.assert_allclose(outputs.data, cache["hs"], **TOL)
    assert set(leaves) == set(grads)                          # every parameter, x, h0 (C0)
    for name, leaf in leaves.items():
        np.testing.assert_allclose(leaf.grad, grads[name], **TOL, err_msg=f"{model}: ∂E/∂{name}")
    for t in range(1, T + 1):                                 # ∂E/∂h_t, total, at every step
        np.testing.assert_allclose(layer.states[t - 1].grad, cache["dhs"][:, t - 1], **TOL,
                                   err_msg=f"{model}: ∂E/∂h_{t}")
    if model == "lstm":
        for t in range(1, T + 1):
            np.testing.assert_allclose(layer.cell_states[t - 1].grad, cache["dCs"][:, t - 1], **TOL,
                                       err_msg=f"lstm: ∂E/∂C_{t}")


@pytest.mark.parametrize("model", MODELS)
def test_default_initial_state_is_zeros_named_and_constant(model):
    layer, params, x, targets, _ = make_problem(model)
    loss_np, grads, _ = oracle(model, params, x, targets)          # the oracle's h0 = 0 (C0 = 0)
    loss, outputs, leaves = run_ours(model, layer, params, x, targets, {})
    np.testing.assert_allclose(loss.item(), loss_np, **TOL)
    for name, leaf in leaves.items():
        np.testing.assert_allclose(leaf.grad, grads[name], **TOL, err_msg=name)
    initial = [n for n in graph_nodes(outputs) if n.name in ("h_0", "C_0")]
    assert sorted(n.name for n in initial) == (["C_0", "h_0"] if model == "lstm" else ["h_0"])
    for n in initial:
        assert n.shape == (B, H) and not n.requires_grad and not n.data.any()


# ---------------------------------------------------------------- each cell on its own

CELLS = {"rnn_tanh": lambda: nn.RNNCell(D, H, "tanh", dtype=np.float64),
         "rnn_relu": lambda: nn.RNNCell(D, H, "relu", dtype=np.float64),
         "lstm": lambda: nn.LSTMCell(D, H, dtype=np.float64),
         "gru": lambda: nn.GRUCell(D, H, dtype=np.float64)}


@pytest.mark.parametrize("model", MODELS)
def test_gradcheck_cell(model):
    """One step, every input and parameter checked by central differences."""
    tg.manual_seed(1)
    cell = CELLS[model]()
    names = [name for name, _ in cell.named_parameters()]
    rng = np.random.default_rng(2)
    states = [rng.normal(size=(B, H)) for _ in range(2 if model == "lstm" else 1)]   # h (, C)
    x = rng.normal(size=(B, D))

    def step(x, *states_and_params):
        states, params = states_and_params[:-len(names)], states_and_params[-len(names):]
        for name, p in zip(names, params):   # gradcheck's float64 copies become the parameters
            setattr(cell, name, p)
        if model == "lstm":
            return tg.stack(list(cell(x, states)))                # (2, B, H): h_t and C_t
        return cell(x, states[0])                                 # (B, H)

    assert tg.gradcheck(step, [x, *states] + [p.data for p in cell.parameters()])


@pytest.mark.parametrize("model", MODELS)
def test_cell_without_state_starts_from_zeros(model):
    cell, x = CELLS[model](), np.random.default_rng(0).normal(size=(B, D))
    zeros = np.zeros((B, H))
    if model == "lstm":
        (h1, C1), (h2, C2) = cell(x), cell(x, (tg.Tensor(zeros), tg.Tensor(zeros)))
        np.testing.assert_allclose(C1.data, C2.data, **TOL)
    else:
        h1, h2 = cell(x), cell(x, tg.Tensor(zeros))
    np.testing.assert_allclose(h1.data, h2.data, **TOL)          # two code paths: to rounding


def test_rnn_cell_equation_and_bias_false():
    cell, rng = nn.RNNCell(D, H, "relu", bias=False, dtype=np.float64), np.random.default_rng(0)
    assert [name for name, _ in cell.named_parameters()] == ["W", "U"]
    x, h = rng.normal(size=(B, D)), rng.normal(size=(B, H))
    expected = np.maximum(x @ cell.W.data + h @ cell.U.data, 0)     # h_t = relu(x_t W + h_{t-1} U)
    np.testing.assert_allclose(cell(x, h).data, expected, **TOL)                 # numpy state too


# ---------------------------------------------------------------- scopes, names, states

@pytest.mark.parametrize("model", MODELS)
def test_every_step_runs_in_its_scope(model):
    layer, _, x, _, _ = make_problem(model)
    outputs, _ = layer(x)
    name = layer.name
    assert name == model.split("_")[0]
    assert [h.scope for h in layer.states] == [f"{name}/t={t}" for t in range(1, T + 1)]
    step_scopes = {n.scope for n in graph_nodes(outputs) if n.scope}
    assert step_scopes == {f"{name}/t={t}" for t in range(1, T + 1)}


@pytest.mark.parametrize("model, names", [
    ("rnn_tanh", {"h_t"}),
    ("lstm", {"z_t", "f_t", "i_t", "C̃_t", "o_t", "C_t", "h_t"}),
    ("gru", {"r_t", "z_t", "n_t", "h_t"}),
])
def test_tensors_carry_the_course_names(model, names):
    layer, _, x, _, _ = make_problem(model)
    outputs, _ = layer(x)
    nodes = graph_nodes(outputs)
    for t in range(1, T + 1):
        in_step = {n.name for n in nodes if n.scope == f"{layer.name}/t={t}"}
        assert names <= in_step, f"t={t}: missing {names - in_step}"
    assert all(h.name == "h_t" for h in layer.states)


def test_custom_name_multi_layer_and_outer_scope():
    rnn = nn.RNN(D, H, num_layers=2, name="encoder")
    with tg.scope("model"):
        outputs, _ = rnn(np.ones((B, T, D)))
    scopes = {n.scope for n in graph_nodes(outputs)}
    assert "model/encoder/t=3/layer=0" in scopes and "model/encoder/t=3/layer=1" in scopes
    assert rnn.states[2].scope == "model/encoder/t=3/layer=1"     # states: the last layer


def test_states_are_the_live_graph_tensors_and_do_not_outlive_it():
    rnn = nn.RNN(D, H)
    with pytest.raises(RuntimeError, match="RNN 'rnn'.*run a forward pass first"):
        _ = rnn.states
    outputs, h_T = rnn(np.ones((B, T, D)))
    assert len(rnn.states) == T and rnn.states[-1] is h_T
    np.testing.assert_array_equal(rnn.states[1].data, outputs.data[:, 1])
    probe = weakref.ref(rnn.states[0])
    del outputs, h_T
    gc.collect()
    assert probe() is None, "the layer kept the graph alive"
    with pytest.raises(RuntimeError, match="freed with the outputs"):
        _ = rnn.states


def test_states_under_no_grad_point_to_outputs():
    lstm = nn.LSTM(D, H)
    with tg.no_grad():
        outputs, _ = lstm(np.ones((B, T, D)))
    gc.collect()
    with pytest.raises(RuntimeError, match=r"outputs\[:, t-1\]"):
        _ = lstm.cell_states


# ---------------------------------------------------------------- layers: layout, init, shapes

def test_parameter_names_and_shapes():
    shapes = {n: p.shape for n, p in nn.LSTM(D, H, num_layers=2).named_parameters()}
    assert len(shapes) == 16
    assert shapes["cells.0.W_f"] == (H + D, H) and shapes["cells.1.W_o"] == (2 * H, H)
    assert shapes["cells.1.b_c"] == (H,)
    rnn = dict(nn.RNN(D, H).named_parameters())
    assert {n: p.shape for n, p in rnn.items()} == {"cells.0.W": (D, H), "cells.0.U": (H, H),
                                                    "cells.0.b": (H,)}
    assert rnn["cells.0.U"].name == "U"
    gru = dict(nn.GRU(D, H).named_parameters())
    assert sorted(n.split(".")[-1] for n in gru) == sorted(
        ["W_r", "W_z", "W_n", "U_r", "U_z", "U_n", "b_ir", "b_iz", "b_in", "b_hr", "b_hz", "b_hn"])
    assert gru["cells.0.W_n"].shape == (D, H) and gru["cells.0.U_n"].shape == (H, H)


@pytest.mark.parametrize("model", MODELS)
def test_init_is_torch_uniform_seeded_and_typed(model):
    tg.manual_seed(3)
    first = make_layer(model).state_dict()
    tg.manual_seed(3)
    again = make_layer(model).state_dict()
    for name, value in first.items():
        np.testing.assert_array_equal(value, again[name])
        assert np.abs(value).max() <= 1 / np.sqrt(H) and value.std() > 0, name
    default = nn.GRU(D, H) if model == "gru" else nn.LSTM(D, H) if model == "lstm" else nn.RNN(D, H)
    assert all(p.dtype == np.float32 for p in default.parameters())
    assert all(p.dtype == np.float64 for p in make_layer(model).parameters())
    outputs, _ = default(np.ones((B, T, D)))                      # a float64 array is converted
    assert outputs.dtype == np.float32 and outputs.shape == (B, T, H)


@pytest.mark.parametrize("model", MODELS)
def test_two_layers_are_two_single_layers_chained(model):
    tg.manual_seed(0)
    deep, x = make_layer(model, num_layers=2), np.random.default_rng(0).normal(size=(B, T, D))
    outputs, final = deep(x)
    lower, upper = make_layer(model), make_layer(model, input_size=H)
    lower.cells, upper.cells = [deep.cells[0]], [deep.cells[1]]   # the same cells, one per layer
    mid, first = lower(x)
    top, second = upper(mid)
    np.testing.assert_allclose(outputs.data, top.data, **TOL)
    if model == "lstm":
        final, first, second = final[1], first[1], second[1]      # compare C_T, (2, B, H)
    assert final.shape == (2, B, H)
    np.testing.assert_allclose(final.data, np.stack([first.data, second.data]), **TOL)


def test_initial_state_layouts_and_gradients():
    rnn, x = nn.RNN(D, H, dtype=np.float64), np.random.default_rng(0).normal(size=(B, T, D))
    h0 = np.random.default_rng(1).normal(size=(B, H))
    a, _ = rnn(x, h0)                                            # (B, H), numpy
    b, _ = rnn(x, tg.Tensor(h0[None]))                           # (1, B, H), PyTorch's layout
    np.testing.assert_allclose(a.data, b.data, **TOL)
    deep = nn.LSTM(D, H, num_layers=2, dtype=np.float64)
    h0, C0 = (tg.Tensor(np.ones((2, B, H)), requires_grad=True) for _ in range(2))
    outputs, (h_T, C_T) = deep(x, (h0, C0))
    (outputs.sum() + C_T.sum()).backward()
    assert h0.grad.shape == C0.grad.shape == (2, B, H) and np.abs(h0.grad[0]).sum() > 0
    single, _ = nn.GRU(D, H)(np.ones((B, 1, D)))                 # T = 1 is a sequence too
    assert single.shape == (B, 1, H)


# ---------------------------------------------------------------- errors

def test_unknown_nonlinearity_lists_the_choices():
    with pytest.raises(ValueError, match="RNNCell: unknown nonlinearity 'gelu'; "
                                         "choose one of 'tanh', 'relu'"):
        nn.RNNCell(D, H, nonlinearity="gelu")
    with pytest.raises(ValueError, match="'relu', 'sigmoid'"):
        nn.RNN(D, H, nonlinearity="softplus")
    with pytest.raises(ValueError, match="num_layers must be >= 1, got 0"):
        nn.LSTM(D, H, num_layers=0)


@pytest.mark.parametrize("model", MODELS)
def test_input_errors_name_the_layer_and_shapes(model):
    layer = make_layer(model)
    who = f"{type(layer).__name__} '{layer.name}'"
    with pytest.raises(tg.ShapeError, match=rf"{who}: expected an input \(B, T, D\) = \(batch, time, "
                                            r"features\), or one sequence \(T, D\), got shape "
                                            r"\(1, 2, 5, 3\)"):
        layer(np.ones((1, B, T, D)))
    with pytest.raises(tg.ShapeError, match=rf"{who}: input of shape \(2, 5, 7\) has 7 features, "
                                            r"but the layer was built with input_size=3"):
        layer(np.ones((B, T, 7)))
    with pytest.raises(tg.ShapeError, match=rf"{who}: input of shape \(2, 0, 3\) has no time steps"):
        layer(np.ones((B, 0, D)))


@pytest.mark.parametrize("model", MODELS)
def test_initial_state_errors(model):
    layer, x = make_layer(model), np.ones((B, T, D))
    who = f"{type(layer).__name__} '{layer.name}'"

    def call(h0, C0=None):
        if model == "lstm":
            return layer(x, (h0, np.zeros((B, H)) if C0 is None else C0))
        return layer(x, h0)

    with pytest.raises(tg.ShapeError, match=rf"{who}: the initial state h_0 has batch size 3 "
                                            r"\(shape \(3, 4\)\) but the input has batch size 2 "
                                            r"\(shape \(2, 5, 3\)\)"):
        call(np.zeros((3, H)))
    with pytest.raises(tg.ShapeError, match=rf"{who}: the initial state h_0 has shape \(2, 5\); expected "
                                            r"\(num_layers, B, H\) = \(1, 2, 4\) or \(B, H\) = \(2, 4\)"):
        call(np.zeros((B, 5)))
    if model == "lstm":
        with pytest.raises(tg.ShapeError, match=r"initial state C_0 has batch size 1"):
            call(np.zeros((B, H)), np.zeros((1, H)))
        with pytest.raises(TypeError, match=r"LSTM 'lstm': the initial state must be a pair \(h_0, C_0\)"):
            layer(x, np.zeros((B, H)))


def test_multi_layer_state_must_have_a_layer_axis():
    deep = nn.GRU(D, H, num_layers=2)
    with pytest.raises(tg.ShapeError, match=r"GRU 'gru': the initial state h_0 has shape \(2, 4\); "
                                            r"expected \(num_layers, B, H\) = \(2, 2, 4\)$"):
        deep(np.ones((B, T, D)), np.zeros((B, H)))


@pytest.mark.parametrize("model", MODELS)
def test_cell_errors_name_the_time_step(model):
    """Called in a user's own loop, a cell's error says which step (the scope) failed."""
    cell, x_t = CELLS[model](), np.ones((B, D))
    bad = tg.Tensor(np.zeros((B, H + 1)))
    state = (bad, tg.Tensor(np.zeros((B, H)))) if model == "lstm" else bad
    with tg.scope("rnn/t=3"):
        with pytest.raises(tg.ShapeError, match=r"state h_\{t-1\} has shape \(2, 5\), expected "
                                                r"\(B, hidden_size\) = \(2, 4\).*in scope 'rnn/t=3'"):
            cell(x_t, state)
        with pytest.raises(tg.ShapeError, match=r"x_t has shape \(2, 7\), expected \(B, input_size\) = "
                                                r"\(B, 3\) in scope 'rnn/t=3'"):
            cell(np.ones((B, 7)))
