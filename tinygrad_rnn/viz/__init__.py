"""Draw the unrolled graph with the gradient norm on every edge.

    loss.backward()
    g = tg.viz.draw_graph(loss)                    # op level: every primitive op
    g = tg.viz.draw_graph(loss, level="cell")      # one box per time step
    tg.viz.write(g, "graph.svg")                   # or g.render(); in Jupyter just `g`

Graphviz (the Python package and the `dot` program) is needed only to lay the
picture out; importing this module does not import it.

This file is the package's face only. Where things are: graph.py (the op-level
Picture), cell.py (one box per time step), draw.py (Graphviz layout and files),
dot.py (DOT text), layout.py + layered.py + curves.py (the op level's row of
identical cells, its buses and label places) and fixed.py (that layout as DOT
with fixed positions), measure.py (crossings and label placement measured on
the drawn layout), html.py (the replay page), labels.py and plot.py. The
measurements (‖∂E/∂h_t‖ and the norm itself) live in `tg.analysis`.
"""

from __future__ import annotations

import warnings

from .draw import FORMATS, draw_graph, picture, shared_scale, write
from .errors import GraphTooLargeError, GraphvizNotFoundError
from .graph import is_folded, reading_order, time_steps, walk  # noqa: F401  (importable as before)
from .labels import fmt_norm, norm  # noqa: F401


def to_html(root, path=None, level: str = "op", **kwargs):
    """Write a self-contained page that replays backward() over the picture (see viz/html.py)."""
    from .html import to_html as write_page
    return write_page(root, path, level, **kwargs)


def interactive(root, level: str = "op", **kwargs):
    """The replay page inline in Jupyter (a sandboxed iframe); `draw_graph` stays the static SVG."""
    from .html import interactive as page
    return page(root, level, **kwargs)


def state_grad_norms(root, name: str = "h_t", lane: str | None = None) -> list[float]:
    """Deprecated: use ``tg.analysis.state_grad_norms(root, name, lane)`` (the same numbers)."""
    warnings.warn("viz.state_grad_norms moved to tg.analysis.state_grad_norms, which takes a graph "
                  "root, a layer or a list of states", DeprecationWarning, stacklevel=2)
    from ..analysis import state_grad_norms as measure
    return [float(n) for n in measure(root, name, lane)]


def plot_gradient_flow(runs, path=None, title: str | None = None, name: str = "h_t"):
    """‖∂E/∂h_t‖ against t, log scale, one line per run: {"ρ = 0.5": [norms], ...}."""
    from .plot import plot_gradient_flow as plot
    return plot(runs, path, title, name)


__all__ = ["draw_graph", "shared_scale", "picture", "to_html", "interactive", "write",
           "state_grad_norms", "plot_gradient_flow", "GraphTooLargeError", "GraphvizNotFoundError",
           "fmt_norm", "FORMATS"]
