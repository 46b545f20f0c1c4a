"""tinygrad_rnn as a user writes it: the public layers, cross_entropy, backward().

    rnn = nn.RNN(D, H)  or  nn.LSTM(D, H);   readout = nn.Linear(H, K)
    fb:   rnn.zero_grad(); readout.zero_grad()
          hs, _ = rnn(x); loss = cross_entropy(readout(hs), targets); loss.backward()
    sgd:  opt.zero_grad(); (same forward and backward); opt.step()    opt = optim.SGD

The oracle's parameters are copied in, so the gradients can be compared with
the hand-written numpy BPTT to machine precision (the harness and the smoke test do).
"""

NAME = "engine"
LABEL = "tinygrad_rnn (nn layers)"
PACKAGE = ("tinygrad_rnn",)
SIZES = None


class Step:
    def __init__(self, model, problem, lr=None, record_edges=True):
        import tinygrad_rnn as tg
        self.tg, self.record = tg, record_edges
        D, H, K = problem.D, problem.H, problem.K
        self.rnn = tg.nn.RNN(D, H) if model == "rnn" else tg.nn.LSTM(D, H)
        self.readout = tg.nn.Linear(H, K)
        cell = self.rnn.cells[0]
        names = ("W", "U", "b") if model == "rnn" else tuple(f"{w}_{g}" for w in "Wb" for g in "fico")
        self.named = {k: getattr(cell, k) for k in names}
        self.named.update(V=self.readout.weight, c=self.readout.bias)
        for k, p in self.named.items():
            p.data = problem.params[k].copy()  # the oracle's values and dtype
        self.x = tg.Tensor(problem.x)  # (B, T, D)
        self.targets = problem.targets  # (B, T)
        params = self.rnn.parameters() + self.readout.parameters()
        self.optimizer = tg.optim.SGD(params, lr=lr) if lr else None

    def zero_grad(self):
        if self.optimizer:
            self.optimizer.zero_grad()
        else:
            self.rnn.zero_grad()
            self.readout.zero_grad()

    def forward(self):
        hs, _ = self.rnn(self.x)  # (B, T, H)
        logits = self.readout(hs)  # (B, T, K): logits_t = h_t V + c on every step
        return self.tg.nn.functional.cross_entropy(logits, self.targets)

    def forward_backward(self):
        loss = self.forward()
        loss.backward()
        return loss

    def __call__(self) -> float:
        with self.tg.record_edge_grads(self.record):
            self.zero_grad()
            loss = self.forward_backward()
            if self.optimizer:
                self.optimizer.step()
        return loss.item()

    def grads(self):
        return {k: p.grad for k, p in self.named.items()}


def build(model, problem, lr=None):
    return Step(model, problem, lr)
