"""micrograd (PyPI: micrograd), Karpathy's scalar engine: one graph node per number.

Toy size only: every multiply-add of every matmul is a Python object, and its
recursive topological sort overflows the stack on long unrolls. The PyPI
version has +, *, ** and relu; exp, log and tanh are added below in its own
style (a node with a `_backward` closure), as a micrograd user would.
"""

import math
import sys

import numpy as np

NAME = "micrograd"
LABEL = "micrograd (scalars)"
PACKAGE = ("micrograd",)
SIZES = ("toy",)
DTYPES = ("float64",)  # Python floats


def _unary(v, value, local_grad, op):
    from micrograd.engine import Value
    out = Value(value, (v,), op)

    def _backward():
        v.grad += local_grad * out.grad
    out._backward = _backward
    return out


def tanh(v):
    t = math.tanh(v.data)
    return _unary(v, t, 1.0 - t * t, "tanh")


def exp(v):
    e = math.exp(v.data)
    return _unary(v, e, e, "exp")


def log(v):
    return _unary(v, math.log(v.data), 1.0 / v.data, "log")


def sigmoid(v):
    return (tanh(v * 0.5) + 1.0) * 0.5


def matvec(row, M):
    """row (n,) times M (n, m): m sums of n products."""
    return [sum((a * M[k][j] for k, a in enumerate(row)), 0.0) for j in range(len(M[0]))]


class Step:
    def __init__(self, model, problem, lr=None):
        from micrograd.engine import Value
        sys.setrecursionlimit(max(sys.getrecursionlimit(), 100_000))
        self.model, self.lr = model, lr
        self.params = {k: np.vectorize(lambda a: Value(float(a)), otypes=[object])(v)
                       for k, v in problem.params.items()}
        self.rows = {k: v.tolist() for k, v in self.params.items()}  # nested lists of Values
        self.x, self.targets = problem.x.tolist(), problem.targets
        self.B, self.T, self.H = problem.B, problem.T, problem.H

    def _loss(self):
        p, H = self.rows, self.H
        total, n = 0.0, 0
        for b in range(self.B):
            h, C = [0.0] * H, [0.0] * H
            for t in range(self.T):
                x_t = self.x[b][t]
                if self.model == "rnn":
                    a = [u + w + bias for u, w, bias in zip(matvec(h, p["U"]), matvec(x_t, p["W"]), p["b"])]
                    h = [tanh(v) for v in a]
                else:
                    z = h + x_t  # [h_{t-1}, x_t]
                    f = [sigmoid(v + bb) for v, bb in zip(matvec(z, p["W_f"]), p["b_f"])]
                    i = [sigmoid(v + bb) for v, bb in zip(matvec(z, p["W_i"]), p["b_i"])]
                    Ct = [tanh(v + bb) for v, bb in zip(matvec(z, p["W_c"]), p["b_c"])]
                    o = [sigmoid(v + bb) for v, bb in zip(matvec(z, p["W_o"]), p["b_o"])]
                    C = [fj * cj + ij * ctj for fj, cj, ij, ctj in zip(f, C, i, Ct)]
                    h = [oj * tanh(cj) for oj, cj in zip(o, C)]
                logits = [v + cc for v, cc in zip(matvec(h, p["V"]), p["c"])]
                m = max(v.data for v in logits)  # a constant shift: exp cannot overflow
                lse = log(sum((exp(v - m) for v in logits), 0.0)) + m
                total = total + (lse - logits[self.targets[b, t]])
                n += 1
        return total * (1.0 / n)

    def __call__(self) -> float:
        for q in self.params.values():
            for v in q.flat:
                v.grad = 0.0
        loss = self._loss()
        loss.backward()
        if self.lr:
            for q in self.params.values():
                for v in q.flat:
                    v.data -= self.lr * v.grad
        return loss.data

    def grads(self):
        return {k: np.vectorize(lambda v: v.grad, otypes=[float])(q) for k, q in self.params.items()}


def build(model, problem, lr=None):
    return Step(model, problem, lr)
