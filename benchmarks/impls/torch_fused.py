"""PyTorch's fused `torch.nn.RNN` / `torch.nn.LSTM` (one C++ kernel per step).

The oracle's parameters are mapped into torch's layout: weights transposed
(torch computes x Wᵀ), LSTM gates reordered to torch's (i, f, g, o) and split
into the input part W_g[H:] and the hidden part W_g[:H] (z_t = [h_{t-1}, x_t]).
torch's second bias, bias_hh, is set to zero; it still trains, as it would for
a torch user.
"""

import numpy as np

NAME = "torch_fused"
LABEL = "PyTorch nn.RNN / nn.LSTM (fused)"
PACKAGE = ("torch",)
SIZES = None
_TORCH_GATES = "ifco"  # torch's order: input, forget, cell candidate (g), output


class Step:
    def __init__(self, model, problem, lr=None):
        import torch
        torch.set_num_threads(1)
        self.torch, self.model, self.lr, self.H = torch, model, lr, problem.H
        D, H, dtype = problem.D, problem.H, getattr(torch, str(problem.dtype))
        p = problem.params
        if model == "rnn":
            self.layer = torch.nn.RNN(D, H, batch_first=True, dtype=dtype)
            w_ih, w_hh, b_ih = p["W"].T, p["U"].T, p["b"]
        else:
            self.layer = torch.nn.LSTM(D, H, batch_first=True, dtype=dtype)
            w_ih = np.concatenate([p["W_" + g][H:].T for g in _TORCH_GATES])  # (4H, D)
            w_hh = np.concatenate([p["W_" + g][:H].T for g in _TORCH_GATES])  # (4H, H)
            b_ih = np.concatenate([p["b_" + g] for g in _TORCH_GATES])  # (4H,)
        with torch.no_grad():
            self.layer.weight_ih_l0.copy_(torch.from_numpy(np.ascontiguousarray(w_ih)))
            self.layer.weight_hh_l0.copy_(torch.from_numpy(np.ascontiguousarray(w_hh)))
            self.layer.bias_ih_l0.copy_(torch.from_numpy(b_ih))
            self.layer.bias_hh_l0.zero_()
        self.V = torch.tensor(p["V"], requires_grad=True)
        self.c = torch.tensor(p["c"], requires_grad=True)
        self.params = [*self.layer.parameters(), self.V, self.c]
        self.x = torch.tensor(problem.x)
        self.targets = torch.tensor(problem.targets.reshape(-1))
        self.K = problem.K

    def __call__(self) -> float:
        torch = self.torch
        for q in self.params:
            q.grad = None
        hs, _ = self.layer(self.x)  # (B, T, H)
        logits = (hs @ self.V + self.c).reshape(-1, self.K)  # (B*T, K)
        loss = torch.nn.functional.cross_entropy(logits, self.targets)
        loss.backward()
        if self.lr:
            with torch.no_grad():
                for q in self.params:
                    q -= self.lr * q.grad
        return loss.item()

    def grads(self):
        H, layer = self.H, self.layer
        g_ih, g_hh = layer.weight_ih_l0.grad.numpy(), layer.weight_hh_l0.grad.numpy()
        g_b = layer.bias_ih_l0.grad.numpy()
        out = {"V": self.V.grad.numpy(), "c": self.c.grad.numpy()}
        if self.model == "rnn":
            out.update(W=g_ih.T, U=g_hh.T, b=g_b)
        else:
            for k, g in enumerate(_TORCH_GATES):
                rows = slice(k * H, (k + 1) * H)
                out["W_" + g] = np.concatenate([g_hh[rows].T, g_ih[rows].T])  # (H + D, H)
                out["b_" + g] = g_b[rows]
        return out


def build(model, problem, lr=None):
    return Step(model, problem, lr)
