"""mygrad (PyPI: mygrad), a numpy autograd library, on the same composition.

Constants are numpy scalars of the parameters' dtype: mygrad promotes a
float32 tensor combined with a Python float to float64.
"""

NAME = "mygrad"
LABEL = "mygrad, same primitives"
PACKAGE = ("mygrad",)
SIZES = ("toy", "tiny", "medium")  # large: minutes per step

import numpy as np  # noqa: E402


class Step:
    def __init__(self, model, problem, lr=None):
        import mygrad as mg
        self.mg, self.model, self.lr = mg, model, lr
        self.params = {k: mg.tensor(v.copy()) for k, v in problem.params.items()}
        self.x, self.targets = problem.x, problem.targets.reshape(-1)
        self.B, self.T, self.H, self.K = problem.B, problem.T, problem.H, problem.K
        self.rows = np.arange(self.targets.shape[0])

    def forward(self):
        mg, p = self.mg, self.params
        sigmoid = mg.nnet.sigmoid
        h = mg.zeros((self.B, self.H), dtype=self.x.dtype, constant=True)  # (B, H)
        C = h
        hs = []
        for t in range(self.T):
            x_t = self.x[:, t]  # (B, D)
            if self.model == "rnn":
                h = mg.tanh(mg.matmul(x_t, p["W"]) + mg.matmul(h, p["U"]) + p["b"])
            else:
                z = mg.concatenate([h, x_t], axis=1)  # (B, H + D)
                f = sigmoid(mg.matmul(z, p["W_f"]) + p["b_f"])
                i = sigmoid(mg.matmul(z, p["W_i"]) + p["b_i"])
                C_tilde = mg.tanh(mg.matmul(z, p["W_c"]) + p["b_c"])
                o = sigmoid(mg.matmul(z, p["W_o"]) + p["b_o"])
                C = f * C + i * C_tilde
                h = o * mg.tanh(C)
            hs.append(h)
        logits = mg.reshape(mg.matmul(mg.stack(hs, axis=1), p["V"]) + p["c"], (-1, self.K))
        logp = mg.nnet.logsoftmax(logits, axis=-1)
        return -mg.mean(logp[self.rows, self.targets])

    def __call__(self) -> float:
        loss = self.forward()
        loss.backward()
        if self.lr:
            for q in self.params.values():
                q.data -= self.lr * q.grad
        return float(loss.item())

    def grads(self):
        return {k: q.grad for k, q in self.params.items()}


def build(model, problem, lr=None):
    return Step(model, problem, lr)
