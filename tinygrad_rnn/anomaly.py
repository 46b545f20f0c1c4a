"""What `detect_anomaly()` reports: the first op whose value or gradient is NaN/Inf.

The engine calls `check_finite` after every forward op and every VJP while the
switch is on; the message names the op, its scope (so the time step), each
input's shape and finite range, and whether the op made the NaN or received it.
"""

from __future__ import annotations

import numpy as np

from .errors import AnomalyError, where


def check_finite(arr, what, node, *inputs, grad_of=None):
    """Under detect_anomaly(): raise if `arr` holds a NaN/Inf, naming the op, its scope,
    and each input's shape, finite range and non-finite count (in backward, also the
    upstream gradient ∂E/∂y and which input's gradient went bad)."""
    if np.all(np.isfinite(arr)):
        return
    bad = "NaN" if np.isnan(arr).any() else "Inf"
    if not inputs:      # backward(): the shares reaching `node` were finite, their sum is not
        raise AnomalyError(f"detect_anomaly: {what}{where(node.scope)} is {bad}: every gradient "
                           f"reaching it ({_summary('sum', arr)}) was finite, their sum is not, an "
                           "explosion where many paths meet (a weight shared by every step): clip "
                           "(nn.clip_grad_norm_), lower the learning rate, or shrink U's spectral radius")
    arrays = [(f"'{t.name}'", t._data) for t in inputs    # not values freed (memory.py): none read them
              if isinstance(t._data, np.ndarray)]
    if grad_of is not None:
        what += f" (the gradient for its input '{grad_of[0].name}')"
        arrays.append((f"upstream gradient ∂E/∂'{node.name}'", grad_of[1]))
    summaries = ", ".join(_summary(label, a) for label, a in arrays)
    if not all(np.all(np.isfinite(a)) for _, a in arrays):
        advice = ("An input already held it: look for the op that made it, or check the data "
                  "with np.isfinite")
    elif grad_of is not None:
        advice = ("The gradient became non-finite here from finite values (an explosion, or an op "
                  "at the edge of its domain such as sqrt at 0): clip it (nn.clip_grad_norm_), lower "
                  "the learning rate, or shrink U's spectral radius")
    else:
        advice = ("This op made it from finite inputs: keep them in its domain (log and pow of "
                  "positive values, no division by 0, no exp overflow)")
    raise AnomalyError(f"detect_anomaly: {what}{where(node.scope)} produced {bad}; "
                       f"inputs: {summaries}. {advice}")


def _summary(label: str, a: np.ndarray) -> str:
    """"'x' (2, 6, 3) in [-2.33, 1.37] with 1 NaN": the shape, the finite range, the non-finite count."""
    finite = a[np.isfinite(a)]
    text = f"{label} {a.shape}" + (f" in [{finite.min():.3g}, {finite.max():.3g}]" if finite.size else "")
    counts = [f"{n} {kind}" for n, kind in ((int(np.isnan(a).sum()), "NaN"), (int(np.isinf(a).sum()), "Inf"))
              if n]
    return text + (" with " + " and ".join(counts) if counts else "")
