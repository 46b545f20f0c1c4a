"""Batch normalisation in training mode, from Tensor ops, with its running statistics.

    μ_B = mean of x over the batch (axis 0)          σ²_B = mean((x - μ_B)²)   (biased)
    y = (x - μ_B) / √(σ²_B + ε) · weight + bias
    running_mean ← (1 - m) running_mean + m μ_B
    running_var  ← (1 - m) running_var  + m σ²_B · N/(N - 1)       (unbiased), m = momentum

Each feature (column) is normalised with the statistics of the batch, and the
gradient flows through μ_B and σ²_B too: every row of y depends on every row of x.

Write `batch_norm(x, weight, bias, running_mean, running_var, momentum, eps)`: x a
float64 Tensor (N, C) that requires grad, weight and bias Tensors (C,), the running
statistics numpy arrays (C,). Return (y, new_running_mean, new_running_var): y a
Tensor, the statistics numpy arrays. The checker compares them with
`nn.BatchNorm1d`, and ∂/∂x, ∂/∂weight, ∂/∂bias after backward(), and runs
`tg.gradcheck` on your y.
"""

import numpy as np

from ..gradcheck import gradcheck
from ..nn.layers import BatchNorm1d
from ..tensor import Tensor
from .checking import ExerciseFailure, close, compare

NAME, PAGE, FUNCTION = "batch_norm", "remedies.md", "batch_norm"
TEMPLATE = '''import numpy as np
import tinygrad_rnn as tg


def batch_norm(x, weight, bias, running_mean, running_var, momentum, eps):
    """Training-mode batch norm of x (N, C): y, and the updated running statistics."""
    y = x * weight + bias                     # your code: normalise each column by the batch's statistics
    return y, running_mean.copy(), running_var.copy()
'''
N, C, MOMENTUM, EPS = 6, 3, 0.2, 0.1          # a large ε, so that a missing one shows


def reference(x: np.ndarray, w: np.ndarray, b: np.ndarray, mean: np.ndarray, var: np.ndarray):
    """nn.BatchNorm1d after one training batch: (the layer, its input Tensor, y)."""
    bn = BatchNorm1d(C, eps=EPS, momentum=MOMENTUM, dtype=np.float64)
    bn.weight.data, bn.bias.data = w.copy(), b.copy()
    bn.running_mean, bn.running_var = mean.copy(), var.copy()
    xt = Tensor(x.copy(), requires_grad=True)
    return bn, xt, bn(xt)


def inputs(seed: int = 8):
    rng = np.random.default_rng(seed)
    return (rng.normal(2.0, 3.0, size=(N, C)), rng.normal(size=C) + 1.0, rng.normal(size=C),
            rng.normal(size=C), rng.uniform(0.5, 2.0, size=C))


def run(fn, x, w, b, mean, var):
    xt, wt, bt = (Tensor(v.copy(), requires_grad=True, name=n)
                  for v, n in ((x, "x"), (w, "weight"), (b, "bias")))
    out = fn(xt, wt, bt, mean.copy(), var.copy(), MOMENTUM, EPS)
    if not isinstance(out, tuple) or len(out) != 3 or not isinstance(out[0], Tensor):
        raise ExerciseFailure("batch_norm must return (y, new_running_mean, new_running_var) with y "
                              f"a Tensor, got {out!r:.80}")
    return (xt, wt, bt), out


def check(fn) -> str:
    x, w, b, mean, var = inputs()
    bn, xr, yr = reference(x, w, b, mean, var)
    (xt, wt, bt), (y, new_mean, new_var) = run(fn, x, w, b, mean, var)
    mu, var_b = x.mean(axis=0), x.var(axis=0)
    hint = ""
    if close(y.data, (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + EPS) * w + b):
        hint = ("the statistics were taken over the features of each row (that is LayerNorm): "
                "take them over the batch, axis 0")
    elif close(y.data, (x - mu) / np.sqrt(x.var(axis=0, ddof=1) + EPS) * w + b):
        hint = ("y used the unbiased variance: normalise with the biased σ²_B; "
                "N/(N - 1) is only for running_var")
    elif close(y.data, (x - mu) / np.sqrt(var_b) * w + b):
        hint = "ε is missing: divide by √(σ²_B + ε)"
    compare("forward: y", yr.data, y.data, hint=hint)
    swapped = MOMENTUM * mean + (1 - MOMENTUM) * mu                 # the momentum on the wrong side
    hint = ("running_mean ← (1 - m) running_mean + m μ_B, with m = momentum"
            if close(new_mean, swapped) else "")
    compare("running_mean", bn.running_mean, new_mean, hint=hint)
    hint = ""
    if close(new_var, (1 - MOMENTUM) * var + MOMENTUM * var_b):
        hint = "running_var takes the unbiased σ²_B · N/(N - 1)"
    compare("running_var", bn.running_var, new_var, hint=hint)
    R = np.random.default_rng(9).normal(size=(N, C))
    yr.backward(R)
    y.backward(R)
    for name, mine, ref in (("weight", wt, bn.weight), ("bias", bt, bn.bias), ("x", xt, xr)):
        if mine.grad is None:
            raise ExerciseFailure(f"{name}.grad is None: {name} does not reach y through Tensor ops")
        hint = ""
        if name == "x" and close(mine.grad, R * w / np.sqrt(var_b + EPS)):
            hint = ("the gradient did not flow through μ_B and σ²_B (computed with numpy or .data?): "
                    "compute them with Tensor ops")
        compare(f"∂/∂{name}", ref.grad, mine.grad, hint=hint)
    try:
        gradcheck(lambda x_: fn(x_, Tensor(w), Tensor(b), mean.copy(), var.copy(), MOMENTUM, EPS)[0], [x])
    except AssertionError as e:
        raise ExerciseFailure(f"tg.gradcheck of y against finite differences: {e}") from None
    return "y, its gradients through the batch statistics and both running statistics match nn.BatchNorm1d"
