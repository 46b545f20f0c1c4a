"""to_html: one self-contained page that replays backward() over the picture.

    loss.backward()
    tg.viz.to_html(loss, "graph.html")                  # open it from disk: no server, no network
    tg.viz.interactive(loss)                            # the same page inline in Jupyter

The page holds three things and fetches nothing: the SVG that `draw_graph`
makes, the recorded numbers as JSON, and a small hand-written script
(viewer.js, viewer.css beside this file). Frame k of the replay lights the
first k tensors of `autograd.visit_order(root)`, the order in which backward()
itself visited them (the engine's heap order, recorded as it ran; the page
does not re-sort anything). An edge lights up once the tensor it feeds has
been visited, because that is when its share was computed; a shared weight's
‖Σ so far‖ grows share by share, ∂E/∂U = Σ_t (what step t sends back).

The page finds the picture's elements by id only (viz/graph.py: `t<k>` for a
tensor, `e<k>_<i>` for an edge, `x...` for the rest), never by layout.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

import numpy as np

from .. import autograd
from ..memory import kept_values
from .dot import MAX_WIDTH, MIN_WIDTH, PALETTE
from .graph import edge_id, kind_of, reading_order, tensor_ids, tick_of
from .labels import norm, step_of

MAX_EMBED = 4096      # a gradient with more entries is embedded as a histogram, not in full
DIGITS = 4            # significant digits of the embedded array entries
BINS = 24             # histogram bins for large arrays
_ASSETS = Path(__file__).with_name("viewer")


def to_html(root, path=None, level: str = "op", *, elide: int | None = None, max_nodes: int = 250,
            title: str | None = None):
    """Write the interactive page for `root` to `path` (and return the Path); no path: return the text."""
    text = page(root, level, elide=elide, max_nodes=max_nodes, title=title)
    if path is None:
        return text
    path = Path(path)
    path.write_text(text, encoding="utf-8")
    return path


def page(root, level: str = "op", *, elide=None, max_nodes=250, title=None) -> str:
    """The page as one string: SVG inline, the numbers as JSON, viewer.js and viewer.css inline."""
    from . import picture
    from .dot import explain_missing_dot, to_digraph
    pic = picture(root, level, elide, max_nodes)
    with explain_missing_dot():
        svg = to_digraph(pic, title=title).pipe(format="svg").decode("utf-8")
    data = json.dumps(payload(root, pic, level), separators=(",", ":"), allow_nan=False)
    heading = title or f"backward() over the {level}-level graph"
    return _TEMPLATE.format(
        title=html.escape(heading),
        css=(_ASSETS / "viewer.css").read_text(encoding="utf-8"),
        svg=svg[svg.index("<svg"):],
        data=data.replace("</", "<\\/"),          # never closes the <script> early
        js=(_ASSETS / "viewer.js").read_text(encoding="utf-8"),
        max_embed=f"{MAX_EMBED:,}", digits=DIGITS)


class Interactive:
    """The page inline in Jupyter: a sandboxed iframe (srcdoc), so several on one page never collide."""

    def __init__(self, text: str, height: int = 640):
        self.html, self.height = text, height

    def _repr_html_(self) -> str:
        return (f'<iframe sandbox="allow-scripts" srcdoc="{html.escape(self.html, quote=True)}" '
                f'style="width:100%;height:{self.height}px;border:1px solid #ddd"></iframe>')

    def save(self, path) -> Path:
        path = Path(path)
        path.write_text(self.html, encoding="utf-8")
        return path


def interactive(root, level: str = "op", **kwargs) -> Interactive:
    """`tg.viz.interactive(loss)`: the replay page, shown inline by Jupyter."""
    return Interactive(page(root, level, **kwargs))


# ---- the numbers the page shows --------------------------------------------
def visit_order(root) -> list:
    """The tensors in the order backward() visited them, as it recorded on the root."""
    ticks = autograd.visit_order(root)
    if ticks is None:
        raise ValueError("to_html: this graph has no recorded backward order; call loss.backward() "
                         "first (with edge recording on: tg.record_edge_grads(True), the default)")
    by_tick = {tick_of(t): t for t in reading_order(root)}
    return [by_tick[k] for k in ticks if k in by_tick]


def payload(root, pic, level: str) -> dict:
    """Everything the script needs, keyed by the picture's element ids."""
    tensors = reading_order(root)
    tids = tensor_ids(tensors)
    order = visit_order(root)
    pos = {t: k for k, t in enumerate(order)}
    edges = {edge_id(tids[c], i): (p, c, i) for c in tensors for i, p in enumerate(c.parents)
             if p in tids}
    by_tid = {tids[t]: t for t in tensors}
    elements, show_t, show_e = {}, set(), set()
    for n in pic.nodes:
        if not n.dom_id:
            continue
        members = [m for m in n.stands_for if m in by_tid]
        shown = members if level == "op" else [m for m in members if by_tid[m].name in ("h_t", "C_t")
                                               or by_tid[m] is root]
        show_t.update(shown)
        elements[n.dom_id] = dict(m=members, show=shown, step=_step(n.step))
    for e in pic.edges:
        real = [r for r in e.stands_for if r in edges]
        if not e.dom_id or not real:
            continue
        show_e.update(real)
        elements[e.dom_id] = dict(e=real, norm=_num(max(e.norms)) if e.norms else None,
                                  step=_step(_edge_step(real, edges)))
    return dict(
        level=level,
        order=[tids[t] for t in order],
        visits=[f"{t.name}{' in ' + t.scope if t.scope else ''}" for t in order],   # "now visiting ..."
        tensors={k: _tensor_record(by_tid[k], root) for k in sorted(show_t)},
        edges={k: _edge_record(edges[k], tids) for k in sorted(show_e)},
        elements=elements,
        sums=_running_sums(tensors, tids, pos),
        states=_states(pic, by_tid, level, tids),
        steps=_steps_in_order(pic),
        palette=PALETTE, widths=[MIN_WIDTH, MAX_WIDTH], max_embed=MAX_EMBED)


def _running_sums(tensors, tids, pos) -> dict:
    """A shared weight: ‖Σ of the shares arrived so far‖ after each share, in visit order."""
    shares = {}
    for c in tensors:
        for p, g in zip(c.parents, c.edge_grads or ()):
            if g is not None and p.op is None and c in pos:
                shares.setdefault(p, (p, []))[1].append((pos[c], g))
    out = {}
    for p, arrived in shares.values():
        if len(arrived) < 2:
            continue
        arrived.sort(key=lambda kg: kg[0])
        total, steps = np.zeros(p.shape, dtype=np.float64), []
        for k, g in arrived:
            total = total + g
            steps.append([k, _num(norm(total))])
        out[tids[p]] = dict(name=p.name, shares=steps, total=_num(norm(p.grad)))
    return out


def _states(pic, by_tid, level, tids) -> list:
    """‖∂E/∂h_t‖ (and ‖∂E/∂C_t‖) of each step, and the element that shows it when reached."""
    out = []
    for n in pic.nodes:
        for m in n.stands_for:
            t = by_tid.get(m)
            if t is None or t.name not in ("h_t", "C_t") or autograd.kept_grad(t) is None \
                    or not step_of(t.scope):
                continue
            if level == "cell" and n.kind != "cell":
                continue
            out.append(dict(tid=m, el=n.dom_id, name=t.name, step=_step(step_of(t.scope)),
                            t=step_of(t.scope)[1], norm=_num(norm(t.grad))))
    last = {}
    for s in out:                        # a step's state is the last tensor so named in it
        last[(s["name"], s["step"])] = s
    return list(last.values())


def _steps_in_order(pic) -> list:
    return list(dict.fromkeys(_step(n.step) for n in pic.nodes if n.step))


def _edge_step(real, edges):
    _, c, _ = edges[real[0]]
    return step_of(c.scope)


def _step(step) -> str | None:
    return f"{step[0]}/t={step[1]}" if step else None


def _tensor_record(t, root) -> dict:
    g = autograd.kept_grad(t)            # None where none arrived, or backward() dropped it
    v = kept_values(t)                   # None where the values were freed (memory.py)
    return dict(name=t.name, scope=t.scope, shape=list(t.shape), kind=kind_of(t, root), op=t.op,
                value=summary(v, values=False) if v is not None else None,
                grad=summary(g) if g is not None else None)


def _edge_record(edge, tids) -> dict:
    p, c, i = edge
    g = c.edge_grads[i] if c.edge_grads is not None else None
    return dict(src=tids[p], dst=tids[c], arg=i, op=c.op, scope=c.scope,
                what=f"{p.name} → {c.name}", grad=summary(g) if g is not None else None)


def summary(a, values: bool = True) -> dict:
    """Norm, min, max, mean; the entries (as rows × columns) up to MAX_EMBED, else a histogram."""
    a = np.asarray(a, dtype=np.float64)
    out = dict(shape=list(a.shape), norm=_num(norm(a)))
    if a.size == 0:
        return out
    out.update(min=_num(a.min()), max=_num(a.max()), mean=_num(a.mean()))
    if not values:
        return out
    rows = a.reshape(-1, a.shape[-1]) if a.ndim >= 2 else a.reshape(1, -1)
    if a.size <= MAX_EMBED:
        out["rows"] = [[_num(x, DIGITS) for x in row] for row in rows]
    else:
        finite = a[np.isfinite(a)]
        counts, bounds = np.histogram(finite, bins=BINS) if finite.size else (np.zeros(BINS), [0, 0])
        out["hist"] = dict(counts=[int(c) for c in counts], lo=_num(bounds[0]), hi=_num(bounds[-1]))
    return out


def _num(x, digits: int | None = None):
    """A JSON number (rounded to `digits` significant digits), or "nan" / "inf" / "-inf" as text."""
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    return float(f"{x:.{digits}g}") if digits else x


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
      content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
{css}
</style>
</head>
<body>
<header>
  <b>{title}</b>
  <span class="controls">
    <button id="play" title="play / pause (space)">▶ play</button>
    <button id="back" title="one step back (←)">◀ step</button>
    <button id="step" title="one step forward (→)">step ▶</button>
    <input id="scrub" type="range" min="0" max="0" value="0" title="frame: the first k visits of backward()">
    <span id="frame"></span>
  </span>
  <span class="controls">
    <button id="fit" title="show the whole graph">fit</button>
    <label title="zoom to one time step">step
      <input id="tstep" type="range" min="0" max="0" value="0"></label>
    <span id="tname">all</span>
    <button id="scale" title="colour and width of the lit edges: log or linear in ‖g‖">colour: log</button>
  </span>
</header>
<main>
  <div id="view">{svg}</div>
  <aside>
    <div id="now"></div>
    <h4>shared weights: ‖Σ of the shares so far‖</h4>
    <div id="sums"></div>
    <h4>‖∂E/∂h_t‖ as each step is reached</h4>
    <svg id="bars" viewBox="0 0 260 90" width="260" height="90"></svg>
    <h4>inspect (hover; click to pin)</h4>
    <div id="pinned"></div>
  </aside>
</main>
<div id="tip"></div>
<footer>Frame k shows the first k tensors in the order backward() visited them (recorded by the
engine, not re-sorted here); an edge lights up when its share has been computed. Space plays,
← → step, wheel zooms, drag pans, double-click zooms to a time step. Gradient arrays of more
than {max_embed} entries are embedded as a histogram and summary, not in full; embedded entries
keep {digits} significant digits; norms are exact.</footer>
<script type="application/json" id="payload">{data}</script>
<script>
{js}
</script>
</body>
</html>
"""
