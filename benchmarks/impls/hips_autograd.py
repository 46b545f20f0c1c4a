"""HIPS `autograd` (PyPI: autograd) on the same composition, as its own LSTM example does.

autograd is functional: `value_and_grad(loss)(params)` traces the forward pass
and returns the loss and a dict of gradients. σ is composed from tanh, as in
HIPS's examples/lstm.py: σ(a) = (tanh(a/2) + 1) / 2.
"""

NAME = "hips_autograd"
LABEL = "HIPS autograd, same primitives"
PACKAGE = ("autograd",)
SIZES = ("toy", "tiny", "medium")  # a large step takes minutes of Python tracing


def _sigmoid(anp, a):
    return 0.5 * (anp.tanh(0.5 * a) + 1.0)


class Step:
    def __init__(self, model, problem, lr=None):
        import autograd.numpy as anp
        from autograd import value_and_grad
        self.anp, self.model, self.lr = anp, model, lr
        self.params = problem.copy_params()
        self.x, self.targets = problem.x, problem.targets.reshape(-1)
        self.B, self.T, self.H, self.K = problem.B, problem.T, problem.H, problem.K
        self.rows = anp.arange(self.targets.shape[0])
        self.value_and_grad = value_and_grad(self.loss)
        self._grads = None

    def loss(self, p):
        anp = self.anp
        h = anp.zeros((self.B, self.H), dtype=self.x.dtype)  # (B, H)
        C = h
        hs = []
        for t in range(self.T):
            x_t = self.x[:, t]  # (B, D)
            if self.model == "rnn":
                h = anp.tanh(anp.dot(x_t, p["W"]) + anp.dot(h, p["U"]) + p["b"])
            else:
                z = anp.concatenate([h, x_t], axis=1)  # (B, H + D)
                f = _sigmoid(anp, anp.dot(z, p["W_f"]) + p["b_f"])
                i = _sigmoid(anp, anp.dot(z, p["W_i"]) + p["b_i"])
                C_tilde = anp.tanh(anp.dot(z, p["W_c"]) + p["b_c"])
                o = _sigmoid(anp, anp.dot(z, p["W_o"]) + p["b_o"])
                C = f * C + i * C_tilde
                h = o * anp.tanh(C)
            hs.append(h)
        logits = anp.reshape(anp.dot(anp.stack(hs, axis=1), p["V"]) + p["c"], (-1, self.K))
        shifted = logits - anp.max(logits, axis=1, keepdims=True)
        logp = shifted - anp.log(anp.sum(anp.exp(shifted), axis=1, keepdims=True))
        return -anp.mean(logp[self.rows, self.targets])

    def __call__(self) -> float:
        loss, grads = self.value_and_grad(self.params)
        if self.lr:
            for k, q in self.params.items():
                q -= self.lr * grads[k]
        self._grads = grads
        return float(loss)

    def grads(self):
        return self._grads


def build(model, problem, lr=None):
    return Step(model, problem, lr)
