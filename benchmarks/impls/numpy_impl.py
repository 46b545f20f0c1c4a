"""The limit: hand-written batched numpy forward + BPTT, no graph at all.

Wraps `benchmarks/numpy_bptt.py`. Note the oracle also returns ∂E/∂x and the
initial-state gradients (one extra (B*T, H) x (H, D) matmul), which the other
implementations skip: the limit is, if anything, slightly pessimistic.
"""

from benchmarks.numpy_bptt import lstm_forward_backward, rnn_forward_backward

NAME = "numpy"
LABEL = "numpy (hand-written BPTT)"
PACKAGE = ("numpy",)
SIZES = None


class Step:
    def __init__(self, model, problem, lr=None):
        self.params = problem.copy_params()
        self.x, self.targets, self.lr = problem.x, problem.targets, lr
        self.fb = rnn_forward_backward if model == "rnn" else lstm_forward_backward
        self._grads = None

    def __call__(self) -> float:
        loss, grads, _ = self.fb(self.params, self.x, self.targets)
        if self.lr:
            for k, p in self.params.items():
                p -= self.lr * grads[k]  # SGD, in place
        self._grads = grads
        return float(loss)

    def grads(self):
        return {k: self._grads[k] for k in self.params}


def build(model, problem, lr=None):
    return Step(model, problem, lr)
