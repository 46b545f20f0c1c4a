"""RNN, LSTM and GRU against torch.nn.RNN / LSTM / GRU (float64, one and two layers).

Our weights are mapped into torch's layout (see tests/test_numpy_oracle.py):
torch stores each layer's gates stacked row-wise and transposed, weight_ih (G·H, in)
and weight_hh (G·H, H), in the gate order i, f, g(=C̃), o for the LSTM and r, z, n
for the GRU. Our LSTM's W_g (H + in, H) is [acting on h; acting on x], so its top H
rows go to weight_hh and the rest to weight_ih. torch's RNN and LSTM add a second
bias, bias_hh, which we set to zero.

The loss sums random projections of the outputs and of the final states, so the
gradient reaches every returned tensor; outputs, final states and every gradient
(parameters, x, h0, C0) must agree to 1e-10.
"""

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import nn

B, T, D, H = 2, 5, 3, 4
TOL = dict(rtol=1e-10, atol=1e-12)
LSTM_ORDER = "ifco"          # torch's gate order, in our gate letters


def make_pair(torch, model, num_layers):
    """Our layer with seeded random weights and the torch module holding the same weights."""
    tg.manual_seed(0)
    if model.startswith("rnn"):
        ours = nn.RNN(D, H, num_layers, nonlinearity=model[4:], dtype=np.float64)
        theirs = torch.nn.RNN(D, H, num_layers, nonlinearity=model[4:], batch_first=True,
                              dtype=torch.float64)
    elif model == "lstm":
        ours = nn.LSTM(D, H, num_layers, dtype=np.float64)
        theirs = torch.nn.LSTM(D, H, num_layers, batch_first=True, dtype=torch.float64)
    else:
        ours = nn.GRU(D, H, num_layers, dtype=np.float64)
        theirs = torch.nn.GRU(D, H, num_layers, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        for l, cell in enumerate(ours.cells):
            for name, value in torch_layout(model, cell).items():
                getattr(theirs, f"{name}_l{l}").copy_(torch.tensor(value))
    return ours, theirs


def torch_layout(model, cell):
    """One cell's parameters (or gradients, with .grad) as weight_ih, weight_hh, bias_ih, bias_hh."""
    p = {name: t.data for name, t in cell.named_parameters()}
    if model.startswith("rnn"):
        return {"weight_ih": p["W"].T, "weight_hh": p["U"].T, "bias_ih": p["b"],
                "bias_hh": np.zeros(H)}
    if model == "lstm":
        return {"weight_ih": np.concatenate([p["W_" + g][H:].T for g in LSTM_ORDER]),    # (4H, in)
                "weight_hh": np.concatenate([p["W_" + g][:H].T for g in LSTM_ORDER]),    # (4H, H)
                "bias_ih": np.concatenate([p["b_" + g] for g in LSTM_ORDER]),
                "bias_hh": np.zeros(4 * H)}
    return {"weight_ih": np.concatenate([p["W_" + g].T for g in "rzn"]),                 # (3H, in)
            "weight_hh": np.concatenate([p["U_" + g].T for g in "rzn"]),                 # (3H, H)
            "bias_ih": np.concatenate([p["b_i" + g] for g in "rzn"]),
            "bias_hh": np.concatenate([p["b_h" + g] for g in "rzn"])}


def torch_grads_as_ours(model, theirs, l):
    """torch's gradients of layer l, mapped back to our parameter names and shapes."""
    g = {name: getattr(theirs, f"{name}_l{l}").grad.numpy() for name in
         ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    if model.startswith("rnn"):
        return {"W": g["weight_ih"].T, "U": g["weight_hh"].T, "b": g["bias_ih"]}
    out = {}
    gates = LSTM_ORDER if model == "lstm" else "rzn"
    for k, gate in enumerate(gates):
        rows = slice(k * H, (k + 1) * H)
        if model == "lstm":   # h first, then x; bias_hh's gradient equals bias_ih's
            out["W_" + gate] = np.concatenate([g["weight_hh"][rows].T, g["weight_ih"][rows].T])
            out["b_" + gate] = g["bias_ih"][rows]
        else:
            out["W_" + gate], out["U_" + gate] = g["weight_ih"][rows].T, g["weight_hh"][rows].T
            out["b_i" + gate], out["b_h" + gate] = g["bias_ih"][rows], g["bias_hh"][rows]
    return out


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("model", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
def test_layer_matches_torch(model, num_layers):
    torch = pytest.importorskip("torch")
    ours, theirs = make_pair(torch, model, num_layers)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(B, T, D))
    n_states = 2 if model == "lstm" else 1
    init = [rng.normal(0, 0.5, (num_layers, B, H)) for _ in range(n_states)]     # h0 (, C0)
    R = rng.normal(size=(B, T, H))                                               # loss weights
    S = [rng.normal(size=(num_layers, B, H)) for _ in range(n_states)]

    # ours: with one layer, states are (B, H)
    squeeze = (lambda a: a[0]) if num_layers == 1 else (lambda a: a)
    x_ours = tg.Tensor(x, requires_grad=True)
    init_ours = [tg.Tensor(squeeze(s), requires_grad=True) for s in init]
    outputs, final = ours(x_ours, tuple(init_ours) if model == "lstm" else init_ours[0])
    final = list(final) if model == "lstm" else [final]
    loss = (outputs * R).sum() + sum((f * squeeze(s)).sum() for f, s in zip(final, S))
    loss.backward()

    # torch: states are always (num_layers, B, H)
    x_torch = torch.tensor(x, requires_grad=True)
    init_torch = [torch.tensor(s, requires_grad=True) for s in init]
    out_t, final_t = theirs(x_torch, tuple(init_torch) if model == "lstm" else init_torch[0])
    final_t = list(final_t) if model == "lstm" else [final_t]
    loss_t = (out_t * torch.tensor(R)).sum() + sum((f * torch.tensor(s)).sum() for f, s in zip(final_t, S))
    loss_t.backward()

    np.testing.assert_allclose(outputs.data, out_t.detach().numpy(), **TOL)
    for f, f_t in zip(final, final_t):
        np.testing.assert_allclose(f.data, squeeze(f_t.detach().numpy()), **TOL)
    np.testing.assert_allclose(x_ours.grad, x_torch.grad.numpy(), **TOL, err_msg="∂E/∂x")
    for s, s_t in zip(init_ours, init_torch):
        np.testing.assert_allclose(s.grad, squeeze(s_t.grad.numpy()), **TOL, err_msg="∂E/∂state_0")
    for l, cell in enumerate(ours.cells):
        expected = torch_grads_as_ours(model, theirs, l)
        assert set(expected) == {name for name, _ in cell.named_parameters()}
        for name, p in cell.named_parameters():
            np.testing.assert_allclose(p.grad, expected[name], **TOL, err_msg=f"layer {l}: ∂E/∂{name}")


@pytest.mark.parametrize("model", ["rnn_tanh", "lstm", "gru"])
def test_default_initial_state_matches_torch(model):
    torch = pytest.importorskip("torch")
    ours, theirs = make_pair(torch, model, 1)
    x = np.random.default_rng(2).normal(size=(B, T, D))
    outputs, _ = ours(x)
    out_t, _ = theirs(torch.tensor(x))
    np.testing.assert_allclose(outputs.data, out_t.detach().numpy(), **TOL)
