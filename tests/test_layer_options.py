"""The cells as their equations, and the sequence layers' torch options on our side:
scopes of the backward direction, unbatched input, state layouts, bias=False,
finite-difference gradients of the new paths (float64), and the errors."""

import numpy as np
import pytest
from helpers import graph_nodes

import tinygrad_rnn as tg
from tinygrad_rnn import nn

B, T, D, H = 2, 4, 3, 2
TOL = dict(rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- cells

def test_named_sets_the_label_and_chains():
    x = tg.Tensor(np.ones(3))
    y = (x * 2).named("y_t")
    assert y.name == "y_t" and (x * 2).named("a").named("b").name == "b"


def test_lstm_hidden_rows_are_the_block_on_h():
    """z_t W = h_{t-1} W[hidden_rows] + x_t W[input_rows]: the rows cli.py rescales."""
    cell, rng = nn.LSTMCell(D, H, dtype=np.float64), np.random.default_rng(0)
    h, x = rng.normal(size=(B, H)), rng.normal(size=(B, D))
    W = cell.W_f.data
    np.testing.assert_allclose(np.concatenate([h, x], axis=1) @ W,
                               h @ W[cell.hidden_rows] + x @ W[cell.input_rows], **TOL)
    assert W[cell.hidden_rows].shape == (H, H) and W[cell.input_rows].shape == (D, H)


@pytest.mark.parametrize("make", [lambda: nn.RNNCell(D, H, dtype=np.float64),
                                  lambda: nn.LSTMCell(D, H, dtype=np.float64),
                                  lambda: nn.GRUCell(D, H, dtype=np.float64)])
def test_call_checks_then_runs_forward(make):
    """cell(x_t, state) converts numpy and fills zeros, then is exactly forward()."""
    cell, rng = make(), np.random.default_rng(1)
    x = rng.normal(size=(B, D))
    zeros = tuple(tg.Tensor(np.zeros((B, H))) for _ in cell.state_names)
    via_call = cell.as_tuple(cell(x))
    direct = cell.step(tg.Tensor(x), zeros)
    for a, b in zip(via_call, direct, strict=True):
        np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("cls, biases", [(nn.LSTMCell, ["b_f", "b_i", "b_c", "b_o"]),
                                         (nn.GRUCell, ["b_ir", "b_iz", "b_in", "b_hr", "b_hz", "b_hn"]),
                                         (nn.RNNCell, ["b"])])
def test_bias_false_has_no_bias_parameters(cls, biases):
    with_bias, without = cls(D, H), cls(D, H, bias=False)
    assert set(dict(with_bias.named_parameters())) - set(dict(without.named_parameters())) == set(biases)
    assert not without.bias and not any(k.startswith("b") for k in without.state_dict())
    for name in biases:                   # a constant zero keeps the equation line as written
        b = getattr(without, name)
        assert not b.requires_grad and not b.data.any() and b.name == name


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU, nn.RNNCell, nn.LSTMCell, nn.GRUCell])
def test_degenerate_sizes_are_refused_as_torch(cls):
    with pytest.raises(ValueError, match="hidden_size must be >= 1, got 0"):
        cls(3, 0)
    with pytest.raises(ValueError, match="input_size must be >= 1, got 0"):
        cls(0, 4)


# ---------------------------------------------------------------- scopes and states

def test_bidirectional_scopes_and_reverse_states():
    lstm = nn.LSTM(D, H, num_layers=2, bidirectional=True)
    outputs, (h, C) = lstm(np.ones((B, T, D)))
    assert outputs.shape == (B, T, 2 * H) and h.shape == C.shape == (4, B, H)
    scopes = {n.scope for n in graph_nodes(outputs) if n.name == "h_t"}
    assert scopes == {f"lstm{d}/t={t}/layer={l}" for d in ("", "/reverse")
                      for t in range(1, T + 1) for l in (0, 1)}
    assert [s.scope for s in lstm.reverse_states] == [f"lstm/reverse/t={t}/layer=1" for t in range(1, T + 1)]
    # the backward direction runs t = T .. 1: its h_T is made first, right after h_0
    ticks = [s._tick for s in lstm.reverse_states]
    assert ticks == sorted(ticks, reverse=True)
    np.testing.assert_array_equal(outputs.data[:, :, H:], np.stack([s.data for s in lstm.reverse_states], 1))
    np.testing.assert_array_equal(h.data[3], lstm.reverse_states[0].data)      # last layer, reverse: h_1
    np.testing.assert_array_equal(C.data[3], lstm.reverse_cell_states[0].data)
    assert lstm.reverse_cells[1].W_f.name == "W_f_reverse" and lstm.cells[1].W_f.name == "W_f"
    with pytest.raises(RuntimeError, match="`reverse_states` needs bidirectional=True"):
        _ = nn.RNN(D, H).reverse_states


def test_single_direction_scopes_are_unchanged():
    rnn = nn.RNN(D, H, batch_first=False)
    outputs, _ = rnn(np.ones((T, B, D)))
    assert outputs.shape == (T, B, H)
    assert {n.scope for n in graph_nodes(outputs) if n.scope} == {f"rnn/t={t}" for t in range(1, T + 1)}


@pytest.mark.parametrize("layout, shape", [("course", (H,)), ("torch", (1, H))])
def test_unbatched_input_and_state_layouts(layout, shape):
    tg.manual_seed(0)
    gru = nn.GRU(D, H, state_layout=layout, dtype=np.float64)
    x = np.random.default_rng(0).normal(size=(T, D))
    h0 = np.random.default_rng(1).normal(size=shape)
    outputs, h_T = gru(x, h0)
    assert outputs.shape == (T, H) and h_T.shape == shape
    batched, h_b = gru(x[None], h0.reshape(1, H) if layout == "course" else h0.reshape(1, 1, H))
    np.testing.assert_allclose(outputs.data, batched.data[0], **TOL)
    np.testing.assert_allclose(h_T.data.reshape(-1), h_b.data.reshape(-1), **TOL)
    with pytest.raises(tg.ShapeError, match=r"GRU 'gru': the initial state h_0 of an unbatched input has "
                                            r"shape \(2, 2\); expected \(num_layers, H\) = \(1, 2\)"):
        gru(x, np.zeros((B, H)))


def test_torch_layout_for_one_layer_and_course_layout_for_many():
    x = np.ones((B, T, D))
    assert nn.RNN(D, H, state_layout="torch")(x)[1].shape == (1, B, H)
    assert nn.RNN(D, H)(x)[1].shape == (B, H)
    assert nn.RNN(D, H, bidirectional=True)(x)[1].shape == (2, B, H)
    lstm = nn.LSTM(D, H, state_layout="torch")
    out, (h, C) = lstm(x, (np.zeros((1, B, H)), np.zeros((B, H))))      # both layouts accepted in
    assert h.shape == C.shape == (1, B, H)


def test_option_errors():
    with pytest.raises(ValueError, match=r"LSTM: unknown state_layout 'pytorch'; choose one of 'course', "
                                         r"'torch'"):
        nn.LSTM(D, H, state_layout="pytorch")
    with pytest.raises(ValueError, match=r"GRU: dropout must be a probability in \[0, 1\], got 1.5"):
        nn.GRU(D, H, 2, dropout=1.5)
    rnn = nn.RNN(D, H, batch_first=False, bidirectional=True)
    with pytest.raises(tg.ShapeError, match=r"RNN 'rnn': expected an input \(T, B, D\) = \(time, batch, "
                                            r"features\) \(batch_first=False\), or one sequence"):
        rnn(np.ones((1, T, B, D)))
    with pytest.raises(tg.ShapeError, match=r"input of shape \(0, 2, 3\) has no time steps"):
        rnn(np.ones((0, B, D)))
    with pytest.raises(tg.ShapeError, match=r"the initial state h_0 has shape \(3, 2, 2\); expected "
                                            r"\(num_layers·2, B, H\) = \(2, 2, 2\)$"):
        rnn(np.ones((T, B, D)), np.zeros((3, B, H)))


# ---------------------------------------------------------------- finite differences

@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("options", [dict(bias=False), dict(bidirectional=True, num_layers=2),
                                     dict(bidirectional=True, batch_first=False, bias=False)])
def test_gradcheck_new_paths(model, options):
    """Central differences in float64 through every parameter, x and h0 of the new paths."""
    tg.manual_seed(2)
    cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[model]
    layer = cls(D, H, dtype=np.float64, state_layout="torch", **options)
    named = list(layer.named_parameters())
    K = layer.num_layers * layer.num_directions
    rng = np.random.default_rng(3)
    x = rng.normal(size=(B, T, D) if layer.batch_first else (T, B, D))
    h0 = rng.normal(0, 0.5, (K, B, H))

    def loss(x, h0, *params):
        for (name, _), p in zip(named, params):       # gradcheck's copies become the parameters
            prefix, attr = name.rsplit(".", 1)
            owner, index = prefix.split(".")
            setattr(getattr(layer, owner)[int(index)], attr, p)
        state = (h0, h0 * 0.5) if model == "lstm" else h0
        outputs, final = layer(x, state)
        h_T = final[0] if model == "lstm" else final
        return (outputs * outputs).sum() + h_T.sum()

    assert tg.gradcheck(loss, [x, h0] + [p.data for _, p in named])


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("level", ["op", "cell"])
def test_a_bidirectional_graph_draws_both_directions(level, num_layers):
    """Two lanes, rnn and rnn/reverse, each one group (no 'rnn (2)': each lane reads its own x_t
    and its own [h_t→, h_t←])."""
    rnn = nn.RNN(D, H, num_layers, bidirectional=True, dropout=0.5 * (num_layers - 1), dtype=np.float64)
    outputs, _ = rnn(np.random.default_rng(0).normal(size=(1, 3, D)))
    loss = (outputs * outputs).sum()
    loss.backward()
    source = tg.viz.draw_graph(loss, level=level).source
    for t in (1, 2, 3):                   # one lane per direction, every step in each
        assert f"rnn · t = {t}" in source and f"rnn/reverse · t = {t}" in source
    assert "(2)" not in source
