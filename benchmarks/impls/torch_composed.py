"""PyTorch eager, composed of the same primitives as the engine's cells.

What a user would write instead of this library: the cell equations as tensor
ops in a Python loop, `log_softmax` and indexing for the loss, `backward()`.

    RNN:   h_t = tanh(x_t W + h_{t-1} U + b)
    LSTM:  z_t = [h_{t-1}, x_t];  f_t = σ(z_t W_f + b_f), i_t, C̃_t (tanh), o_t likewise
           C_t = f_t * C_{t-1} + i_t * C̃_t;  h_t = o_t * tanh(C_t)
"""

NAME = "torch_composed"
LABEL = "PyTorch eager, same primitives"
PACKAGE = ("torch",)
SIZES = None


def _torch():
    import torch
    torch.set_num_threads(1)  # the shared 2-core machine: one thread is faster and steadier
    return torch


class Step:
    def __init__(self, model, problem, lr=None):
        torch = self.torch = _torch()
        self.model, self.lr = model, lr
        self.params = {k: torch.tensor(v, requires_grad=True) for k, v in problem.params.items()}
        self.x = torch.tensor(problem.x)  # (B, T, D)
        self.targets = torch.tensor(problem.targets.reshape(-1))  # (B*T,)
        self.rows = torch.arange(self.targets.shape[0])
        self.B, self.T, self.H, self.K = problem.B, problem.T, problem.H, problem.K

    def forward(self):
        torch, p = self.torch, self.params
        h = torch.zeros(self.B, self.H, dtype=self.x.dtype)  # (B, H)
        C = torch.zeros_like(h)
        hs = []
        for t in range(self.T):
            x_t = self.x[:, t]  # (B, D)
            if self.model == "rnn":
                h = torch.tanh(x_t @ p["W"] + h @ p["U"] + p["b"])  # (B, H)
            else:
                z = torch.cat([h, x_t], dim=-1)  # (B, H + D)
                f = torch.sigmoid(z @ p["W_f"] + p["b_f"])
                i = torch.sigmoid(z @ p["W_i"] + p["b_i"])
                C_tilde = torch.tanh(z @ p["W_c"] + p["b_c"])
                o = torch.sigmoid(z @ p["W_o"] + p["b_o"])
                C = f * C + i * C_tilde  # (B, H)
                h = o * torch.tanh(C)  # (B, H)
            hs.append(h)
        logits = (torch.stack(hs, dim=1) @ p["V"] + p["c"]).reshape(-1, self.K)  # (B*T, K)
        return -torch.log_softmax(logits, dim=-1)[self.rows, self.targets].mean()

    def __call__(self) -> float:
        for q in self.params.values():
            q.grad = None
        loss = self.forward()
        loss.backward()
        if self.lr:
            with self.torch.no_grad():
                for q in self.params.values():
                    q -= self.lr * q.grad
        return loss.item()

    def grads(self):
        return {k: q.grad.numpy() for k, q in self.params.items()}


def build(model, problem, lr=None):
    return Step(model, problem, lr)
