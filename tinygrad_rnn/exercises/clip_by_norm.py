"""Clipping by norm, the notes' remedy for exploding gradients.

    ‖g‖ = sqrt(Σ_params Σ_entries g²)        g <- threshold · g / ‖g‖   if ‖g‖ > threshold

Write `clip(grads, threshold)`: grads is a list of numpy arrays (one per parameter);
return the list of clipped arrays. ‖g‖ is the norm of all of them together, so every
parameter is scaled by the same factor and the descent direction is kept. The
checker compares with `nn.clip_grad_norm_`.
"""

import numpy as np

from ..nn.clip import clip_grad_norm_
from ..nn.module import Parameter
from .checking import ExerciseFailure, close, compare

NAME, PAGE, FUNCTION = "clip_by_norm", "remedies.md", "clip"
TEMPLATE = '''import numpy as np


def clip(grads, threshold):
    """The gradients rescaled so that their total norm is at most threshold."""
    return [g.copy() for g in grads]   # your code
'''
NAMES = ("W", "U", "b")


def reference(grads, threshold):
    params = [Parameter(g.copy()) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.copy()
    clip_grad_norm_(params, threshold)
    return [p.grad for p in params]


def check(fn) -> str:
    rng = np.random.default_rng(7)
    grads = [rng.normal(size=s) for s in ((2, 3), (3, 3), (3,))]
    total = float(np.sqrt(sum((g ** 2).sum() for g in grads)))
    for threshold in (total / 4, 2 * total):                  # clipped, then left alone
        got = fn([g.copy() for g in grads], threshold)
        if not isinstance(got, (list, tuple)) or len(got) != len(grads):
            raise ExerciseFailure(f"clip must return a list of {len(grads)} arrays, got {type(got).__name__}")
        expected = reference(grads, threshold)
        for name, g, e, old in zip(NAMES, got, expected, grads):
            hint = ""
            if close(g, old * min(1, threshold / np.linalg.norm(old))):
                hint = "each parameter was clipped by its own norm: ‖g‖ is the norm of all gradients together"
            elif close(g, old) and threshold < total:
                hint = f"‖g‖ = {total:.4g} > threshold = {threshold:.4g}, so g must shrink"
            compare(f"threshold {threshold:.4g} (‖g‖ = {total:.4g}): parameter '{name}'", e, g, rtol=1e-5,
                    hint=hint)
    return "clipped by the total norm, and left alone below the threshold"
