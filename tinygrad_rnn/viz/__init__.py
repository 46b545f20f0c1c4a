"""Draw the unrolled graph with the gradient norm on every edge.

    loss.backward()
    g = tg.viz.draw_graph(loss)                    # op level: every primitive op
    g = tg.viz.draw_graph(loss, level="cell")      # one box per time step
    tg.viz.write(g, "graph.svg")                   # or g.render(); in Jupyter just `g`

Graphviz (the Python package and the `dot` program) is needed only to lay the
picture out; importing this module does not import it.
"""

from __future__ import annotations

from pathlib import Path

from .cell import cell_picture, elide_steps
from .errors import GraphTooLargeError, GraphvizNotFoundError
from .graph import is_folded, op_picture, reading_order, time_steps, walk
from .labels import fmt_norm, norm

FORMATS = ("svg", "png", "pdf", "dot", "gv")


def draw_graph(root, level: str = "op", *, elide: int | None = None, max_nodes: int = 250,
               title: str | None = None, legend: bool = True):
    """The graph that made `root` as a graphviz.Digraph.

    level="op": every tensor a node, every op argument an edge; time steps are
    clusters; a parameter is drawn once, with one edge into each step that uses
    it. level="cell": one box per time step, edges carrying h_t (and C_t).
    elide=k keeps the first and last k steps and draws the middle as one node.
    After backward(), each edge is labelled ‖gradient along it‖ and coloured on
    a log scale; before it, the graph is drawn without numbers.
    """
    pic = picture(root, level, elide, max_nodes)
    try:
        from .dot import to_digraph
    except ImportError as e:
        raise ImportError("draw_graph needs the graphviz Python package: pip install graphviz "
                          "(and the Graphviz program: apt-get install graphviz)") from e
    return to_digraph(pic, title=title, legend=legend)


def picture(root, level: str = "op", elide: int | None = None, max_nodes: int = 250):
    """The Picture (nodes, edges, ids) that draw_graph lays out and to_html replays."""
    if level not in ("op", "cell"):
        raise ValueError(f"draw_graph: level must be 'op' or 'cell', got {level!r}")
    if elide is not None and (not isinstance(elide, int) or elide < 1):
        raise ValueError(f"draw_graph: elide must be a positive int (steps kept at each end), got {elide!r}")
    if level == "op" and not elide:
        _check_size(sum(1 for t in walk(root) if not is_folded(t)), max_nodes, level)
    pic = op_picture(root) if level == "op" else cell_picture(root)
    if elide:
        pic = elide_steps(pic, elide)
    _check_size(len(pic.nodes), max_nodes, level)
    return pic


def _check_size(n: int, max_nodes: int, level: str) -> None:
    if n > max_nodes:
        hint = "level='cell' (one box per time step) or " if level == "op" else ""
        raise GraphTooLargeError(
            f"draw_graph: the {level}-level graph has {n} nodes, more than max_nodes={max_nodes}; "
            f"Graphviz would take minutes to lay it out. Draw it with {hint}elide=k (only the first "
            f"and last k time steps, e.g. elide=3), or raise max_nodes if you want every node.")


def to_html(root, path=None, level: str = "op", **kwargs):
    """Write a self-contained page that replays backward() over the picture (see viz/html.py)."""
    from .html import to_html as write_page
    return write_page(root, path, level, **kwargs)


def interactive(root, level: str = "op", **kwargs):
    """The replay page inline in Jupyter (a sandboxed iframe); `draw_graph` stays the static SVG."""
    from .html import interactive as page
    return page(root, level, **kwargs)


def write(graph, path) -> Path:
    """Write `graph` to `path`, the format taken from the extension (svg, png, pdf, dot, gv).

    .dot and .gv write the DOT source and need no Graphviz program.
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValueError(f"write: cannot tell the format of {str(path)!r}; use one of the extensions "
                         + ", ".join("." + f for f in FORMATS))
    if fmt in ("dot", "gv"):
        path.write_text(graph.source, encoding="utf-8")
    else:
        from .dot import explain_missing_dot
        with explain_missing_dot():
            path.write_bytes(graph.pipe(format=fmt))
    return path


def state_grad_norms(root, name: str = "h_t", lane: str | None = None) -> list[float]:
    """‖∂E/∂h_t‖ for t = 1 … T (the last tensor called `name` in each time step).

    `lane` picks a layer by its scope name ("rnn", "lstm", or "rnn (2)" for a
    second call of the same layer); default: the first one. A step whose state
    got no gradient gives 0.0.
    """
    tensors = reading_order(root)
    steps = time_steps(tensors)
    found = {}
    for t in tensors:
        step = steps.get(id(t))
        if t.name == name and step and (lane is None or step[0] == lane):
            lane = step[0]
            found[step[1]] = norm(t.grad) if t.grad is not None else 0.0
    if not found:
        raise ValueError(f"state_grad_norms: no tensor named {name!r} inside a time-step scope "
                         "(e.g. tg.scope('rnn/t=1')) in this graph")
    return [found[t] for t in sorted(found)]


def plot_gradient_flow(runs, path=None, title: str | None = None, name: str = "h_t"):
    """‖∂E/∂h_t‖ against t, log scale, one line per run: {"ρ = 0.5": [norms], ...}."""
    from .plot import plot_gradient_flow as plot
    return plot(runs, path, title, name)


__all__ = ["draw_graph", "to_html", "interactive", "write", "state_grad_norms", "plot_gradient_flow",
           "GraphTooLargeError", "GraphvizNotFoundError", "fmt_norm", "FORMATS"]
