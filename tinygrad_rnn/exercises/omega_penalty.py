"""Pascanu's regulariser Ω: ask each step of backprop to keep the gradient's norm.

    Ω = Σ_{k=1}^{T-1} ( ‖∂E/∂h_{k+1} · ∂h_{k+1}/∂h_k‖ / ‖∂E/∂h_{k+1}‖ − 1 )²

with ∂E/∂h_{k+1} held constant (Pascanu, Mikolov and Bengio 2013, eq. 9). In the
row convention the numerator is ‖(g_{k+1} ∘ (1 − h_{k+1}²)) Uᵀ‖ with g = ∂E/∂h.
Write `omega(hs, grads, U)` from Tensor ops: hs = [h_1, ..., h_T] Tensors (B, H),
grads = [g_1, ..., g_T] numpy arrays (B, H) (constants), U the (H, H) Tensor;
return Ω as a scalar Tensor, summed over the batch rows too. Norms are per row:
`(v * v).sum(axis=-1).sqrt()`. Ω must be differentiable in U (through Uᵀ and through
h_{k+1}): the checker compares its value and ∂Ω/∂U, and runs tg.gradcheck on it.
"""

import numpy as np

from ..gradcheck import GradcheckError, gradcheck
from ..tensor import Tensor
from .checking import ExerciseFailure, array, compare

NAME, PAGE, FUNCTION = "omega_penalty", "remedies.md", "omega"
TEMPLATE = '''import numpy as np
import tinygrad_rnn as tg


def omega(hs, grads, U):
    """Pascanu's Omega, a scalar Tensor (summed over k = 1..T-1 and the batch rows)."""
    total = 0
    for k in range(len(hs) - 1):
        g = tg.Tensor(grads[k + 1])                           # dE/dh_{k+1}, (B, H), a constant
        # your code: the norm ratio for step k, squared distance from 1
    return total
'''


def reference(hs, grads, U, transpose: bool = True) -> Tensor:
    total = Tensor(0.0)
    for k in range(len(hs) - 1):
        h, g = hs[k + 1], grads[k + 1]                            # h_{k+1}, ∂E/∂h_{k+1}: (B, H)
        back = (Tensor(g) * (1 - h * h)) @ (U.T if transpose else U)   # (B, H)  ∂E/∂h_k along one step
        ratio = (back * back).sum(axis=-1).sqrt() / np.linalg.norm(g, axis=-1)   # (B,)
        total = total + ((ratio - 1) ** 2).sum()
    return total


def states(x, W, U) -> list:
    """h_1..h_T of h_t = tanh(x_t W + h_{t-1} U), h_0 = 0, for x (B, T, D)."""
    h, hs = Tensor(np.zeros((x.shape[0], U.shape[0]))), []
    for t in range(x.shape[1]):
        h = (Tensor(x[:, t]) @ W + h @ U).tanh()                  # (B, H)
        hs.append(h)
    return hs


def check(fn) -> str:
    rng = np.random.default_rng(19)
    B, T, D, H = 2, 4, 2, 3
    x, W = rng.normal(size=(B, T, D)), Tensor(rng.normal(size=(D, H)))
    grads = [rng.normal(size=(B, H)) for _ in range(T)]
    U_ref = Tensor(rng.normal(size=(H, H)) * 0.8, requires_grad=True)
    U = Tensor(U_ref.data.copy(), requires_grad=True)
    expected = reference(states(x, W, U_ref), grads, U_ref)
    got = fn(states(x, W, U), [g.copy() for g in grads], U)
    if not isinstance(got, Tensor):
        raise ExerciseFailure(f"omega must return a Tensor built from engine ops, got {type(got).__name__}")
    hint = ""
    if np.isclose(array("Ω", got).sum(), reference(states(x, W, U_ref), grads, U_ref, False).data):
        hint = "that is ‖(g ∘ (1 − h²)) U‖: one step back in the row convention multiplies by Uᵀ"
    compare("Ω (the value)", expected.data, np.asarray(got.data).reshape(()), hint=hint)
    try:
        gradcheck(lambda U64: fn(states(x, W, U64), grads, U64), [U_ref.data.copy()])
    except GradcheckError as e:
        raise ExerciseFailure(f"backward() of your Ω disagrees with finite differences of it: part of it "
                              f"is computed outside the engine (numpy, .data)\n{e}") from None
    expected.backward()
    got.backward()
    compare("∂Ω/∂U", U_ref.grad, U.grad)
    return f"Ω = {float(expected.data):.6g} and ∂Ω/∂U match, and backward() agrees with finite differences"
