"""Echo state network: run a fixed reservoir, then fit only the linear readout.

    h_t = tanh(x_t W + h_{t-1} U)        (W, U random and fixed: never trained)
    ŷ_t = h_t V                          V = (SᵀS + λI)⁻¹ Sᵀ Y   (ridge regression)

No gradient goes through time: the reservoir is only run forward, and the readout is
linear regression on its states. Run the reservoir from h_0 = 0 over x (T, D), drop
the first `washout` states (they still remember h_0, not the input), stack the
remaining h_t as the rows of S (T - washout, H), and solve for V (H, O) with the
targets Y = y[washout:] (T - washout, O).

Write `fit_readout(x, y, W, U, washout, ridge)` with numpy arrays x (T, D), y (T, O),
W (D, H), U (H, H); return V (H, O). The checker compares V with the reference and
the predictions ŷ_t on held-out inputs; it recognises the usual slips (no washout,
no ridge term, the reservoir run with Uᵀ, V of shape (O, H)).
"""

import numpy as np

from .checking import ExerciseFailure, array, close, compare

NAME, PAGE, FUNCTION = "echo_state", "remedies.md", "fit_readout"
TEMPLATE = '''import numpy as np


def fit_readout(x, y, W, U, washout, ridge):
    """The ridge-regression readout V (H, O) of a fixed reservoir run over x (T, D)."""
    H, O = U.shape[0], y.shape[1]
    return np.zeros((H, O))   # your code: run h_t = tanh(x_t W + h_{t-1} U), drop the washout, solve
'''
T, D, H, O, WASHOUT, RIDGE = 120, 2, 12, 2, 20, 1e-2


def states(x, W, U) -> np.ndarray:
    """h_1..h_T (T, H) from h_0 = 0: the reservoir run forward (plain numpy: nothing to differentiate)."""
    h, out = np.zeros(U.shape[0]), []
    for x_t in x:
        h = np.tanh(x_t @ W + h @ U)
        out.append(h)
    return np.array(out)


def reference(x, y, W, U, washout, ridge) -> np.ndarray:
    S, Y = states(x, W, U)[washout:], y[washout:]
    return np.linalg.solve(S.T @ S + ridge * np.eye(S.shape[1]), S.T @ Y)      # (H, O)


def reservoir(seed: int = 3):
    rng = np.random.default_rng(seed)
    U = rng.normal(size=(H, H))
    U *= 0.9 / np.max(np.abs(np.linalg.eigvals(U)))         # the recipe: ρ(U) = 0.9
    U[0, 1] += 0.3                                          # not symmetric, so h U and h Uᵀ differ
    return 0.5 * rng.normal(size=(D, H)), U


def check(fn) -> str:
    rng = np.random.default_rng(4)
    W, U = reservoir()
    x = rng.normal(size=(T, D))
    y = np.stack([np.roll(x[:, 0], 1), np.sin(np.cumsum(x[:, 1]) / 5)], axis=1)   # (T, O)
    got = fn(x.copy(), y.copy(), W.copy(), U.copy(), WASHOUT, RIDGE)
    expected = reference(x, y, W, U, WASHOUT, RIDGE)
    got = array("V", got)
    if got.shape == expected.T.shape and got.shape != expected.shape:
        raise ExerciseFailure(f"V has shape {got.shape}, expected {expected.shape}: in the row "
                              "convention ŷ_t = h_t V, so V is (H, O)")
    hint = ""
    if close(got, reference(x, y, W, U, 0, RIDGE)):
        hint = f"the first {WASHOUT} states were kept: drop the washout (they still remember h_0 = 0)"
    elif close(got, reference(x, y, W, U, WASHOUT, 0.0)):
        hint = "no ridge term: solve (SᵀS + λI) V = SᵀY with λ = ridge"
    elif close(got, reference(x, y, W, U.T, WASHOUT, RIDGE)):
        hint = "the reservoir ran as h_{t-1} Uᵀ: the row convention is h_t = tanh(x_t W + h_{t-1} U)"
    elif any(close(got, reference(x, y, W, U, WASHOUT + d, RIDGE)) for d in (-1, 1)):
        hint = f"the washout is off by one: keep h_{WASHOUT + 1}..h_{T}, with the targets y[{WASHOUT}:]"
    compare("V (the readout)", expected, got, rtol=1e-6, hint=hint)
    x_test = rng.normal(size=(40, D))
    compare("ŷ on held-out inputs", states(x_test, W, U) @ expected, states(x_test, W, U) @ got)
    return "the reservoir run forward from h_0 = 0, the washout dropped, the ridge readout solved"
