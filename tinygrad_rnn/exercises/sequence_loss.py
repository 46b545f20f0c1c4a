"""The char-RNN's loss over one chunk, as min-char-rnn computes it.

    h_t = tanh(x_t W + h_{t-1} U + b),  h_0 = 0       x_t = one-hot(inputs[t]), so x_t W = W[inputs[t]]
    y_t = softmax(h_t V + c)                           E = Σ_t −log y_t[targets[t]]

Write `loss(inputs, targets, p)`: inputs and targets int arrays (T,) of character ids,
p a dict of Tensors W (K, H), U (H, H), b (H,), V (H, K), c (K,); return E, a scalar
Tensor: the **sum** over the T steps (min-char-rnn's loss; `F.cross_entropy` takes
the mean unless reduction="sum"). The checker compares E and its gradients.
"""

import numpy as np

from ..nn import functional as F
from ..tensor import Tensor, cat
from .checking import ExerciseFailure, compare, compare_grads

NAME, PAGE, FUNCTION = "sequence_loss", "char_rnn.md", "loss"
TEMPLATE = '''import numpy as np
import tinygrad_rnn as tg


def loss(inputs, targets, p):
    """E = sum over t of -log softmax(h_t V + c)[targets[t]], a scalar Tensor."""
    h = tg.Tensor(np.zeros((1, p["U"].shape[0])))                        # h_0, (1, H)
    E = 0
    for t in range(len(inputs)):
        x_W = p["W"][np.array([inputs[t]])]                             # (1, H) = one-hot(x_t) W
        # your code: h_t, the logits, E_t
    return E
'''


def reference(inputs, targets, p) -> Tensor:
    h, logits = Tensor(np.zeros((1, p["U"].shape[0]))), []
    for t in range(len(inputs)):
        h = (p["W"][np.array([inputs[t]])] + h @ p["U"] + p["b"]).tanh()      # (1, H)
        logits.append(h @ p["V"] + p["c"])                                # (1, K)
    return F.cross_entropy(cat(logits, axis=0), np.asarray(targets), reduction="sum")


def check(fn) -> str:
    rng = np.random.default_rng(23)
    K, H, T = 5, 4, 6
    shapes = {"W": (K, H), "U": (H, H), "b": (H,), "V": (H, K), "c": (K,)}
    values = {k: rng.normal(size=s) * 0.5 for k, s in shapes.items()}
    ref_p = {k: Tensor(v.copy(), requires_grad=True, name=k) for k, v in values.items()}
    p = {k: Tensor(v.copy(), requires_grad=True, name=k) for k, v in values.items()}
    inputs, targets = rng.integers(0, K, T), rng.integers(0, K, T)
    expected, got = reference(inputs, targets, ref_p), fn(inputs.copy(), targets.copy(), p)
    if not isinstance(got, Tensor) or got.size != 1:
        raise ExerciseFailure(f"loss must return a scalar Tensor, got {type(got).__name__} "
                              f"{getattr(got, 'shape', '')}")
    value, E = float(got.data.sum()), float(expected.data)
    hint = f"that is E / T (T = {T}): the mean over time, not the sum" if np.isclose(value, E / T) else ""
    compare("E (the value)", E, value, hint=hint)
    expected.backward()
    got.backward()
    compare_grads(ref_p, p, "E")
    return f"E = {E:.6g} and the gradients of W, U, b, V, c match"
