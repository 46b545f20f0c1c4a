"""Terminal bar charts of gradient norms: ‖∂E/∂h_t‖ per step, one bar each, on a log scale.

    t =   1  1.23e-04  ██████████
    t =   2  4.56e-03  ██████████████████

Five blocks per decade, the largest norm 30 blocks long, so a vanishing gradient
reads as bars shrinking towards t = 1 and one decade is always the same length.
"""

from __future__ import annotations

import math

from tinygrad_rnn.viz.labels import fmt_norm, norm


def norm_bars(sym: str, grads, show: int = 30) -> str:
    """‖∂E/∂{sym}_t‖ for t = 1 … T as text bars; beyond `show` steps the middle is elided."""
    norms = [norm(g) if g is not None else 0.0 for g in grads]
    lines = [f"‖∂E/∂{sym}_t‖ for t = 1 … {len(norms)}:"]
    top = max(norms) or 1.0
    for t, n in enumerate(norms, start=1):
        if len(norms) > show and show // 2 < t <= len(norms) - show // 2:
            if t == show // 2 + 1:
                lines.append(f"  … {len(norms) - 2 * (show // 2)} steps …")
            continue
        bar = "█" * max(1, round(30 + 5 * math.log10(n / top))) if n > 0 and math.isfinite(n) else ""
        lines.append(f"  t = {t:>3}  {fmt_norm(n)}  {bar}")
    return "\n".join(lines)


def state_norm_bars(layer, show: int = 30) -> str:
    """The bars of ‖∂E/∂h_t‖ of a recurrent layer after backward(), and ‖∂E/∂C_t‖ for an LSTM."""
    parts = [norm_bars("h", [h.grad for h in layer.states], show)]
    if hasattr(layer, "cell_states"):
        parts.append(norm_bars("C", [C.grad for C in layer.cell_states], show))
    return "\n".join(parts)
