"""The routes of the row layout's edges, once every node has its place.

An edge inside a step follows the template cell's own path (its dummies in the
columns between its ends), repeated in every box; a state leaving box t goes
out through the right border at the height where it enters box t+1, so h runs
straight from box to box; a tap is a vertical line from its bus to the op.
Kept apart from layout.py because it only reads positions: where things go is
decided there, how the lines between them run is decided here.
"""

from __future__ import annotations

from collections import defaultdict

from .buses import TAP_SPREAD


class Routes:
    """The edge half of the row layout (layout._Row mixes it in: it reads positions and cells)."""

    def _routes(self):
        d = self.d
        tap = {i: (b, b.xs[j]) for b in d.buses for j, i in enumerate(b.edges)}
        for i, e in enumerate(self.pic.edges):
            if e.src in d.hidden or e.dst in d.hidden:
                continue
            if i in tap:
                b, x = tap[i]
                vy, vh = d.pos[e.dst][1], d.size[e.dst][1]
                d.routes[i] = [(x, b.y), (x, vy - vh / 2 if b.y < vy else vy + vh / 2)]
                continue
            a, s_dst = self.step.get(e.src), self.step.get(e.dst)
            if a and a == s_dst:
                d.routes[i] = self._inner(e, a)
            elif s_dst:
                d.routes[i] = self._entering(e, s_dst)
            elif a and e.dst in self.marks:             # into the elided steps, as h_t leaves for t+1
                b = d.pos[e.dst]
                d.routes[i] = [(d.pos[e.src][0] + d.size[e.src][0] / 2, d.pos[e.src][1]),
                               *self._out_path(e.src, a, True), (b[0] - d.size[e.dst][0] / 2, b[1])]
            elif a:
                d.routes[i] = self._leaving(e, a)
            elif e.src in self.tail and e.dst in self.tail:
                d.routes[i] = self._in_tail(e)
            else:
                d.routes[i] = straight(d, e.src, e.dst)

    def _inner(self, e, s):
        cell = self.cells[s[0]][0]
        u, v = self.tmap.get(e.src), self.tmap.get(e.dst)
        for a, b, _, dummies in cell.chains:
            if a == u and b == v:
                return [self.to_box(s, p) for p in cell.route(a, b, dummies)]
        return straight(self.d, e.src, e.dst)

    def _entering(self, e, s):
        """Into step s from outside it (h_{t-1}, h_0): through the border, then the cell's own path."""
        cell = self.cells[s[0]][0]
        d, key, v = self.d, self.cset(e.src, s), self.tmap.get(e.dst)
        a, b = d.pos[e.src], d.pos[e.dst]
        forward = a[0] < self.box_of[s][0] + 1
        start = (a[0] + d.size[e.src][0] / 2, a[1]) if forward else (a[0] - d.size[e.src][0] / 2, a[1])
        pts = [start]
        src_s = self.step.get(e.src)
        if src_s and src_s in self.box_of:
            pts += self._out_path(e.src, src_s, forward)
        if key in cell.y:
            pts.append(self.to_box(s, (cell.x[key], cell.y[key])))
            for x, y, _, dummies in cell.chains:
                if x == key and y == v:
                    pts += [self.to_box(s, (cell.x[m], cell.y[m])) for m in dummies]
                    break
        return pts + [(b[0] - d.size[e.dst][0] / 2, b[1])]

    def _leaving(self, e, s):
        """From a step to the readout: out through the right border, as h_t leaves for step t+1."""
        d, cell, key = self.d, self.tail_cell, ("in", e.src)
        a, b = d.pos[e.src], d.pos[e.dst]
        pts = [(a[0] + d.size[e.src][0] / 2, a[1]), *self._out_path(e.src, s, True)]
        if cell is not None and key in cell.y:                  # the lane the tail kept for it
            at = lambda m: (self.tail_x0 + cell.x[m], cell.y[m] + self.tail_dy)   # noqa: E731
            pts.append(at(key))
            for u, v, _, dummies in cell.chains:
                if u == key and v == e.dst:
                    pts += [at(m) for m in dummies]
                    break
        return pts + [(b[0] - d.size[e.dst][0] / 2, b[1])]

    def _out_path(self, src, s, forward):
        """The way a state leaves its box: the cell's own path to the out-border, then the border."""
        cell, _, _ = self.cells[s[0]]
        box, key, u = self.box_of[s], ("out", self.role[src]), self.tmap.get(src)
        y = self.d.pos[src][1]
        pts = []
        for a, b, _, dummies in cell.chains:
            if a == u and b == key:
                pts = [self.to_box(s, (cell.x[m], cell.y[m])) for m in dummies]
                pts.append(self.to_box(s, (cell.x[key], cell.y[key])))
                y = pts[-1][1]
                break
        return pts + [(box[2] if forward else box[0], y)]

    def _in_tail(self, e):
        cell = self.tail_cell
        for a, b, _, dummies in cell.chains:
            if a == e.src and b == e.dst:
                return [(self.tail_x0 + x, y + self.tail_dy) for x, y in cell.route(a, b, dummies)]
        return straight(self.d, e.src, e.dst)


def straight(d, u, v):
    a, b = d.pos[u], d.pos[v]
    if b[0] >= a[0]:
        return [(a[0] + d.size[u][0] / 2, a[1]), (b[0] - d.size[v][0] / 2, b[1])]
    return [(a[0] - d.size[u][0] / 2, a[1]), (b[0] + d.size[v][0] / 2, b[1])]


def spread_heads(d):
    """Several edges into one side of a node end a few points apart, so each keeps its own end."""
    ends = defaultdict(list)
    for i, pts in d.routes.items():
        ends[(round(pts[-1][0], 1), round(pts[-1][1], 1))].append(i)
    for group in ends.values():
        if len(group) < 2:
            continue
        vertical = abs(d.routes[group[0]][-1][0] - d.routes[group[0]][-2][0]) < 1e-6
        group.sort(key=lambda i: d.routes[i][-2][0 if vertical else 1])
        for k, i in enumerate(group):
            off = (k - (len(group) - 1) / 2) * TAP_SPREAD
            x, y = d.routes[i][-1]
            d.routes[i][-1] = (x + off, y) if vertical else (x, y + off)
