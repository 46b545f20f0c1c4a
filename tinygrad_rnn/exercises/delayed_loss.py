"""The loss of a delayed many-to-many model: score only the outputs after the delay.

A model that reads d steps before it answers emits logits at every step t = 1..T,
but only steps d+1..T have a target: the answer to input t - d comes out at step t.

    J = mean over b and t = d+1..T of  -log softmax(logits[b, t])[targets[b, t - d]]

Write `delayed_loss(logits, targets, delay)`: logits a Tensor (B, T, K), targets an int
array (B, T - delay), delay = d >= 0; return J, a scalar Tensor (the mean, as
`F.cross_entropy`). The checker compares J and the gradient at every time step: the
first d steps must receive none.
"""

import numpy as np

from ..nn import functional as F
from ..tensor import Tensor
from .checking import ExerciseFailure, compare

NAME, PAGE, FUNCTION = "delayed_loss", "sequences.md", "delayed_loss"
TEMPLATE = '''import numpy as np
from tinygrad_rnn.nn import functional as F


def delayed_loss(logits, targets, delay):
    """The mean cross-entropy of the steps after the delay, a scalar Tensor."""
    B, T, K = logits.shape
    return F.cross_entropy(logits.reshape(B * T, K), np.zeros(B * T, dtype=np.int64))   # your code
'''


def reference(logits: Tensor, targets: np.ndarray, delay: int) -> Tensor:
    B, T, K = logits.shape
    return F.cross_entropy(logits[:, delay:].reshape(B * (T - delay), K), targets.reshape(-1))


def check(fn) -> str:
    rng = np.random.default_rng(29)
    B, T, K, d = 2, 6, 4, 2
    data, targets = rng.normal(size=(B, T, K)), rng.integers(0, K, (B, T - d))
    expected, got_in = Tensor(data.copy(), requires_grad=True), Tensor(data.copy(), requires_grad=True)
    J = reference(expected, targets, d)
    got = fn(got_in, targets.copy(), d)
    if not isinstance(got, Tensor) or got.size != 1:
        raise ExerciseFailure(f"delayed_loss must return a scalar Tensor, got {type(got).__name__}")
    J.backward()
    got.backward()
    if got_in.grad is None:
        raise ExerciseFailure("logits.grad is None: the loss does not depend on the logits")
    for t in range(T):
        place = f"time step {t + 1} (delay {d})"
        if t < d and np.abs(got_in.grad[:, t]).max() > 0:
            raise ExerciseFailure(f"{place}: its logits received a gradient, but the first {d} outputs "
                                  "have no target and must not be scored")
        hint = "output t answers input t - d: logits[:, d:] pairs with targets[:, :]" if t >= d else ""
        compare(f"{place}: ∂J/∂logits[:, {t}]", expected.grad[:, t], got_in.grad[:, t], hint=hint)
    compare("J (the value)", float(J.data), float(got.data.sum()),
            hint="the mean over the scored steps: B·(T - d) terms")
    return f"J = {float(J.data):.6g}; no gradient reaches the first {d} steps, and the rest match"
