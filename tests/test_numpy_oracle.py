"""The hand-written numpy BPTT oracles are themselves right.

Every gradient is checked against central finite differences in float64, the total
gradients ∂E/∂h_t (and ∂E/∂C_t) against differences of the loss as a function of the
state at step t, and, when torch is installed, the losses and gradients against
torch.nn.RNN / LSTM / GRU.
"""

import numpy as np
import pytest

from benchmarks.numpy_bptt import (
    gru_forward_backward,
    lstm_forward_backward,
    min_char_rnn_step,
    rnn_forward_backward,
)

B, T, D, H, K = 2, 4, 3, 5, 4
EPS, RTOL = 1e-6, 1e-6


def numerical_grad(f, arr):
    """Central differences of the scalar f() w.r.t. every entry of arr (in place)."""
    grad = np.zeros_like(arr)
    for idx in np.ndindex(arr.shape):
        old = arr[idx]
        arr[idx] = old + EPS
        plus = f()
        arr[idx] = old - EPS
        minus = f()
        arr[idx] = old
        grad[idx] = (plus - minus) / (2 * EPS)
    return grad


def rel_err(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300)


def make_params(model, rng):
    p = {"V": rng.normal(0, 0.5, (H, K)), "c": rng.normal(0, 0.1, K)}
    if model.startswith("rnn"):
        p.update(W=rng.normal(0, 0.5, (D, H)), U=rng.normal(0, 0.5, (H, H)),
                 b=rng.normal(0, 0.1, H))
    elif model == "lstm":
        for g in "fico":
            p["W_" + g] = rng.normal(0, 0.5, (H + D, H))
            p["b_" + g] = rng.normal(0, 0.1, H)
    elif model == "gru":
        for g in "rzn":
            p["W_" + g] = rng.normal(0, 0.5, (D, H))
            p["U_" + g] = rng.normal(0, 0.5, (H, H))
            p["b_i" + g] = rng.normal(0, 0.1, H)
            p["b_h" + g] = rng.normal(0, 0.1, H)
    return p


def make_problem(model, seed=0):
    """params, and the inputs: x, targets and the initial state(s) as kwargs."""
    rng = np.random.default_rng(seed)
    params = make_params(model, rng)
    x = rng.normal(0, 1, (B, T, D))
    targets = rng.integers(0, K, (B, T))
    states = {"h0": rng.normal(0, 0.5, (B, H))}
    if model == "lstm":
        states["C0"] = rng.normal(0, 0.5, (B, H))
    return params, x, targets, states


def run(model, params, x, targets, **states):
    if model == "rnn_tanh":
        return rnn_forward_backward(params, x, targets, nonlinearity="tanh", **states)
    if model == "rnn_relu":
        return rnn_forward_backward(params, x, targets, nonlinearity="relu", **states)
    if model == "lstm":
        return lstm_forward_backward(params, x, targets, **states)
    return gru_forward_backward(params, x, targets, **states)


MODELS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]


@pytest.mark.parametrize("model", MODELS)
def test_gradients_match_finite_differences(model):
    params, x, targets, states = make_problem(model)
    loss, grads, _ = run(model, params, x, targets, **states)
    assert np.isfinite(loss)
    arrays = {**params, **states, "x": x}
    assert set(grads) == set(arrays)

    def f():
        return run(model, params, x, targets, **states)[0]

    for name, arr in arrays.items():
        assert grads[name].shape == arr.shape, name
        err = rel_err(grads[name], numerical_grad(f, arr))
        assert err < RTOL, f"{model}: d{name} relative error {err:.2e}"


@pytest.mark.parametrize("model", MODELS)
def test_default_initial_state_is_zero(model):
    params, x, targets, states = make_problem(model)
    zeros = {k: np.zeros_like(v) for k, v in states.items()}
    loss0, grads0, _ = run(model, params, x, targets)
    loss1, grads1, _ = run(model, params, x, targets, **zeros)
    # two code paths (no state given, zeros given): float64, equal up to rounding
    assert loss0 == pytest.approx(loss1, rel=1e-12)
    for k in grads1:
        np.testing.assert_allclose(grads0[k], grads1[k], rtol=1e-12, atol=1e-15)


def summed_ce(h, V, c, target):
    """Σ over the batch of -log softmax(h V + c)[target]."""
    logits = h @ V + c
    logits = logits - logits.max(axis=-1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    return -logp[np.arange(len(target)), target].sum()


def loss_from_step(model, params, x, targets, t, h, C=None):
    """The part of E that depends on the state (h_t, C_t): readout at t plus all later steps."""
    total = summed_ce(h, params["V"], params["c"], targets[:, t])
    if t < T - 1:
        states = {"h0": h} if C is None else {"h0": h, "C0": C}
        tail = run(model, params, x[:, t + 1:], targets[:, t + 1:], **states)[0]
        total += tail * B * (T - t - 1)  # the tail's loss is a mean over B*(T-t-1)
    return total / (B * T)


@pytest.mark.parametrize("model", MODELS)
def test_dhs_is_the_total_gradient_on_h_t(model):
    params, x, targets, states = make_problem(model)
    _, _, cache = run(model, params, x, targets, **states)
    assert cache["hs"].shape == cache["dhs"].shape == (B, T, H)
    for t in range(T):
        h = cache["hs"][:, t].copy()
        C = cache["Cs"][:, t].copy() if model == "lstm" else None  # held fixed

        def f(t=t, h=h, C=C):
            return loss_from_step(model, params, x, targets, t, h, C)

        err = rel_err(cache["dhs"][:, t], numerical_grad(f, h))
        assert err < RTOL, f"{model}: dE/dh_{t} relative error {err:.2e}"


def test_lstm_dCs_is_the_total_gradient_on_C_t():
    params, x, targets, states = make_problem("lstm")
    _, _, cache = run("lstm", params, x, targets, **states)
    for t in range(T):
        C, o = cache["Cs"][:, t].copy(), cache["o"][:, t]

        def f(t=t, C=C, o=o):  # h_t = o_t * tanh(C_t) moves with C_t
            return loss_from_step("lstm", params, x, targets, t, o * np.tanh(C), C)

        err = rel_err(cache["dCs"][:, t], numerical_grad(f, C))
        assert err < RTOL, f"lstm: dE/dC_{t} relative error {err:.2e}"


# ---------------------------------------------------------------- min-char-rnn

def make_min_char(seed=0, hidden=5, vocab=4, seq_length=25):
    rng = np.random.default_rng(seed)
    w = {"Wxh": rng.normal(0, 0.5, (hidden, vocab)), "Whh": rng.normal(0, 0.5, (hidden, hidden)),
         "Why": rng.normal(0, 0.5, (vocab, hidden)), "bh": rng.normal(0, 0.1, (hidden, 1)),
         "by": rng.normal(0, 0.1, (vocab, 1))}
    inputs = [int(i) for i in rng.integers(0, vocab, seq_length)]
    targets = [int(i) for i in rng.integers(0, vocab, seq_length)]
    return w, inputs, targets, rng.normal(0, 0.5, (hidden, 1))


def test_min_char_rnn_step_matches_finite_differences():
    w, inputs, targets, hprev = make_min_char()
    _, *grads, h_last = min_char_rnn_step(inputs, targets, hprev, **w)
    assert h_last.shape == hprev.shape
    for name, g in zip(["Wxh", "Whh", "Why", "bh", "by"], grads):
        num = numerical_grad(lambda: min_char_rnn_step(inputs, targets, hprev, **w)[0], w[name])
        err = rel_err(g, num)
        assert err < RTOL, f"min-char-rnn: d{name} relative error {err:.2e}"


def test_min_char_rnn_step_does_not_clip():
    w, inputs, targets, hprev = make_min_char(seed=1)
    w = {k: 10 * v for k, v in w.items()}  # large weights: some gradient entries exceed 5
    _, *grads, _ = min_char_rnn_step(inputs, targets, hprev, **w)
    assert max(np.abs(g).max() for g in grads) > 5


def test_min_char_rnn_step_agrees_with_batched_rnn():
    """Column convention (sum loss) vs row convention (mean loss): transposes and a factor T."""
    w, inputs, targets, hprev = make_min_char()
    vocab, n = w["Wxh"].shape[1], len(inputs)
    loss, dWxh, dWhh, dWhy, dbh, dby, h_last = min_char_rnn_step(inputs, targets, hprev, **w)
    params = {"W": w["Wxh"].T, "U": w["Whh"].T, "b": w["bh"][:, 0],
              "V": w["Why"].T, "c": w["by"][:, 0]}
    x = np.eye(vocab)[inputs][None]  # (1, T, vocab) one-hot
    loss_b, g, cache = rnn_forward_backward(params, x, np.array([targets]), h0=hprev.T)
    np.testing.assert_allclose(loss, loss_b * n, rtol=1e-12)
    for ours, theirs in [(dWxh, g["W"].T), (dWhh, g["U"].T), (dWhy, g["V"].T),
                         (dbh[:, 0], g["b"]), (dby[:, 0], g["c"])]:
        np.testing.assert_allclose(ours, theirs * n, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h_last[:, 0], cache["hs"][0, -1], rtol=1e-12)


# ---------------------------------------------------------------- against torch

def torch_loss_and_grads(torch, module, params, x, targets, states):
    """Run a torch recurrent module + our readout; return loss and the grads it gives."""
    tx = torch.tensor(x, requires_grad=True)
    V = torch.tensor(params["V"], requires_grad=True)
    c = torch.tensor(params["c"], requires_grad=True)
    ts = {k: torch.tensor(v[None], requires_grad=True) for k, v in states.items()}  # (1, B, H)
    init = (ts["h0"], ts["C0"]) if "C0" in ts else ts["h0"]
    out, _ = module(tx, init)  # (B, T, H)
    logits = out @ V + c
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, K),
                                             torch.tensor(targets).reshape(-1))
    loss.backward()
    grads = {"x": tx.grad.numpy(), "V": V.grad.numpy(), "c": c.grad.numpy()}
    grads.update({k: v.grad.numpy()[0] for k, v in ts.items()})
    return loss.item(), grads


def set_weights(torch, module, w_ih, w_hh, b_ih, b_hh):
    with torch.no_grad():
        for name, value in [("weight_ih_l0", w_ih), ("weight_hh_l0", w_hh),
                            ("bias_ih_l0", b_ih), ("bias_hh_l0", b_hh)]:
            getattr(module, name).copy_(torch.tensor(value))


def compare(ours, loss, theirs):
    assert abs(ours[0] - loss) < 1e-12
    for name, value in theirs.items():
        np.testing.assert_allclose(ours[1][name], value, rtol=1e-10, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_matches_torch(nonlinearity):
    torch = pytest.importorskip("torch")
    model = "rnn_" + nonlinearity
    params, x, targets, states = make_problem(model)
    rnn = torch.nn.RNN(D, H, nonlinearity=nonlinearity, batch_first=True, dtype=torch.float64)
    set_weights(torch, rnn, params["W"].T, params["U"].T, params["b"], np.zeros(H))
    loss, theirs = torch_loss_and_grads(torch, rnn, params, x, targets, states)
    theirs.update(W=rnn.weight_ih_l0.grad.numpy().T, U=rnn.weight_hh_l0.grad.numpy().T,
                  b=rnn.bias_ih_l0.grad.numpy())
    compare(run(model, params, x, targets, **states), loss, theirs)


def test_lstm_matches_torch():
    torch = pytest.importorskip("torch")
    params, x, targets, states = make_problem("lstm")
    order = "ifco"  # torch's gate order i, f, g (= C̃), o
    lstm = torch.nn.LSTM(D, H, batch_first=True, dtype=torch.float64)
    set_weights(torch, lstm,
                np.concatenate([params["W_" + g][H:].T for g in order]),  # (4H, D)
                np.concatenate([params["W_" + g][:H].T for g in order]),  # (4H, H)
                np.concatenate([params["b_" + g] for g in order]), np.zeros(4 * H))
    loss, theirs = torch_loss_and_grads(torch, lstm, params, x, targets, states)
    g_ih, g_hh = lstm.weight_ih_l0.grad.numpy(), lstm.weight_hh_l0.grad.numpy()
    g_b = lstm.bias_ih_l0.grad.numpy()
    for k, g in enumerate(order):
        rows = slice(k * H, (k + 1) * H)
        theirs["W_" + g] = np.concatenate([g_hh[rows].T, g_ih[rows].T])  # (H+D, H), h first
        theirs["b_" + g] = g_b[rows]
    compare(run("lstm", params, x, targets, **states), loss, theirs)


def test_gru_matches_torch():
    torch = pytest.importorskip("torch")
    params, x, targets, states = make_problem("gru")
    gru = torch.nn.GRU(D, H, batch_first=True, dtype=torch.float64)
    set_weights(torch, gru,
                np.concatenate([params["W_" + g].T for g in "rzn"]),  # (3H, D)
                np.concatenate([params["U_" + g].T for g in "rzn"]),  # (3H, H)
                np.concatenate([params["b_i" + g] for g in "rzn"]),
                np.concatenate([params["b_h" + g] for g in "rzn"]))
    loss, theirs = torch_loss_and_grads(torch, gru, params, x, targets, states)
    for k, g in enumerate("rzn"):
        rows = slice(k * H, (k + 1) * H)
        theirs["W_" + g] = gru.weight_ih_l0.grad.numpy()[rows].T
        theirs["U_" + g] = gru.weight_hh_l0.grad.numpy()[rows].T
        theirs["b_i" + g] = gru.bias_ih_l0.grad.numpy()[rows]
        theirs["b_h" + g] = gru.bias_hh_l0.grad.numpy()[rows]
    compare(run("gru", params, x, targets, **states), loss, theirs)
