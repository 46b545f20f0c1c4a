"""Picture -> graphviz.Digraph: styles, time-step clusters, log-scale edges, the legend.

Edge width and colour follow log10 ‖gradient‖ between the smallest and the
largest norm in the picture, so 1e-8 and 1e-1 are far apart at a glance: pale
and thin where the gradient has vanished, dark red and thick where it is big.
"""

from __future__ import annotations

import collections
import contextlib
import html
import math

import graphviz

from .errors import INSTALL_HELP, GraphvizNotFoundError
from .graph import Edge, Node, Picture
from .labels import fmt_norm, html_text, step_title

# Pale -> dark, for small -> large gradients (ColorBrewer OrRd, 5 classes).
PALETTE = ["#fdcc8a", "#fc8d59", "#e34a33", "#b30000", "#4d0000"]
MIN_WIDTH, MAX_WIDTH = 0.6, 5.0
# Up to this many nodes, edge labels take part in the layout (neatest). Beyond it
# they are placed after it (`xlabel`): an inline label doubles the number of ranks,
# and with it dot's time on the long edges of shared weights (LSTM T=10: 11 s -> 1.2 s of CPU).
INLINE_LABELS_UP_TO = 100

NODE_STYLE = {
    "param":    dict(shape="box", style="filled,rounded,bold", fillcolor="#fdebd0", color="#d35400"),
    "input":    dict(shape="box", style="filled", fillcolor="#eeeeee", color="#999999"),
    "tensor":   dict(shape="box", style="filled", fillcolor="#d6eaf8", color="#2e86c1"),
    "op":       dict(shape="ellipse", style="filled", fillcolor="white", color="#888888", fontsize="10"),
    "loss":     dict(shape="doubleoctagon", style="filled", fillcolor="#f5b7b1", color="#922b21"),
    "detached": dict(shape="box", style="dashed", color="#c0392b", fontcolor="#c0392b"),
    "cell":     dict(shape="box", style="filled,rounded", fillcolor="#d6eaf8", color="#2e86c1"),
    "elided":   dict(shape="note", style="filled", fillcolor="#f4f6f6", color="#7f8c8d"),
    "params":   dict(shape="note", style="filled", fillcolor="#fdebd0", color="#d35400", fontsize="10"),
}


@contextlib.contextmanager
def explain_missing_dot():
    try:
        yield
    except graphviz.ExecutableNotFound as e:
        raise GraphvizNotFoundError(INSTALL_HELP) from e


class Graph(graphviz.Digraph):
    """A graphviz.Digraph whose render() and pipe() (and so Jupyter) explain a missing `dot`."""

    fixed = False                  # positions computed by layout.py: draw with `neato -n2`

    def pipe(self, *args, **kwargs):
        if self.fixed:
            kwargs.setdefault("neato_no_op", 2)
        with explain_missing_dot():
            return super().pipe(*args, **kwargs)

    def render(self, *args, **kwargs):
        if self.fixed:
            kwargs.setdefault("neato_no_op", 2)
        with explain_missing_dot():
            return super().render(*args, **kwargs)

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        """Jupyter: the SVG at its real size in a box that scrolls, so a wide graph stays legible."""
        svg = self.pipe(format="svg", encoding="utf-8")
        return {"image/svg+xml": svg, "text/html": scroll_box(svg)}


def scroll_box(svg: str) -> str:
    """HTML around an SVG: at most the cell's width and 80% of the window's height, scrolling beyond."""
    body = svg[svg.index("<svg"):]
    return ('<div style="max-width:100%;max-height:80vh;overflow:auto;border:1px solid #ddd">'
            f"{body}</div>")


class LogScale:
    """Maps a norm to [0, 1] by log10 between a smallest and a largest norm.

    By default a picture scales to its own norms. Pictures meant to be compared
    share one scale: `LogScale.between(lo, hi)`, or `viz.shared_scale(loss_a,
    loss_b)`, passed to each `draw_graph(..., scale=...)`; their legends say so.
    """

    def __init__(self, norms, shared: bool = False):
        positive = [n for n in norms if n > 0 and math.isfinite(n)]
        self.lo = min(positive) if positive else 1.0
        self.hi = max(positive) if positive else 1.0
        self.shared = shared

    @classmethod
    def between(cls, lo: float, hi: float) -> "LogScale":
        """A fixed scale from lo to hi (norms outside it are drawn at its ends)."""
        if not (0 < lo <= hi and math.isfinite(hi)):
            raise ValueError(f"LogScale.between: need 0 < lo <= hi (finite), got lo={lo!r}, hi={hi!r}")
        return cls([lo, hi], shared=True)

    def __call__(self, x: float) -> float:
        if not x > 0:
            return 0.0
        if self.hi <= self.lo:
            return 1.0                                    # one value only: draw it full
        u = (math.log10(x) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        return min(max(u, 0.0), 1.0)


def colour(u: float) -> str:
    """Linear interpolation in PALETTE, u in [0, 1]."""
    x = u * (len(PALETTE) - 1)
    i = min(int(x), len(PALETTE) - 2)
    a, b = PALETTE[i], PALETTE[i + 1]
    mix = [round(int(a[k:k + 2], 16) * (1 - (x - i)) + int(b[k:k + 2], 16) * (x - i)) for k in (1, 3, 5)]
    return "#" + "".join(f"{c:02x}" for c in mix)


def to_digraph(pic: Picture, title: str | None = None, legend: bool = True,
               scale: LogScale | None = None, row: bool = True) -> Graph:
    """The picture for Graphviz: an op-level unroll with fixed positions (layout.py, one cell
    repeated in a row), anything else laid out by dot (time left to right, one cluster per step)."""
    if scale is None:
        scale = LogScale([n for e in pic.edges if e.kind == "grad" for n in e.norms])
    if row and not any(n.kind == "cell" for n in pic.nodes):
        from .fixed import fixed_digraph
        g = fixed_digraph(pic, scale, title, legend)
        if g is not None:
            return g
    inline = len(pic.nodes) <= INLINE_LABELS_UP_TO
    g = Graph("tinygrad_rnn", graph_attr=dict(rankdir="LR", fontname="Helvetica", nodesep="0.25",
                                               ranksep="0.35" if inline else "0.9",
                                               labelloc="t", forcelabels="true"),
              node_attr=dict(fontname="Helvetica", fontsize="11"),
              edge_attr=dict(fontname="Helvetica", fontsize="9", arrowsize="0.6"))
    if title:
        g.attr(label=title, fontsize="16")
    steps = sorted({n.step for n in pic.nodes if n.step and n.kind not in ("cell", "elided")},
                   key=_step_order(pic.nodes))
    several_lanes = len({s[0] for s in steps}) > 1
    for i, step in enumerate(steps):
        with g.subgraph(name=f"cluster_{i}") as c:
            c.attr(label=step_title(step, several_lanes), style="rounded,filled", fillcolor="#fbfcfc",
                   color="#aab7b8", fontsize="13", id=f"xstep{i}")
            for n in pic.nodes:
                if n.step == step and n.kind not in ("cell", "elided"):
                    _node(c, n)
    for n in pic.nodes:
        if not n.step or n.kind in ("cell", "elided"):
            _node(g, n)
    uses = collections.Counter(e.src for e in pic.edges)
    shared = {n.id for n in pic.nodes if n.kind == "param" and uses[n.id] > 1}
    step = {n.id: n.step for n in pic.nodes}
    for e in pic.edges:
        crossing = step.get(e.src) and step.get(e.dst) and step[e.src] != step[e.dst]
        _edge(g, e, scale, "0" if e.src in shared else "8" if crossing else "", inline)
    _keep_time_order(g, pic, steps)
    if legend:
        g.node("legend", legend_table(scale, pic), shape="plain", id="xlegend")
    return g


def _keep_time_order(g, pic: Picture, steps) -> None:
    """Invisible edges so step t+1 starts where step t ends (clusters side by side, no overlap).

    Without them x_{t+1} (which depends on nothing) is ranked as early as
    possible, step t+1 overlaps step t in x, and the clusters stack diagonally.
    """
    where = {n.id: n.step for n in pic.nodes if n.kind not in ("cell", "elided")}
    fed = {e.dst for e in pic.edges if where.get(e.src) and where.get(e.src) == where.get(e.dst)}
    members, exits = {}, {}
    for n in pic.nodes:
        if where.get(n.id):
            members.setdefault(where[n.id], []).append(n.id)
    for e in pic.edges:
        if where.get(e.src) and where.get(e.dst) and where[e.src] != where[e.dst]:
            exits.setdefault((where[e.src], where[e.dst]), []).append(e.src)
    for a, b in zip(steps, steps[1:]):
        if a[0] != b[0]:
            continue                                      # another lane (layer)
        for x in dict.fromkeys(exits.get((a, b)) or members[a][-1:]):
            for y in members[b]:
                if y not in fed:
                    g.edge(x, y, style="invis", id=f"xorder_{x}_{y}")


def _step_order(nodes):
    first = {}
    for n in nodes:
        if n.step:
            first.setdefault(n.step[0], len(first))
    return lambda s: (first[s[0]], s[1])


def _text(s: str) -> str:
    """Graphviz escString: a newline is the two characters \\n (centred line break)."""
    return s.replace("\\", "\\\\").replace("\n", "\\n")


def _node(g, n: Node) -> None:
    style = dict(NODE_STYLE.get(n.kind, {}))
    if n.ports:
        style = dict(shape="plain")
        label = _ported_label(n)
    elif n.kind == "params":
        label = n.label.replace("\\", "\\\\").replace("\n", "\\l") + "\\l"   # left-justified lines
    else:
        label = _text(n.label)
    g.node(n.id, label, tooltip=_text(n.tooltip or n.label), id=n.dom_id or "x" + n.id, **style)


def _ported_label(n: Node) -> str:
    """The LSTM cell box: its title, then one row per state lane (C_t above h_t)."""
    fill = NODE_STYLE[n.kind]["fillcolor"]
    title = "<BR/>".join(html_text(line) for line in n.label.split("\n"))
    rows = [f'<TR><TD BGCOLOR="{fill}">{title}</TD></TR>']
    rows += [f'<TR><TD PORT="{p}" BGCOLOR="{fill}">{p}<SUB>t</SUB></TD></TR>' for p in n.ports]
    return f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4">{"".join(rows)}</TABLE>>'


def _edge(g, e: Edge, scale: LogScale, weight: str, inline: bool) -> None:
    # A shared parameter's edges have weight 0: they do not pull the steps apart
    # (each step stays compact; the parameter sits before the first step). The
    # state edges from step t to step t+1 weigh 8: the h_t path runs straight.
    attrs = dict(tooltip=_text(e.tooltip) if e.tooltip else " ", weight=weight,
                 id=e.dom_id or f"x{e.src}_{e.dst}")
    if e.tailport:
        attrs.update(tailport=f"{e.tailport}:e", headport=f"{e.headport}:w" if e.headport else "")
    attrs.update(edge_style(e.norms, e.kind, scale))
    label = e.text or _norms_text(e.norms)
    if label:
        attrs["label" if inline else "xlabel"] = _text(label)
    g.edge(e.src, e.dst, **{k: v for k, v in attrs.items() if v != ""})


def edge_style(norms, kind: str, scale: LogScale) -> dict:
    """Colour, width and dash of an edge: a cut, no gradient, exactly zero, or its norm on the scale."""
    if kind == "cut":
        return dict(style="dashed", color="#c0392b", fontcolor="#c0392b", arrowhead="tee", penwidth="1.5")
    if kind == "nograd":
        return dict(color="#bbbbbb", style="dotted")
    if norms and max(norms) == 0:
        return dict(color="#bbbbbb", style="dashed")          # exactly zero: nothing flowed
    if norms:
        u = scale(max(norms))
        return dict(color=colour(u), penwidth=f"{MIN_WIDTH + (MAX_WIDTH - MIN_WIDTH) * u:.2f}")
    return dict(color="#999999")


def _norms_text(norms) -> str:
    if not norms:
        return ""
    if len(norms) == 1:
        return fmt_norm(norms[0])
    return f"{len(norms)} edges\n{fmt_norm(min(norms))} … {fmt_norm(max(norms))}"


RULE = ("on an edge: ‖the share of the gradient that flowed back along it‖;  "
        "in a node: ‖∂E/∂node‖, the total (the sum of the shares leaving it)")


def legend_table(scale: LogScale, pic: Picture) -> str:
    """An HTML-like table: what the numbers are, the colour bar with its range (and whether it is
    shared with other pictures), or a note before backward()."""
    if not any(e.norms for e in pic.edges):
        totals = any("‖∂E/∂" in n.label for n in pic.nodes)     # backward() ran, edges unrecorded
        body = ('<TR><TD>edge shares not recorded (tg.record_edge_grads(False)): a node shows '
                '‖∂E/∂node‖ where backward() kept its gradient</TD></TR>' if totals else
                '<TR><TD>no gradients yet: call backward() to see ‖∂E/∂·‖ on every edge</TD></TR>')
    else:
        bar = "".join(f'<TD BGCOLOR="{colour(i / 7)}" WIDTH="18" HEIGHT="10"></TD>' for i in range(8))
        which = "a scale shared with other pictures" if scale.shared else "this picture's own range"
        body = (f'<TR><TD COLSPAN="8" ALIGN="LEFT"><B>‖∂E/∂·‖, log scale: {which}</B></TD></TR>'
                f"<TR>{bar}</TR>"
                f'<TR><TD COLSPAN="4" ALIGN="LEFT">{fmt_norm(scale.lo)}</TD>'
                f'<TD COLSPAN="4" ALIGN="RIGHT">{fmt_norm(scale.hi)}</TD></TR>'
                f'<TR><TD COLSPAN="8" ALIGN="LEFT"><FONT POINT-SIZE="9">{html.escape(RULE)}</FONT></TD></TR>')
    return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="2">{body}</TABLE>>'
