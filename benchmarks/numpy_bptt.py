"""Hand-written numpy forward + BPTT: the oracles the engine is checked against.

No graph, no autograd: every gradient below is written out by hand from the
course's formulas. Row-vector convention, batch first:

    x (B, T, D)   targets (B, T) ints   h_t (B, H)   logits_t (B, K)

All three models share the readout and the loss

    logits_t = h_t V + c        y_t = softmax(logits_t)
    E = mean over the B*T positions of -log y_t[target_t]

Each `*_forward_backward` returns `(loss, grads, cache)`: `grads` has one entry per
parameter plus the initial state(s) and `x`; `cache["dhs"][:, t]` is the TOTAL
gradient ∂E/∂h_t (through the readout at t and through every later step).

For speed, everything that does not depend on h_{t-1} (the input projection, the
readout, the weight gradients) is one matmul over all B*T rows outside the time
loop; only the recurrent matmul and its transpose run inside it.
"""

import numpy as np


def sigmoid(a):
    return 0.5 * (np.tanh(0.5 * a) + 1.0)  # overflow-free σ(a)


def _readout_forward_backward(hs, V, c, targets):
    """Loss, gradients of the readout (dV, dc) and ∂E/∂h_t through the readout only."""
    B, T, H = hs.shape
    logits = hs @ V + c  # (B, T, K)
    logits = logits - logits.max(axis=-1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))  # (B, T, K)
    onehot = np.zeros_like(logp)
    np.put_along_axis(onehot, targets[..., None], 1.0, axis=-1)
    loss = -(logp * onehot).sum() / (B * T)
    dlogits = (np.exp(logp) - onehot) / (B * T)  # ∂E/∂logits_t = (y_t - onehot) / BT
    dV = hs.reshape(B * T, H).T @ dlogits.reshape(B * T, -1)  # (H, K)
    dc = dlogits.sum(axis=(0, 1))  # (K,)
    dh_out = dlogits @ V.T  # (B, T, H)
    return loss, dV, dc, dh_out


def _previous_states(h0, hs):
    """[h_{-1}=h0, h_0, ..., h_{T-2}]: the state each step starts from."""
    return np.concatenate([h0[:, None], hs[:, :-1]], axis=1)  # (B, T, H)


def rnn_forward_backward(params, x, targets, h0=None, nonlinearity="tanh"):
    """Vanilla RNN.

        a_t = x_t W + h_{t-1} U + b        h_t = f(a_t),  f = tanh or relu

    BPTT, from t = T-1 down to 0 (dh_next = 0 at t = T-1):

        ∂E/∂h_t = dh_out_t + dh_next       dh_out_t = ∂E_t/∂logits_t V^T
        ∂E/∂a_t = ∂E/∂h_t * f'(a_t)        f' = 1 - h_t^2 (tanh) or [a_t > 0] (relu)
        dh_next = ∂E/∂a_t U^T
        ∂E/∂U = Σ_t h_{t-1}^T ∂E/∂a_t,  ∂E/∂W = Σ_t x_t^T ∂E/∂a_t,  ∂E/∂b = Σ_t ∂E/∂a_t
    """
    W, U, b, V, c = (params[k] for k in ("W", "U", "b", "V", "c"))
    B, T, D = x.shape
    H = U.shape[0]
    h0 = np.zeros((B, H), dtype=U.dtype) if h0 is None else h0
    if nonlinearity == "tanh":
        f, df_from_h = np.tanh, lambda h: 1.0 - h * h
    elif nonlinearity == "relu":
        f, df_from_h = lambda a: np.maximum(a, 0.0), lambda h: (h > 0).astype(h.dtype)
    else:
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")

    # forward
    xWb = x @ W + b  # (B, T, H) input projection of every step at once
    hs = np.empty((B, T, H), dtype=xWb.dtype)
    h = h0
    for t in range(T):
        h = f(xWb[:, t] + h @ U)  # (B, H)
        hs[:, t] = h
    loss, dV, dc, dh_out = _readout_forward_backward(hs, V, c, targets)

    # backward through time
    dhs = np.empty_like(hs)  # ∂E/∂h_t, total
    das = np.empty_like(hs)  # ∂E/∂a_t
    dh_next = np.zeros_like(h0)  # (B, H)
    for t in reversed(range(T)):
        dhs[:, t] = dh_out[:, t] + dh_next
        das[:, t] = dhs[:, t] * df_from_h(hs[:, t])
        dh_next = das[:, t] @ U.T  # (B, H)

    da2 = das.reshape(B * T, H)
    grads = {
        "W": x.reshape(B * T, D).T @ da2,  # (D, H)
        "U": _previous_states(h0, hs).reshape(B * T, H).T @ da2,  # (H, H)
        "b": da2.sum(axis=0),  # (H,)
        "V": dV,
        "c": dc,
        "h0": dh_next,  # (B, H)
        "x": das @ W.T,  # (B, T, D)
    }
    return loss, grads, {"hs": hs, "dhs": dhs}


LSTM_GATES = ("f", "i", "c", "o")  # forget, input, candidate C̃, output


def lstm_forward_backward(params, x, targets, h0=None, C0=None):
    """LSTM with the course's equations, gates on z_t = [h_{t-1}, x_t] (hidden first):

        f_t = σ(z_t W_f + b_f)     i_t = σ(z_t W_i + b_i)     C̃_t = tanh(z_t W_c + b_c)
        o_t = σ(z_t W_o + b_o)     C_t = f_t * C_{t-1} + i_t * C̃_t     h_t = o_t * tanh(C_t)

    BPTT (dh_next = dC_next = 0 at t = T-1):

        ∂E/∂h_t = dh_out_t + dh_next
        ∂E/∂C_t = dC_next + ∂E/∂h_t * o_t * (1 - tanh²C_t)
        do = ∂E/∂h_t * tanh C_t    df = ∂E/∂C_t * C_{t-1}    di = ∂E/∂C_t * C̃_t
        dC̃ = ∂E/∂C_t * i_t        dC_next = ∂E/∂C_t * f_t
        pre-activations: σ' = s(1 - s), tanh' = 1 - C̃²;  dz_t = Σ_gates da_gate W_gate^T
        dh_next = dz_t[:, :H]      ∂E/∂x_t = dz_t[:, H:]

    The four gates are computed as one matmul with W_f|W_i|W_c|W_o side by side.
    """
    B, T, D = x.shape
    H = params["W_f"].shape[1]
    Wcat = np.concatenate([params["W_" + g] for g in LSTM_GATES], axis=1)  # (H+D, 4H)
    bcat = np.concatenate([params["b_" + g] for g in LSTM_GATES])  # (4H,)
    Wh, Wx = Wcat[:H], Wcat[H:]  # (H, 4H), (D, 4H): z_t W = h_{t-1} W[:H] + x_t W[H:]
    V, c = params["V"], params["c"]
    h0 = np.zeros((B, H), dtype=Wcat.dtype) if h0 is None else h0
    C0 = np.zeros((B, H), dtype=Wcat.dtype) if C0 is None else C0

    # forward
    xWb = x @ Wx + bcat  # (B, T, 4H)
    hs = np.empty((B, T, H), dtype=xWb.dtype)
    Cs, tanhCs = np.empty_like(hs), np.empty_like(hs)
    gates = np.empty((B, T, 4 * H), dtype=xWb.dtype)  # f | i | C̃ | o, after σ / tanh
    h, C = h0, C0
    for t in range(T):
        a = xWb[:, t] + h @ Wh  # (B, 4H) pre-activations
        f, i, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), sigmoid(a[:, 3 * H:])
        Ct = np.tanh(a[:, 2 * H:3 * H])  # C̃_t
        C = f * C + i * Ct  # (B, H)
        tanhCs[:, t] = np.tanh(C)
        h = o * tanhCs[:, t]  # (B, H)
        hs[:, t], Cs[:, t] = h, C
        gates[:, t] = np.concatenate([f, i, Ct, o], axis=1)
    loss, dV, dc, dh_out = _readout_forward_backward(hs, V, c, targets)

    # backward through time
    Cs_prev = _previous_states(C0, Cs)  # (B, T, H)
    dhs, dCs = np.empty_like(hs), np.empty_like(hs)
    das = np.empty_like(gates)  # ∂E/∂(pre-activations), (B, T, 4H)
    dh_next, dC_next = np.zeros_like(h0), np.zeros_like(C0)
    for t in reversed(range(T)):
        f, i, Ct, o = np.split(gates[:, t], 4, axis=1)
        dh = dh_out[:, t] + dh_next
        dC = dC_next + dh * o * (1.0 - tanhCs[:, t] ** 2)
        dhs[:, t], dCs[:, t] = dh, dC
        das[:, t] = np.concatenate([
            dC * Cs_prev[:, t] * f * (1.0 - f),  # forget gate
            dC * Ct * i * (1.0 - i),  # input gate
            dC * i * (1.0 - Ct * Ct),  # candidate C̃
            dh * tanhCs[:, t] * o * (1.0 - o),  # output gate
        ], axis=1)
        dh_next = das[:, t] @ Wh.T  # (B, H)
        dC_next = dC * f  # (B, H)

    z = np.concatenate([_previous_states(h0, hs), x], axis=-1)  # (B, T, H+D)
    da2 = das.reshape(B * T, 4 * H)
    dWcat = z.reshape(B * T, H + D).T @ da2  # (H+D, 4H)
    dbcat = da2.sum(axis=0)  # (4H,)
    grads = {"V": dV, "c": dc, "h0": dh_next, "C0": dC_next, "x": das @ Wx.T}
    for k, g in enumerate(LSTM_GATES):
        grads["W_" + g] = dWcat[:, k * H:(k + 1) * H]  # (H+D, H)
        grads["b_" + g] = dbcat[k * H:(k + 1) * H]  # (H,)
    f, i, Ct, o = np.split(gates, 4, axis=-1)
    cache = {"hs": hs, "Cs": Cs, "dhs": dhs, "dCs": dCs,
             "f": f, "i": i, "C_tilde": Ct, "o": o}
    return loss, grads, cache


def gru_forward_backward(params, x, targets, h0=None):
    """GRU with torch.nn.GRU's equations (row convention):

        r_t = σ(x_t W_r + b_ir + h_{t-1} U_r + b_hr)
        z_t = σ(x_t W_z + b_iz + h_{t-1} U_z + b_hz)
        n_t = tanh(x_t W_n + b_in + r_t * (h_{t-1} U_n + b_hn))
        h_t = (1 - z_t) * n_t + z_t * h_{t-1}

    Note r_t multiplies (h_{t-1} U_n + b_hn), so b_hn sits inside the reset gate
    and its gradient differs from b_in's. With hn_t = h_{t-1} U_n + b_hn, BPTT:

        dh = dh_out_t + dh_next
        dn = dh * (1 - z)      dz = dh * (h_{t-1} - n)
        da_n = dn * (1 - n²)   dhn = da_n * r      dr = da_n * hn
        da_r = dr * r(1 - r)   da_z = dz * z(1 - z)
        dh_next = dh * z + [da_r, da_z, dhn] [U_r|U_z|U_n]^T
    """
    B, T, D = x.shape
    H = params["U_r"].shape[0]
    Wx = np.concatenate([params["W_r"], params["W_z"], params["W_n"]], axis=1)  # (D, 3H)
    Uh = np.concatenate([params["U_r"], params["U_z"], params["U_n"]], axis=1)  # (H, 3H)
    bi = np.concatenate([params["b_ir"], params["b_iz"], params["b_in"]])  # (3H,)
    bh = np.concatenate([params["b_hr"], params["b_hz"], params["b_hn"]])  # (3H,)
    V, c = params["V"], params["c"]
    h0 = np.zeros((B, H), dtype=Wx.dtype) if h0 is None else h0

    # forward
    xWb = x @ Wx + bi  # (B, T, 3H)
    hs = np.empty((B, T, H), dtype=xWb.dtype)
    rs, zs, ns, hns = (np.empty_like(hs) for _ in range(4))
    h = h0
    for t in range(T):
        ah = h @ Uh + bh  # (B, 3H) hidden-side pre-activations
        ax = xWb[:, t]  # (B, 3H) input-side pre-activations
        r = sigmoid(ax[:, :H] + ah[:, :H])
        z = sigmoid(ax[:, H:2 * H] + ah[:, H:2 * H])
        hn = ah[:, 2 * H:]  # h_{t-1} U_n + b_hn
        n = np.tanh(ax[:, 2 * H:] + r * hn)
        h = (1.0 - z) * n + z * h  # (B, H)
        hs[:, t], rs[:, t], zs[:, t], ns[:, t], hns[:, t] = h, r, z, n, hn
    loss, dV, dc, dh_out = _readout_forward_backward(hs, V, c, targets)

    # backward through time
    hs_prev = _previous_states(h0, hs)  # (B, T, H)
    dhs = np.empty_like(hs)
    dax = np.empty((B, T, 3 * H), dtype=hs.dtype)  # ∂E/∂(input-side pre-activations)
    dah = np.empty_like(dax)  # ∂E/∂(h_{t-1} Uh + bh)
    dh_next = np.zeros_like(h0)
    for t in reversed(range(T)):
        r, z, n, hn = rs[:, t], zs[:, t], ns[:, t], hns[:, t]
        dh = dh_out[:, t] + dh_next
        dhs[:, t] = dh
        da_n = dh * (1.0 - z) * (1.0 - n * n)
        da_r = da_n * hn * r * (1.0 - r)
        da_z = dh * (hs_prev[:, t] - n) * z * (1.0 - z)
        dax[:, t] = np.concatenate([da_r, da_z, da_n], axis=1)
        dah[:, t] = np.concatenate([da_r, da_z, da_n * r], axis=1)
        dh_next = dh * z + dah[:, t] @ Uh.T  # (B, H)

    dax2, dah2 = dax.reshape(B * T, 3 * H), dah.reshape(B * T, 3 * H)
    dWx = x.reshape(B * T, D).T @ dax2  # (D, 3H)
    dUh = hs_prev.reshape(B * T, H).T @ dah2  # (H, 3H)
    dbi, dbh = dax2.sum(axis=0), dah2.sum(axis=0)  # (3H,)
    grads = {"V": dV, "c": dc, "h0": dh_next, "x": dax @ Wx.T}
    for k, g in enumerate("rzn"):
        s = slice(k * H, (k + 1) * H)
        grads["W_" + g], grads["U_" + g] = dWx[:, s], dUh[:, s]
        grads["b_i" + g], grads["b_h" + g] = dbi[s], dbh[s]
    return loss, grads, {"hs": hs, "dhs": dhs, "r": rs, "z": zs, "n": ns}


def min_char_rnn_step(inputs, targets, hprev, Wxh, Whh, Why, bh, by):
    """Karpathy's min-char-rnn `lossFun`, column-vector convention, unchanged except
    that it does NOT clip: the caller clips (the original clips to [-5, 5] here).

        hs[t] = tanh(Wxh xs[t] + Whh hs[t-1] + bh)     ys[t] = Why hs[t] + by
        ps[t] = softmax(ys[t])                          loss = Σ_t -log ps[t][targets[t]]

    inputs, targets: lists of int char indices; hprev (H, 1).
    Returns (loss, dWxh, dWhh, dWhy, dbh, dby, h_last).
    """
    vocab_size = Wxh.shape[1]
    xs, hs, ys, ps = {}, {}, {}, {}
    hs[-1] = np.copy(hprev)
    loss = 0
    # forward pass
    for t in range(len(inputs)):
        xs[t] = np.zeros((vocab_size, 1))  # encode in 1-of-k representation
        xs[t][inputs[t]] = 1
        hs[t] = np.tanh(np.dot(Wxh, xs[t]) + np.dot(Whh, hs[t - 1]) + bh)  # hidden state
        ys[t] = np.dot(Why, hs[t]) + by  # unnormalized log probabilities for next chars
        ps[t] = np.exp(ys[t]) / np.sum(np.exp(ys[t]))  # probabilities (no max shift, as original)
        loss += -np.log(ps[t][targets[t], 0])  # softmax (cross-entropy loss)
    # backward pass
    dWxh, dWhh, dWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
    dbh, dby = np.zeros_like(bh), np.zeros_like(by)
    dhnext = np.zeros_like(hs[0])
    for t in reversed(range(len(inputs))):
        dy = np.copy(ps[t])
        dy[targets[t]] -= 1  # backprop into y
        dWhy += np.dot(dy, hs[t].T)
        dby += dy
        dh = np.dot(Why.T, dy) + dhnext  # backprop into h
        dhraw = (1 - hs[t] * hs[t]) * dh  # backprop through tanh nonlinearity
        dbh += dhraw
        dWxh += np.dot(dhraw, xs[t].T)
        dWhh += np.dot(dhraw, hs[t - 1].T)
        dhnext = np.dot(Whh.T, dhraw)
    return loss, dWxh, dWhh, dWhy, dbh, dby, hs[len(inputs) - 1]
