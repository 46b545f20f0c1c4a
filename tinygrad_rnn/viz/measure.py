"""How readable is a laid-out picture? Crossings, label placement and step alignment, measured.

The measurement reads what Graphviz drew, not what we asked for: the `-Tjson`
output of the final layout (`graph.pipe(format="json")`), whose edges carry
their spline (`pos`: cubic Bézier control points) and their label position
(`lp`), and whose clusters carry their box (`bb`). It works the same on any
Graphviz graph, so a picture of this library and torchviz's `make_dot` of the
same PyTorch model are measured alike:

- crossings: every Bézier piece sampled to a polyline, every pair of edges
  tested segment against segment; a point where two edges meet at an end of
  either one (a shared node, a tap joining its bus), run alongside, or branch
  apart from a point both pass through is not a crossing;
- labels: an edge label is misplaced when another edge passes nearer to it
  than its own edge does;
- steps: the spread of the step boxes' centres (0 when they stand in one row)
  and how many different box sizes there are (1 when they are all alike).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

SAMPLES = 12          # points per cubic Bézier piece
END = 1.5             # pt: an intersection this near an end of either edge is a meeting, not a crossing


@dataclass
class Layout:
    """What the measures need from a -Tjson layout."""
    width: float                                   # pt
    height: float
    edges: list[dict]                              # {"id", "tail", "head", "line": [(x, y)], "label": (x, y)}
    boxes: list[tuple[str, tuple[float, float, float, float]]]   # (cluster label, (x0, y0, x1, y1))
    nodes: dict[int, tuple[float, float, float, float]]         # _gvid -> bounding box


@dataclass
class Report:
    crossings: int
    labels_misplaced: int
    labels: int
    width: float
    height: float
    step_spread: float | None                      # pt, vertical spread of the step boxes' centres
    step_sizes: int | None                         # how many different step-box sizes

    def row(self) -> str:
        spread = "-" if self.step_spread is None else f"{self.step_spread:.0f} pt"
        return (f"{self.crossings:>9} {self.labels_misplaced:>4}/{self.labels:<4} "
                f"{self.width:>7.0f} x {self.height:<6.0f} {spread:>9}")


def parse(json_text: str | bytes) -> Layout:
    doc = json.loads(json_text)
    x0, y0, x1, y1 = (float(v) for v in doc["bb"].split(","))
    boxes, nodes = [], {}
    for obj in doc.get("objects", []):
        if "bb" in obj and obj.get("name", "").startswith("cluster"):
            boxes.append((obj.get("label", ""), tuple(float(v) for v in obj["bb"].split(","))))
        elif "pos" in obj and "width" in obj:
            x, y = (float(v) for v in obj["pos"].split(","))
            w, h = float(obj["width"]) * 36, float(obj["height"]) * 36      # half sizes in pt
            nodes[obj["_gvid"]] = (x - w, y - h, x + w, y + h)
    edges = []
    for e in doc.get("edges", []):
        if "pos" not in e or e.get("style") == "invis":
            continue
        label = tuple(float(v) for v in e["lp"].split(",")) if "lp" in e else \
            tuple(float(v) for v in e["xlp"].split(",")) if "xlp" in e else None
        edges.append(dict(id=e.get("id", ""), tail=e["tail"], head=e["head"],
                          line=polyline(e["pos"]), label=label))
    return Layout(x1 - x0, y1 - y0, edges, boxes, nodes)


def polyline(pos: str) -> list[tuple[float, float]]:
    """A spline `pos` ("e,x,y s,x,y p0 p1 p2 p3 ...") sampled into points, end arrows included."""
    start = end = None
    pts = []
    for tok in pos.split():
        parts = tok.split(",")
        if parts[0] == "s":
            start = (float(parts[1]), float(parts[2]))
        elif parts[0] == "e":
            end = (float(parts[1]), float(parts[2]))
        else:
            pts.append((float(parts[0]), float(parts[1])))
    line = [start] if start else []
    line.append(pts[0])
    for i in range(0, len(pts) - 3, 3):
        p0, p1, p2, p3 = pts[i:i + 4]
        for k in range(1, SAMPLES + 1):
            u = k / SAMPLES
            a, b, c, d = (1 - u) ** 3, 3 * u * (1 - u) ** 2, 3 * u * u * (1 - u), u ** 3
            line.append((a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0],
                         a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1]))
    if end:
        line.append(end)
    return line


def _hit(p, q, r, s):
    """The intersection point of segments pq and rs, or None (apart, or running alongside).

    Two edges that run together for a while (a shared trunk, as several uses of
    h_{t-1} leave one node) touch along it without crossing: segments at less
    than about 1° to each other are not counted. Segments are half-open, so a
    crossing at a sampled vertex counts once.
    """
    dx1, dy1, dx2, dy2 = q[0] - p[0], q[1] - p[1], s[0] - r[0], s[1] - r[1]
    den = dx1 * dy2 - dy1 * dx2
    if abs(den) <= 0.02 * math.hypot(dx1, dy1) * math.hypot(dx2, dy2):
        return None
    u = ((r[0] - p[0]) * dy2 - (r[1] - p[1]) * dx2) / den
    v = ((r[0] - p[0]) * dy1 - (r[1] - p[1]) * dx1) / den
    if 0 <= u < 1 and 0 <= v < 1:
        return (p[0] + u * dx1, p[1] + u * dy1)
    return None


def _box(line):
    xs, ys = [p[0] for p in line], [p[1] for p in line]
    return min(xs), min(ys), max(xs), max(ys)


def _near(p, q, eps=END):
    return abs(p[0] - q[0]) <= eps and abs(p[1] - q[1]) <= eps


def crossings_between(a, b, shared_boxes=()) -> int:
    """Points where polylines a and b cross (distinct points; meetings at ends excluded)."""
    found = []
    ends = [a[0], a[-1], b[0], b[-1]]
    mine = {(round(p[0]), round(p[1])) for p in a}
    ends += [p for p in b if (round(p[0]), round(p[1])) in mine]   # where they branch apart
    for i in range(len(a) - 1):
        p, q = a[i], a[i + 1]
        for j in range(len(b) - 1):
            x = _hit(p, q, b[j], b[j + 1])
            if x is None or any(_near(x, e) for e in ends) or any(_near(x, f) for f in found):
                continue
            if any(bx0 - END <= x[0] <= bx1 + END and by0 - END <= x[1] <= by1 + END
                   for bx0, by0, bx1, by1 in shared_boxes):
                continue                                  # inside the node both edges attach to
            found.append(x)
    return len(found)


def count_crossings(layout: Layout) -> int:
    edges = layout.edges
    boxes = [_box(e["line"]) for e in edges]
    total = 0
    for i in range(len(edges)):
        for j in range(i + 1, len(edges)):
            a, b = boxes[i], boxes[j]
            if a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1]:
                continue
            ends_i = {edges[i]["tail"], edges[i]["head"]}
            shared = [layout.nodes[n] for n in ends_i & {edges[j]["tail"], edges[j]["head"]}
                      if n in layout.nodes]
            total += crossings_between(edges[i]["line"], edges[j]["line"], shared)
    return total


def _dist(p, line) -> float:
    best = math.inf
    for a, b in zip(line, line[1:]):
        dx, dy = b[0] - a[0], b[1] - a[1]
        L = dx * dx + dy * dy
        u = 0.0 if L == 0 else max(0.0, min(1.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / L))
        best = min(best, math.hypot(p[0] - a[0] - u * dx, p[1] - a[1] - u * dy))
    return best


def misplaced_labels(layout: Layout) -> tuple[int, int]:
    """(labels nearer to another edge than to their own, labels)."""
    labelled = [e for e in layout.edges if e["label"] is not None]
    bad = 0
    for e in labelled:
        own = _dist(e["label"], e["line"])
        if any(_dist(e["label"], o["line"]) < own for o in layout.edges if o is not e):
            bad += 1
    return bad, len(labelled)


def step_alignment(layout: Layout) -> tuple[float | None, int | None]:
    """(vertical spread of the step boxes' centres in pt, number of distinct box sizes)."""
    steps = [bb for label, bb in layout.boxes if "t = " in label]
    if not steps:
        return None, None
    ys = [(b[1] + b[3]) / 2 for b in steps]
    sizes = []                                 # alike within 1 pt: -Tjson rounds each corner to 0.1 pt
    for b in steps:
        w, h = b[2] - b[0], b[3] - b[1]
        if not any(abs(w - u) <= 1 and abs(h - v) <= 1 for u, v in sizes):
            sizes.append((w, h))
    return max(ys) - min(ys), len(sizes)


def measure(json_text) -> Report:
    layout = parse(json_text)
    bad, n = misplaced_labels(layout)
    spread, sizes = step_alignment(layout)
    return Report(count_crossings(layout), bad, n, layout.width, layout.height, spread, sizes)


def measure_graph(graph) -> Report:
    """Lay `graph` (a graphviz.Digraph, ours or torchviz's) out and measure what was drawn."""
    return measure(graph.pipe(format="json"))
