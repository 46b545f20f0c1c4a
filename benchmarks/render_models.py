"""The three pictures the layout is judged on, in this library and in PyTorch + torchviz.

RNN T=6, LSTM T=4 and GRU T=4, B=2, D=3, H=8, a Linear readout and cross-entropy
on the last step (the `tinygrad-rnn render` task). The PyTorch models are written
with the same primitive ops (matmul, add, tanh, sigmoid, cat, mul, log_softmax,
indexing, mean), so both pictures draw the same computation.
"""

from __future__ import annotations

import numpy as np

MODELS = (("rnn", 6), ("lstm", 4), ("gru", 4))
B, D, H, K = 2, 3, 8, 4


def ours(cell: str, T: int, loss_at: str = "last"):
    """The library's loss of the seeded task, after backward()."""
    from tinygrad_rnn.demo import run_task
    loss, _ = run_task(cell, T, hidden=H, batch=B, input_size=D, classes=K, loss_at=loss_at)
    return loss


def torchviz_graph(cell: str, T: int):
    """torchviz.make_dot of the same model in PyTorch (imports torch and torchviz)."""
    import torch
    from torchviz import make_dot

    g = torch.Generator().manual_seed(0)
    P = {}

    def param(name, *shape):
        P[name] = (torch.rand(*shape, generator=g, dtype=torch.float64) - 0.5).requires_grad_()
        return P[name]

    x = torch.tensor(np.random.default_rng(0).standard_normal((B, T, D)))
    h = torch.zeros(B, H, dtype=torch.float64)
    if cell == "rnn":
        W, U, b = param("W", D, H), param("U", H, H), param("b", H)
        for t in range(T):
            h = torch.tanh(x[:, t] @ W + h @ U + b)
    elif cell == "lstm":
        Wf, Wi, Wc, Wo = (param(f"W_{k}", H + D, H) for k in "fico")
        bf, bi, bc, bo = (param(f"b_{k}", H) for k in "fico")
        C = torch.zeros(B, H, dtype=torch.float64)
        for t in range(T):
            z = torch.cat([h, x[:, t]], dim=-1)
            f, i = torch.sigmoid(z @ Wf + bf), torch.sigmoid(z @ Wi + bi)
            Ct, o = torch.tanh(z @ Wc + bc), torch.sigmoid(z @ Wo + bo)
            C = f * C + i * Ct
            h = o * torch.tanh(C)
    else:
        Wr, Wz, Wn = (param(f"W_{k}", D, H) for k in "rzn")
        Ur, Uz, Un = (param(f"U_{k}", H, H) for k in "rzn")
        bir, biz, bin_ = (param(f"b_i{k}", H) for k in "rzn")
        bhr, bhz, bhn = (param(f"b_h{k}", H) for k in "rzn")
        for t in range(T):
            xt = x[:, t]
            r = torch.sigmoid(xt @ Wr + bir + h @ Ur + bhr)
            z = torch.sigmoid(xt @ Wz + biz + h @ Uz + bhz)
            n = torch.tanh(xt @ Wn + bin_ + r * (h @ Un + bhn))
            h = (1 - z) * n + z * h
    V, c = param("V", H, K), param("c", K)
    logp = torch.log_softmax(h @ V + c, dim=-1)
    targets = torch.tensor(np.random.default_rng(1).integers(0, K, B))
    loss = (-logp[torch.arange(B), targets]).mean()
    loss.backward()
    return make_dot(loss, params=P)
