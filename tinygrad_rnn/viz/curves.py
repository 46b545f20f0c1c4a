"""Routes as Graphviz draws them: cubic Bézier pieces, sampled curves, and where labels go."""

from __future__ import annotations

import numpy as np

ARROW = 6.0          # pt: the arrowhead (arrowsize 0.6) sits between the spline's end and the tip


def bezier(points) -> tuple[list[tuple[float, float]], tuple[float, float]]:
    """Cubic Bézier control points through a polyline, and the arrow's tip.

    A piece that moves sideways is an S-curve with horizontal tangents (edges
    leave and enter nodes level); a vertical piece (a tap) is a straight line.
    The last piece stops an arrow's length short of the tip.
    """
    pts = [tuple(p) for p in points]
    pts = [p for k, p in enumerate(pts)
           if k == 0 or abs(p[0] - pts[k - 1][0]) + abs(p[1] - pts[k - 1][1]) > 0.5]
    if len(pts) < 2:
        pts = [pts[0], (pts[0][0] + 1, pts[0][1])]
    tip = pts[-1]
    (x1, y1), (x2, y2) = pts[-2], pts[-1]
    if abs(x2 - x1) < 1.0:
        s = 1.0 if y2 > y1 else -1.0
        pts[-1] = (x2, y2 - s * min(ARROW, abs(y2 - y1) / 2))
    else:
        s = 1.0 if x2 > x1 else -1.0
        pts[-1] = (x2 - s * min(ARROW, abs(x2 - x1) / 2), y2)
    out = [pts[0]]
    for (ax, ay), (bx, by) in zip(pts, pts[1:]):
        dx, dy = bx - ax, by - ay
        if abs(dx) < 1.0 or abs(dy) < 0.5:
            out += [(ax + dx / 3, ay + dy / 3), (ax + 2 * dx / 3, ay + 2 * dy / 3), (bx, by)]
        else:
            out += [(ax + dx / 2, ay), (bx - dx / 2, by), (bx, by)]
    return out, tip


def sample(ctrl, tip, n=12) -> np.ndarray:
    """The drawn curve as points (as the measure samples it)."""
    pts = [ctrl[0]]
    for i in range(0, len(ctrl) - 3, 3):
        p = np.array(ctrl[i:i + 4])
        for k in range(1, n + 1):
            u = k / n
            pts.append(tuple((1 - u) ** 3 * p[0] + 3 * u * (1 - u) ** 2 * p[1] + 3 * u * u * (1 - u) * p[2]
                             + u ** 3 * p[3]))
    pts.append(tip)
    return np.array(pts)


def _seg_dist(p, segs) -> np.ndarray:
    a, b = segs[:, 0:2], segs[:, 2:4]
    ab = b - a
    L = np.maximum((ab ** 2).sum(1), 1e-12)
    u = np.clip(((p - a) * ab).sum(1) / L, 0, 1)
    q = a + u[:, None] * ab
    return np.sqrt(((p - q) ** 2).sum(1))


def place_labels(curves: dict, texts: dict, boxes: list) -> dict:
    """For each labelled curve, the label centre nearest its own curve and farthest from the others.

    curves: {key: sampled points}; texts: {key: (w, h) of its label}; boxes: node
    rectangles (x0, y0, x1, y1) a label must not cover.
    """
    keys = list(curves)
    segs = np.concatenate([np.hstack([curves[k][:-1], curves[k][1:]]) for k in keys])
    owner = np.concatenate([np.full(len(curves[k]) - 1, j) for j, k in enumerate(keys)])
    rects = np.array(boxes) if boxes else np.zeros((0, 4))
    placed, taken = {}, []
    for j, k in enumerate(keys):
        if k not in texts:
            continue
        w, h = texts[k]
        pts = curves[k]
        x0, y0 = pts.min(0) - 80
        x1, y1 = pts.max(0) + 80
        near = ((np.maximum(segs[:, 0], segs[:, 2]) > x0) & (np.minimum(segs[:, 0], segs[:, 2]) < x1) &
                (np.maximum(segs[:, 1], segs[:, 3]) > y0) & (np.minimum(segs[:, 1], segs[:, 3]) < y1))
        mine, theirs = segs[near & (owner == j)], segs[near & (owner != j)]
        d = np.sqrt((np.diff(pts, axis=0) ** 2).sum(1))
        s = np.concatenate([[0], np.cumsum(d)])
        best, best_score = None, -np.inf
        for frac in (0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8, 0.12, 0.88, 0.06, 0.94):
            at = frac * s[-1]
            i = max(min(int(np.searchsorted(s, at)), len(pts) - 1), 1)
            tx, ty = pts[i] - pts[i - 1]
            L = max(np.hypot(tx, ty), 1e-9)
            nx, ny = -ty / L, tx / L
            clear = abs(nx) * w / 2 + abs(ny) * h / 2 + 2       # the text just clear of its line
            base = pts[i - 1] + (pts[i] - pts[i - 1]) * 0.5
            for shrink, cost in ((1.0, 0.0), (0.7, 6.0), (0.45, 14.0)):   # closer: overlaps its line
                for sign in (-1, 1):
                    c = base + sign * clear * shrink * np.array([nx, ny])
                    own = _seg_dist(c, mine).min()
                    other = _seg_dist(c, theirs).min() if len(theirs) else np.inf
                    score = (100.0 if other > own + 1 else 0.0) + min(other - own, 30.0) - cost
                    if len(rects):
                        hit = ((rects[:, 0] < c[0] + w / 2) & (rects[:, 2] > c[0] - w / 2) &
                               (rects[:, 1] < c[1] + h / 2) & (rects[:, 3] > c[1] - h / 2)).any()
                        score -= 60.0 if hit else 0.0
                    if any(abs(c[0] - p[0]) < (w + q[0]) / 2 and abs(c[1] - p[1]) < (h + q[1]) / 2
                           for p, q in taken):
                        score -= 40.0                             # on a label placed before it
                    score -= abs(frac - 0.5) * 4
                    if score > best_score:
                        best, best_score = (float(c[0]), float(c[1])), score
        placed[k] = best
        taken.append((best, (w, h)))
    return placed
