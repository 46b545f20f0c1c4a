"""The gradient-flow plot: ‖∂E/∂h_t‖ against t on a log scale, one line per run.

With the loss on the last step only, ∂E/∂h_t = ∂E/∂h_T · Π_{t<i<=T} ∂h_i/∂h_{i-1},
a product of T - t Jacobians diag(1 - h_i²) U^T: a straight line on a log scale
whose slope is the log of a typical factor. Below 1 it vanishes, above 1 it explodes.
"""

from __future__ import annotations

import math

INSTALL = "pip install 'tinygrad-rnn[plot]' (or pip install matplotlib)"
MISSING = "plot_gradient_flow needs matplotlib, an optional dependency: " + INSTALL


def plot_gradient_flow(runs: dict, path=None, title: str | None = None, name: str = "h_t"):
    """Plot {label: [‖∂E/∂h_1‖, …, ‖∂E/∂h_T‖]} and return the matplotlib Figure.

    `path` (png, svg, pdf) saves it. Zeros cannot be drawn on a log axis: they
    are left out of their line (and said so in the legend).
    """
    try:
        from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend
    except ImportError as e:
        raise ImportError(MISSING) from e
    if not runs:
        raise ValueError("plot_gradient_flow: `runs` is empty; pass {label: [norm at t=1, ...]}")
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    for label, norms in runs.items():
        norms = [float(n) for n in norms]
        if not norms:
            raise ValueError(f"plot_gradient_flow: run {label!r} has no values")
        pts = [(t, n) for t, n in enumerate(norms, start=1) if n > 0 and math.isfinite(n)]
        dropped = len(norms) - len(pts)
        ax.plot([t for t, _ in pts], [n for _, n in pts], marker="o", markersize=3,
                label=f"{label}" + (f" ({dropped} zero/non-finite left out)" if dropped else ""))
    ax.set_yscale("log")
    ax.set_xlabel("time step t")
    ax.set_ylabel(f"‖∂E/∂{name}‖")
    ax.set_title(title or f"gradient flow back through time: ‖∂E/∂{name}‖")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
