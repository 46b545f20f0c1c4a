"""BPTT by hand, T = 3: the share of ∂E/∂W that each time step contributes.

    h_t = tanh(x_t W + h_{t-1} U),  h_0 = 0        y_t = softmax(h_t V)
    E = E_1 + E_2 + E_3,  E_t = -log y_t[target_t]

W is used at every step, so ∂E/∂W = S_1 + S_2 + S_3, where S_k is the gradient
through W's use at step k: S_k = x_kᵀ δ_k with δ_k = ∂E/∂a_k, a_k = x_k W + h_{k-1} U.
Write `dE_dW(x, targets, W, U, V)` in numpy (no Tensors): x (3, D), targets (3,)
ints, W (D, H), U (H, H), V (H, K); return [S_1, S_2, S_3], each (D, H).
The checker compares each S_k with the engine's (W copied once per step).
"""

import numpy as np

from ..tensor import Tensor
from .checking import ExerciseFailure, close, compare

NAME, PAGE, FUNCTION = "bptt_shares", "bptt.md", "dE_dW"
TEMPLATE = '''import numpy as np


def dE_dW(x, targets, W, U, V):
    """[S_1, S_2, S_3]: S_k = x_k^T delta_k, the share of dE/dW from step k (each (D, H))."""
    T = len(x)
    hs = [np.zeros(U.shape[0])]                  # h_0
    for t in range(T):
        hs.append(np.tanh(x[t] @ W + hs[-1] @ U))
    # your code: go back from t = T to 1, carrying dE/dh_t
    return [np.zeros_like(W) for _ in range(T)]
'''


def reference(x, targets, W, U, V, future: bool = True):
    """Each step's share by backward(), with its own copy W_k of W; future=False keeps only
    E_k's own term (the typical mistake, used for the hint)."""
    Ws = [Tensor(W.copy(), requires_grad=True) for _ in x]
    h, E = Tensor(np.zeros((1, U.shape[0]))), 0
    for t in range(len(x)):
        h_in = h if future else h.detach()
        h = (Tensor(x[t:t + 1]) @ Ws[t] + h_in @ Tensor(U)).tanh()               # (1, H)
        E = E - (h @ Tensor(V)).log_softmax(axis=-1)[0, int(targets[t])]
    E.backward()
    return [w.grad for w in Ws], float(E.data)


def check(fn) -> str:
    rng = np.random.default_rng(3)
    D, H, K, T = 2, 3, 4, 3
    x, targets = rng.normal(size=(T, D)), rng.integers(0, K, T)
    W, U, V = rng.normal(size=(D, H)), rng.normal(size=(H, H)), rng.normal(size=(H, K))
    shares = fn(x.copy(), targets.copy(), W.copy(), U.copy(), V.copy())
    if not isinstance(shares, (list, tuple)) or len(shares) != T:
        got = f"{len(shares)} of them" if isinstance(shares, (list, tuple)) else type(shares).__name__
        raise ExerciseFailure(f"dE_dW must return a list of {T} arrays (one per step), got {got}")
    expected, _ = reference(x, targets, W, U, V)
    local, _ = reference(x, targets, W, U, V, future=False)
    for k in range(T):
        hint = ""
        if close(shares[k], local[k]) and not close(local[k], expected[k]):
            hint = (f"S_{k + 1} has only E_{k + 1}'s own term: δ_{k + 1} also gets the gradient "
                    f"back from the later steps, ∂E/∂h_{k + 1} = δ_{k + 2} Uᵀ + ∂E_{k + 1}/∂h_{k + 1}")
        compare(f"time step {k + 1}: S_{k + 1} = ∂E/∂W through W's use at step {k + 1}",
                expected[k], shares[k], hint=hint)
    return f"all {T} shares match the engine; their sum is ∂E/∂W"
