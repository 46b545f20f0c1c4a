"""A gradient-norm monitor for training loops: gradient explosion is detectable at run time.

Through time, ∂h_t/∂h_k = Π_{k<i<=t} diag(f'(a_i)) Uᵀ is bounded by (γ ‖U‖₂)^(t-k) (the
spectral radius ρ(U) only sets a linear RNN's long-run rate), so an exploding gradient
shows up as a total norm

    ‖g‖ = sqrt(Σ_params ‖g_param‖²)        (all gradients as one vector, as clip_grad_norm_)

that jumps by orders of magnitude, or overflows to Inf/NaN. `check()`, called after
`backward()` and before clipping, measures ‖g‖ and every parameter's norm, keeps them in
`history`, and reports a step whose ‖g‖ exceeds the threshold or is not finite, naming
the parameters responsible:

    monitor = tg.GradientMonitor(model, threshold=100.0, on_explode="warn")
    for x, y in batches:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        monitor.check()                      # the raw ‖g‖, before clipping
        nn.clip_grad_norm_(model, 5.0)
        opt.step()
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from .analysis import grad_norms_of, norm
from .nn.module import parameters_of
from .tensor import Tensor

ACTIONS = ("warn", "raise", "ignore")


class GradientExplosionError(RuntimeError):
    """Raised by `GradientMonitor.check()` with ``on_explode="raise"``."""


class GradientExplosionWarning(RuntimeWarning):
    """Issued by `GradientMonitor.check()` with ``on_explode="warn"`` (the default)."""


@dataclass(frozen=True)
class GradNorms:
    """One `check()`: the step, ‖g‖, each parameter's ‖g_param‖, and the verdict."""

    step: int                     # 1 for the first check()
    total: float                  # ‖g‖ over every parameter with a gradient
    norms: dict[str, float]       # name -> ‖g_param‖
    exploded: bool                # total > threshold, or not finite
    culprits: tuple[str, ...]     # the parameters responsible (empty unless exploded)
    message: str = ""             # what was reported (empty unless exploded)


def _named(parameters) -> list[tuple[str, Tensor]]:
    """(name, tensor) pairs from a Module, a dict, (name, tensor) pairs or plain tensors."""
    if hasattr(parameters, "named_parameters"):
        return list(parameters.named_parameters())
    if isinstance(parameters, dict):
        return list(parameters.items())
    items = parameters_of(parameters)
    if all(isinstance(p, tuple) and len(p) == 2 for p in items):
        return items
    names = [p.name for p in items]          # "W" twice (two cells): number them
    return [(n if names.count(n) == 1 else f"{i}:{n}", p) for i, (n, p) in enumerate(zip(names, items))]


class GradientMonitor:
    """Measure ‖g‖ after every backward(); report when it exceeds `threshold` or is not finite.

    parameters: a Module, a dict or iterable of (name, Tensor), or Tensors (named by `.name`).
    threshold: the ‖g‖ above which a step counts as exploding (default: only Inf/NaN count).
    on_explode: "warn" (a GradientExplosionWarning), "raise" (GradientExplosionError),
    "ignore" (only record), or a callable receiving the step's `GradNorms`.
    """

    def __init__(self, parameters, threshold: float = math.inf, on_explode="warn"):
        self.params = _named(parameters)
        if not self.params:
            raise ValueError("GradientMonitor: got no parameters; pass a model or model.parameters()")
        if not threshold > 0:
            raise ValueError(f"GradientMonitor: threshold must be > 0 (a norm ‖g‖), got {threshold!r}")
        if not callable(on_explode) and on_explode not in ACTIONS:
            raise ValueError(f"GradientMonitor: on_explode must be one of {', '.join(map(repr, ACTIONS))} "
                             f"or a function of the step's GradNorms, got {on_explode!r}")
        self.threshold, self.on_explode = threshold, on_explode
        self.history: list[GradNorms] = []

    def check(self) -> GradNorms:
        """Measure this step's gradients (call after backward()); record and report them."""
        grads = [(name, p.grad) for name, p in self.params if p.grad is not None]
        if not grads:
            raise RuntimeError(f"GradientMonitor.check(): none of the {len(self.params)} parameters has "
                               "a gradient; call it after loss.backward() and before zero_grad()")
        norms = {name: norm(g) for name, g in grads}
        total = norm(list(norms.values()))
        exploded = not math.isfinite(total) or total > self.threshold
        culprits, message = (), ""
        if exploded:
            culprits, message = self._explain(total, norms, dict(grads))
        record = GradNorms(len(self.history) + 1, total, norms, exploded, culprits, message)
        self.history.append(record)
        if exploded:
            self._report(record)
        return record

    def _explain(self, total, norms, grads) -> tuple[tuple[str, ...], str]:
        step = f"GradientMonitor: step {len(self.history) + 1}: "
        if not math.isfinite(total):
            bad = [n for n, g in grads.items() if not np.all(np.isfinite(g))]
            counts = ", ".join(f"'{n}' {grads[n].shape} ({int(np.isnan(grads[n]).sum())} NaN, "
                               f"{int(np.isinf(grads[n]).sum())} Inf)" for n in bad)
            return tuple(bad), (f"{step}‖g‖ is {total}: non-finite gradients in {counts}. Find the first "
                                "op that makes them with tg.detect_anomaly(), and check the data with "
                                "np.isfinite")
        # The largest parameters that together carry 90% of ‖g‖²: the ones responsible.
        ranked = sorted(norms.items(), key=lambda kv: -kv[1])
        culprits, share = [], 0.0
        for name, n in ranked:
            culprits.append(name)
            share += (n / total) ** 2
            if share >= 0.9:
                break
        listed = ", ".join(f"'{n}' {norms[n]:.3g}" for n in culprits)
        return tuple(culprits), (f"{step}‖g‖ = {total:.3g} exceeds the threshold {self.threshold:g} "
                                 f"(largest: {listed}). Clip it (nn.clip_grad_norm_), lower the learning "
                                 "rate, or re-initialise U with a smaller spectral radius "
                                 "(nn.init.orthogonal_, nn.init.spectral_radius_)")

    def _report(self, record: GradNorms) -> None:
        if callable(self.on_explode):
            self.on_explode(record)
        elif self.on_explode == "raise":
            raise GradientExplosionError(record.message)
        elif self.on_explode == "warn":
            warnings.warn(record.message, GradientExplosionWarning, stacklevel=3)

    # ---- the history, for plots ------------------------------------------
    @property
    def totals(self) -> np.ndarray:
        """‖g‖ at every check(), in order (plot it on a log scale)."""
        return np.array([r.total for r in self.history])

    @property
    def explosions(self) -> list[GradNorms]:
        """The checks that exceeded the threshold or were not finite."""
        return [r for r in self.history if r.exploded]

    def reset(self) -> None:
        self.history.clear()


# ---- vanishing: the failure that ‖g‖ cannot see --------------------------------
class VanishingGradientWarning(RuntimeWarning):
    """Issued by `StateGradientMonitor.check()` when the early steps receive (almost) nothing."""


@dataclass(frozen=True)
class StateGradNorms:
    """One `StateGradientMonitor.check()`: ‖∂E/∂h_t‖ for t = 1..T and the reach ratio."""

    step: int                     # 1 for the first check()
    norms: np.ndarray             # (T,)  ‖∂E/∂h_t‖
    reach: float                  # ‖∂E/∂h_1‖ / ‖∂E/∂h_T‖ (0 if h_T got nothing)
    vanished: bool                # reach < min_reach
    message: str = ""


class StateGradientMonitor:
    """Measure ‖∂E/∂h_t‖ at every step after backward(); warn when h_1 receives nothing.

    A vanishing gradient raises no error and leaves ‖g‖ finite and ordinary: the
    early steps simply stop influencing the weights, and a loss stuck at a trivial
    baseline looks like convergence. What does show it is the gradient that reaches
    the first state: with the loss at the end of the sequence (many-to-one),

        reach = ‖∂E/∂h_1‖ / ‖∂E/∂h_T‖ ≈ ‖∂h_T/∂h_1‖ <= (γ ‖U‖₂)^(T-1)

    layer: a sequence layer (its `.states` after the forward pass are h_1..h_T), or
    a function returning the list [h_1, ..., h_T]. min_reach: the reach below which a
    step counts as vanished. on_vanish: "warn", "raise" (RuntimeError), "ignore", or a
    callable receiving the step's `StateGradNorms`.

    With a loss at every step, ∂E/∂h_1 also holds E_1's own gradient, so the ratio
    no longer isolates the path through time; use `analysis.jacobian_norms` there.
    """

    def __init__(self, layer, min_reach: float = 1e-3, on_vanish="warn"):
        if not callable(on_vanish) and on_vanish not in ACTIONS:
            choices = ", ".join(map(repr, ACTIONS))
            raise ValueError(f"StateGradientMonitor: on_vanish must be one of {choices} "
                             f"or a function of the step's StateGradNorms, got {on_vanish!r}")
        if not min_reach > 0:
            raise ValueError(f"StateGradientMonitor: min_reach must be > 0, got {min_reach!r}")
        has_states = hasattr(type(layer), "states")          # a sequence layer (a property: no forward yet)
        self.states = (lambda: layer.states) if has_states else layer
        self.min_reach, self.on_vanish = min_reach, on_vanish
        self.history: list[StateGradNorms] = []

    def check(self) -> StateGradNorms:
        """Read ‖∂E/∂h_t‖ from the states' .grad (call after backward()); record and report."""
        states = list(self.states())
        if not states:
            raise RuntimeError("StateGradientMonitor.check(): the layer holds no states; "
                               "call it after the forward pass and backward()")
        norms = grad_norms_of(states, "StateGradientMonitor.check()")
        reach = float(norms[0] / norms[-1]) if norms[-1] > 0 else 0.0
        vanished = reach < self.min_reach
        message = ""
        if vanished:
            message = (f"StateGradientMonitor: step {len(self.history) + 1}: ‖∂E/∂h_1‖ / ‖∂E/∂h_T‖ = "
                       f"{reach:.2e} over T = {len(states)} steps (below {self.min_reach:g}): the first "
                       "steps receive almost no gradient, so the weights cannot learn what they would "
                       "need to remember; a flat loss here is not convergence. Try an LSTM or GRU, "
                       "U = I with ReLU (nn.init.eye_), an orthogonal U, or a shorter dependency")
        record = StateGradNorms(len(self.history) + 1, norms, reach, vanished, message)
        self.history.append(record)
        if vanished:
            if callable(self.on_vanish):
                self.on_vanish(record)
            elif self.on_vanish == "raise":
                raise RuntimeError(message)
            elif self.on_vanish == "warn":
                warnings.warn(message, VanishingGradientWarning, stacklevel=2)
        return record

    @property
    def reaches(self) -> np.ndarray:
        """The reach ratio at every check(), in order (plot it on a log scale)."""
        return np.array([r.reach for r in self.history])
