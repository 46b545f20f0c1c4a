"""The op-level picture with fixed positions: DOT that `neato -n2` draws exactly as laid out.

`layout.py` decides where everything goes; this file writes it down for
Graphviz: every node with `pos="x,y!"` and its size, every edge with its
spline (`pos`, cubic Bézier control points) and its label's place (`lp`),
every step box as a cluster with its `bb`, each shared weight's bus as
short synthetic edges between junction points. Graphviz then only draws.

Ids (the viewer's contract): nodes keep `t<k>`, edges `e<k>_<i>` (a bus tap
is the real edge W -> op, so it keeps the real edge's id); junctions, bus
segments, boxes, the title and the legend are synthetic and start with `x`.
"""

from __future__ import annotations

from .curves import bezier, place_labels, sample
from .dot import NODE_STYLE, Graph, _text, edge_style, legend_table
from .graph import Edge, Node, Picture
from .labels import fmt_norm, html_text, norm, plain_width, step_title
from .layout import LABEL_H, Drawing, layout, text_size

TITLE_FS, SMALL_FS, EDGE_FS = 11.0, 9.0, 9.0


def node_lines(n: Node) -> list[tuple[str, float]]:
    """The node's label as (line, font size): the name big, shape and ‖∂E/∂·‖ smaller."""
    lines = n.label.split("\n")
    if n.kind == "param":         # "U (8, 8)", then "‖∂E/∂U‖ = … = Σ over its 6 edges": two lines
        lines = [f"{lines[0]} {lines[1]}", " ".join(lines[2:])] if len(lines) > 2 else [" ".join(lines)]
    fs = TITLE_FS if n.kind != "op" else 10.0
    return [(lines[0], fs)] + [(line, SMALL_FS) for line in lines[1:]]


def html_label(lines) -> str:
    rows = []
    for k, (text, fs) in enumerate(lines):
        body = html_text(text)
        rows.append(body if k == 0 and fs == TITLE_FS else f'<FONT POINT-SIZE="{fs:g}">{body}</FONT>')
    return "<" + "<BR/>".join(rows) + ">"


def sizes_of(pic: Picture) -> dict[str, tuple[float, float]]:
    out = {}
    for n in pic.nodes:
        w, h = text_size([(" " * plain_width(t), fs) for t, fs in node_lines(n)])
        if n.kind == "op":
            w, h = w * 1.12, h * 1.05                # an ellipse needs a little more room
        if n.kind == "loss":
            w, h = w + 24, h + 12
        out[n.id] = (w, h)
    return out


def edge_text(e: Edge) -> str:
    if e.text:
        return e.text
    if not e.norms:
        return ""
    return fmt_norm(e.norms[0]) if len(e.norms) == 1 else \
        f"{len(e.norms)} edges {fmt_norm(min(e.norms))} … {fmt_norm(max(e.norms))}"


def label_size(text: str) -> tuple[float, float]:
    return plain_width(text) * EDGE_FS * 0.58 + 2, LABEL_H


def fixed_digraph(pic: Picture, scale, title: str | None, legend: bool) -> Graph | None:
    """The picture with every position given, or None when it has no time steps to lay out."""
    sizes = sizes_of(pic)
    d = layout(pic, sizes)
    if d is None:
        return None
    curves, texts, splines = {}, {}, {}
    summed = _summed_taps(pic, d)
    for i, pts in d.routes.items():
        ctrl, tip = bezier(pts)
        splines[("e", i)] = (ctrl, tip)
        curves[("e", i)] = sample(ctrl, tip)
        if summed.get(i, edge_text(pic.edges[i])):
            texts[("e", i)] = label_size(summed.get(i, edge_text(pic.edges[i])))
    for b in d.buses:                                   # the bus: junction -> junction -> weight
        stops = b.xs + [d.pos[b.weight][0] - d.size[b.weight][0] / 2]
        for k in range(len(b.xs)):
            ctrl, tip = bezier([(stops[k], b.y), (stops[k + 1], b.y)])
            splines[("b", b.weight, k)] = (ctrl, tip)
            curves[("b", b.weight, k)] = sample(ctrl, tip, 2)
            if b.sums[k] is not None:
                texts[("b", b.weight, k)] = label_size(_sum_text(pic, d, b, k))
    rects = [(p[0] - d.size[n][0] / 2, p[1] - d.size[n][1] / 2, p[0] + d.size[n][0] / 2,
              p[1] + d.size[n][1] / 2) for n, p in d.pos.items()]
    where = place_labels(curves, texts, rects)
    H = d.height + (90 if legend else 0) + (30 if title else 0)
    flip = lambda x, y: f"{x:.1f},{H - y - (30 if title else 0):.1f}"      # noqa: E731 (y up)
    g = Graph("tinygrad_rnn", engine="neato",
              graph_attr=dict(fontname="Helvetica", outputorder="edgesfirst", splines="true",
                              bb=f"0,0,{d.width:.1f},{H:.1f}"),
              node_attr=dict(fontname="Helvetica", fontsize="11", fixedsize="true"),
              edge_attr=dict(fontname="Helvetica", fontsize=f"{EDGE_FS:g}", arrowsize="0.6"))
    g.fixed = True
    several_lanes = len({s[0] for s, _ in d.boxes}) > 1
    for k, (step, (x0, y0, x1, y1)) in enumerate(d.boxes):
        with g.subgraph(name=f"cluster_{k}") as c:
            c.attr(label=step_title(step, several_lanes), style="rounded,filled", fillcolor="#fbfcfc",
                   color="#aab7b8", fontsize="13", id=f"xstep{k}", labeljust="l",
                   bb=f"{flip(x0, y1)},{flip(x1, y0)}", lp=flip(x0 + 30, y0 + 11))
            for n in pic.nodes:
                if n.step == step and n.id in d.pos:
                    _node(c, n, d, flip)
    for n in pic.nodes:
        if n.id in d.pos and not (n.step and n.step in {s for s, _ in d.boxes}):
            _node(g, n, d, flip)
    for i, e in enumerate(pic.edges):
        if i in d.routes:
            _edge(g, e, splines[("e", i)], where.get(("e", i)), scale, flip, summed.get(i))
    for b in d.buses:
        _bus(g, pic, d, b, splines, where, scale, flip)
    if title:
        g.node("xtitle", f"<<B>{html_text(title)}</B>>", shape="plaintext", fontsize="16",
               pos=flip(10 + 4 * len(title), -15), id="xtitle", fixedsize="false")
    if legend:
        g.node("legend", legend_table(scale, pic), shape="plain", id="xlegend", fixedsize="false",
               pos=flip(170, d.height + 45))
    g.drawing = d
    return g


def _node(g, n: Node, d: Drawing, flip) -> None:
    style = dict(NODE_STYLE.get(n.kind, {}))
    w, h = d.size[n.id]
    x, y = d.pos[n.id]
    g.node(n.id, html_label(node_lines(n)), tooltip=_text(n.tooltip or n.label),
           id=n.dom_id or "x" + n.id, pos=flip(x, y) + "!", width=f"{w / 72:.3f}",
           height=f"{h / 72:.3f}", **style)


def _spline(ctrl, tip, flip) -> str:
    return f"e,{flip(*tip)} " + " ".join(flip(x, y) for x, y in ctrl)


def _summed_taps(pic: Picture, d: Drawing) -> dict[int, str]:
    """A weight's tap into an elided-steps marker carries the hidden steps' shares summed:
    label it ‖Σ_{k=a…b} share_k‖; a state's edges into the marker, drawn as one, carry their
    shares summed too (the single norms stay in the tooltip)."""
    marks = {n.id: n.hides for n in pic.nodes if n.kind == "elided" and n.hides}
    taps = {i for b in d.buses for i in b.edges}
    out = {}
    for i, e in enumerate(pic.edges):
        if e.grad is None or not (e.src in marks or e.dst in marks):
            continue
        if i in taps:
            _, lo, hi = marks[e.dst]
            out[i] = f"Σ_{{k={lo}…{hi}}} {fmt_norm(norm(e.grad))}"
        elif len(e.norms) > 1:                      # a state's uses in the next step, drawn as one
            out[i] = fmt_norm(norm(e.grad))
    return out


def _edge(g, e: Edge, spline, at, scale, flip, summed: str | None = None) -> None:
    norms = [norm(e.grad)] if summed else e.norms
    attrs = dict(tooltip=_text(e.tooltip) if e.tooltip else " ",
                 id=e.dom_id or f"x{e.src}_{e.dst}", pos=_spline(*spline, flip),
                 **edge_style(norms, e.kind, scale))
    text = summed or edge_text(e)
    if text and at is not None:
        attrs.update(label=f"<{html_text(text)}>" if summed else _text(text), lp=flip(*at))
    g.edge(e.src, e.dst, **attrs)


def _sum_text(pic, d, b, k) -> str:
    """Σ_{k≤t} after the tap of step t; Σ_{k≥t} where the lane runs from t+1 to t (its boxes
    stand t = T first, so the bus has summed the later steps); a plain Σ if neither holds."""
    by_id = {n.id: n for n in pic.nodes}

    def span(j):                                   # the steps tap j stands for: (first, last)
        n = by_id[pic.edges[b.edges[j]].dst]
        return (n.hides[1], n.hides[2]) if n.hides else (n.step[1], n.step[1])
    spans = [span(j) for j in range(len(b.edges))]
    first, last = min(s[0] for s in spans), max(s[1] for s in spans)
    lo, hi = min(s[0] for s in spans[:k + 1]), max(s[1] for s in spans[:k + 1])
    if lo == first and hi == spans[k][1]:
        return f"Σ_{{k≤{hi}}} {fmt_norm(b.sums[k])}"
    if hi == last and lo == spans[k][0]:
        return f"Σ_{{k≥{lo}}} {fmt_norm(b.sums[k])}"
    return f"Σ {fmt_norm(b.sums[k])}"


def _bus(g, pic, d, b, splines, where, scale, flip) -> None:
    """Junctions (invisible points) and the segments between them, each with its running sum."""
    name = next(n for n in pic.nodes if n.id == b.weight).dom_id or b.weight
    for k, x in enumerate(b.xs):
        g.node(f"xj_{b.weight}_{k}", "", shape="point", width="0.04", height="0.04", pos=flip(x, b.y) + "!",
               id=f"xj{name}_{k}", color="#7f8c8d")
    for k in range(len(b.xs)):
        dst = f"xj_{b.weight}_{k + 1}" if k + 1 < len(b.xs) else b.weight
        s = b.sums[k]
        attrs = dict(id=f"xbus{name}_{k}", pos=_spline(*splines[("b", b.weight, k)], flip),
                     arrowhead="none" if k + 1 < len(b.xs) else "normal",
                     tooltip=" " if s is None else f"running sum of the shares so far: ‖Σ‖ = {fmt_norm(s)}",
                     **edge_style([s] if s is not None else [], "grad", scale))
        if s is not None and where.get(("b", b.weight, k)) is not None:
            attrs.update(label=f"<{html_text(_sum_text(pic, d, b, k))}>", lp=flip(*where[("b", b.weight, k)]))
        g.edge(f"xj_{b.weight}_{k}", dst, **attrs)


__all__ = ["fixed_digraph"]
