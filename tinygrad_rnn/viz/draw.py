"""Lay a Picture out with Graphviz: `draw_graph(root)`, and `write(graph, path)`.

The picture itself (which nodes, which edges, which numbers) is made in graph.py
(op level) and cell.py (one box per time step); this file checks the request,
refuses graphs too large to lay out, and hands the picture to dot.py.
"""

from __future__ import annotations

from pathlib import Path

from .cell import cell_picture, elide_steps
from .errors import GraphTooLargeError
from .graph import is_folded, op_picture, walk

FORMATS = ("svg", "png", "pdf", "dot", "gv")


def draw_graph(root, level: str = "op", *, elide: int | None = None, max_nodes: int = 250,
               title: str | None = None, legend: bool = True, scale=None, layout: str = "row"):
    """The graph that made `root` as a graphviz.Digraph.

    level="op": every tensor a node, every op argument an edge; time steps are
    clusters; a parameter is drawn once, with one edge into each step that uses
    it. level="cell": one box per time step, edges carrying h_t (and C_t).
    elide=k keeps the first and last k steps and draws the middle as one node.
    After backward(), each edge is labelled ‖gradient along it‖ and coloured on
    a log scale; before it, the graph is drawn without numbers.
    scale= (a `LogScale`, e.g. `shared_scale(loss_a, loss_b)`) fixes the colours, so
    pictures drawn with the same scale can be compared by colour.
    layout="row" (op level): one cell laid out and repeated in a row, drawn with
    fixed positions; layout="dot" leaves the whole placement to Graphviz's dot.
    """
    if layout not in ("row", "dot"):
        raise ValueError(f"draw_graph: layout must be 'row' or 'dot', got {layout!r}")
    pic = picture(root, level, elide, max_nodes)
    try:
        from .dot import to_digraph
    except ImportError as e:
        raise ImportError("draw_graph needs the graphviz Python package: pip install graphviz "
                          "(and the Graphviz program: apt-get install graphviz)") from e
    return to_digraph(pic, title=title, legend=legend, scale=scale, row=layout == "row")


def shared_scale(*roots, level: str = "op"):
    """One colour scale covering every edge norm of several graphs (pass it to each draw_graph)."""
    from .dot import LogScale
    norms = []
    for root in roots:
        pic = op_picture(root) if level == "op" else cell_picture(root)
        norms += [n for e in pic.edges if e.kind == "grad" for n in e.norms]
    return LogScale(norms, shared=True)


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
