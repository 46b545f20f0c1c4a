"""Sum or mean over time: the same training step with E = Σ_t E_t and with the mean J.

`F.cross_entropy(logits, targets, reduction="sum")` over a batch of B sequences of
T steps is E, the sum of B·T per-step losses; the default reduction="mean" is
J = E / (B·T), so ∂J/∂θ = ∂E/∂θ / (B·T). One step of SGD with clipping,

    g ← g · min(1, threshold / ‖g‖)          θ ← θ - lr · g

takes a different step on J than on E with the same lr and threshold. (Where
clipping acts, the step is lr · threshold · g/‖g‖: only the product of the two
matters there, which is why the checker also tries a batch that is not clipped.)

Write `mean_settings(lr, threshold, B, T)`: given the lr and the clipping threshold
someone tuned for E, return (lr_J, threshold_J) with which the step on J is exactly
the step on E. The checker trains one step of a small RNN both ways, for two batch
shapes (one where clipping acts, one where it does not), and compares every
parameter afterwards. It clips with the notes' formula above: `nn.clip_grad_norm_`
adds PyTorch's 1e-6 to ‖g‖, so with it the two steps agree only to about
1e-6 / ‖∂J/∂θ‖.
"""

import numpy as np

from ..analysis import norm as total_norm
from ..nn.functional import cross_entropy
from ..nn.layers import Linear
from ..nn.sequence import RNN
from ..tensor import Tensor
from .checking import ExerciseFailure, compare

NAME, PAGE, FUNCTION = "sum_or_mean", "bptt.md", "mean_settings"
TEMPLATE = '''def mean_settings(lr, threshold, B, T):
    """(lr_J, threshold_J): the step on the mean J equal to the step on the sum E."""
    return lr, threshold   # your code: how do ∂J/∂θ and ∂E/∂θ differ?
'''
K, H = 5, 6
LR, THRESHOLDS = 0.05, {"clipping acts": 1.0, "no clipping": 1e6}


def model(seed: int = 2):
    from ..rng import manual_seed
    manual_seed(seed)
    return RNN(K, H, dtype=np.float64), Linear(H, K, dtype=np.float64)


def step(B: int, T: int, lr: float, threshold: float, reduction: str) -> tuple[dict, float]:
    """One clipped SGD step from the same start; (parameters after it, ‖g‖ before clipping)."""
    rnn, readout = model()
    rng = np.random.default_rng(B * 100 + T)
    chars = rng.integers(0, K, size=(B, T + 1))
    outputs, _ = rnn(Tensor(np.eye(K)[chars[:, :-1]]))                 # (B, T, H)
    cross_entropy(readout(outputs), chars[:, 1:], reduction=reduction).backward()
    params = {f"rnn.{k}": p for k, p in rnn.named_parameters()}
    params.update({f"readout.{k}": p for k, p in readout.named_parameters()})
    norm = total_norm(np.concatenate([p.grad.ravel() for p in params.values()]))   # ‖g‖, all together
    coef = min(1.0, threshold / norm)                                               # the notes' clipping
    for p in params.values():
        p.data = p.data - lr * coef * p.grad
    return {k: p.data for k, p in params.items()}, norm


def check(fn) -> str:
    for B, T, case in ((3, 8, "clipping acts"), (2, 20, "no clipping")):
        tau = THRESHOLDS[case]
        got = fn(LR, tau, B, T)
        if not isinstance(got, tuple) or len(got) != 2:
            raise ExerciseFailure(f"mean_settings must return (lr_J, threshold_J), got {got!r:.60}")
        lr_J, tau_J = (float(v) for v in got)
        expected, norm_E = step(B, T, LR, tau, "sum")
        after, _ = step(B, T, lr_J, tau_J, "mean")
        hint = ""
        if np.isclose(lr_J, LR * T) or np.isclose(tau_J, tau / T):
            hint = f"cross_entropy's mean is over all B·T = {B * T} rows, not over the T steps only"
        elif np.isclose(lr_J, LR / (B * T)) or np.isclose(tau_J, tau * B * T):
            hint = "the other way round: J's gradient is B·T times smaller than E's"
        elif np.isclose(tau_J, tau) and case == "clipping acts":
            hint = (f"‖∂E/∂θ‖ = {norm_E:.3g} is clipped at {tau:g}; ‖∂J/∂θ‖ is B·T times smaller, "
                    "so the threshold must shrink with it")
        for name, e in expected.items():
            compare(f"B = {B}, T = {T} ({case}): parameter '{name}' after one step", e, after[name],
                    rtol=1e-8, atol=1e-12, hint=hint)
    return "the step on the mean J equals the step on the sum E, with and without clipping"
