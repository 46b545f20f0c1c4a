"""Fixed positions for the op-level picture: lay out one time step, then repeat it.

Graphviz's `dot` places every node of an unrolled graph on its own, so step 3
ends up looking different from step 2 and the shared weights pull the steps
into a diagonal. A teacher draws it differently: one cell, copied T times in a
row. That is what this module computes (Graphviz then only draws it, with
`neato -n2`, which keeps the given positions and splines):

1. the nodes of one step (the template, a full middle step) are put in
   columns by longest path (layered.py: columns, then an order in each
   column by barycentres, then heights relaxed toward neighbours),
   with pseudo nodes on the box's left and right borders where states enter
   and leave, so h_{t-1} comes in where h_t goes out: the lane runs straight;
2. every step box is a copy of the template, in one row (a second lane of
   the same graph, a later chunk or a second layer, in a row below; a lane
   whose states run from t+1 to t has its boxes in that order, t = T on
   the left, so its states too run left to right, box to box);
3. a weight every step uses is drawn once, at the end of a bus: a line
   above or below the row that collects each step's share through a short
   vertical tap (the real edge W -> op, carrying `edge_grads`) and carries the
   running sum ‖Σ_{k≤t} share_k‖ to the weight;
4. the rest (readout, loss) is laid out the same way to the right of the row.

Coordinates are in points, y pointing down while we compute; `flip` turns
them into Graphviz's y-up at the end.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from .graph import Picture
from .labels import norm
from .layered import Cell

PAD = 16            # node to box border
TITLE = 20          # the box title ("t = 3") above the nodes
BOX_GAP = 84        # between two step boxes: the states cross here, with their labels
LANE_GAP = 60       # between two rows of boxes, besides their buses
CHUNK_GAP = 170     # between two chunks of one layer in a row (room for the detach() cut)
BUS_FIRST = 40      # box border to the nearest bus (a tap's label sits in between)
BUS_STEP = 24       # between two buses (a weight's box fits between)
TAP_SPREAD = 8      # several taps into one node: this far apart
MARK_TAP = 100      # taps into an elided-steps marker: this far apart (each carries a label)
LABEL_H = 11


@dataclass
class Bus:
    """One shared weight's bus: junctions along a line and the running sums between them."""
    weight: str                     # node id
    y: float
    xs: list[float]                 # tap junctions, left to right
    edges: list[int]                # the tap edges (indices into Picture.edges), same order
    sums: list[float]               # ‖Σ_{k≤j} share_k‖ after junction j


@dataclass
class Drawing:
    pos: dict[str, tuple[float, float]] = field(default_factory=dict)     # node id -> centre
    size: dict[str, tuple[float, float]] = field(default_factory=dict)    # node id -> (w, h)
    boxes: list[tuple[tuple[str, int], tuple[float, float, float, float]]] = field(default_factory=list)
    routes: dict[int, list[tuple[float, float]]] = field(default_factory=dict)   # edge index -> polyline
    buses: list[Bus] = field(default_factory=list)
    hidden: set[str] = field(default_factory=set)        # nodes not drawn (the sliced input x)
    width: float = 0.0
    height: float = 0.0


# ---- sizes ------------------------------------------------------------------------
def text_size(lines: list[tuple[str, float]]) -> tuple[float, float]:
    """(w, h) in pt of centred lines of (text, font size) in Helvetica, with a margin."""
    w = max(len(t) * fs * 0.6 for t, fs in lines)
    h = sum(fs * 1.25 for _, fs in lines)
    return w + 16, h + 10


# ---- the whole picture ------------------------------------------------------------------
def layout(pic: Picture, sizes: dict[str, tuple[float, float]]) -> Drawing | None:
    """Positions for every node and a route for every edge, or None if there are no time steps."""
    if not any(n.step for n in pic.nodes):
        return None
    return _Row(pic, sizes).d


class _Row:
    def __init__(self, pic: Picture, sizes):
        self.pic, self.sizes, self.d = pic, dict(sizes), Drawing()
        self.nodes = {n.id: n for n in pic.nodes}
        self.step = {n.id: n.step for n in pic.nodes if n.step}
        self.outs = defaultdict(list)
        for i, e in enumerate(pic.edges):
            self.outs[e.src].append(i)
        self._classify()
        self.side = {}                                        # weight -> -1 above / +1 below
        self.cells = {lane: self._template(lane) for lane in self.lanes}
        self._widen_marks()
        self._rows()
        for nid in self.nodes:
            if nid not in self.d.hidden:
                self.d.size[nid] = self.sizes[nid]
        self._heads()
        self._tail()
        self._buses()
        self._routes()
        _spread_heads(self.d)
        _fit(self.d)

    # -- who is what ----------------------------------------------------------------
    def _classify(self):
        pic, step, d = self.pic, self.step, self.d
        for n in pic.nodes:          # the sliced input x (no gradient reaches it): drawn as its slices
            users = {step.get(pic.edges[i].dst) for i in self.outs[n.id]}
            if n.kind == "input" and not n.step and len(users) > 1 and None not in users:
                d.hidden.add(n.id)
        self.buses = [n.id for n in pic.nodes if n.kind == "param" and not n.step
                      and any(pic.edges[i].dst in step for i in self.outs[n.id])]
        self.marks = {n.id: n.hides for n in pic.nodes if n.kind == "elided" and n.hides}   # elided steps
        free = [n.id for n in pic.nodes if not n.step and n.id not in d.hidden and n.id not in self.buses
                and n.id not in self.marks]
        self.head = [i for i in free if self.outs[i] and all(pic.edges[k].dst in step for k in self.outs[i])]
        self.tail = [i for i in free if i not in self.head]
        self.lanes = list(dict.fromkeys(n.step[0] for n in pic.nodes if n.step))
        self.members = defaultdict(list)
        for n in pic.nodes:
            if n.step:
                self.members[n.step].append(n.id)
        self.times = {lane: sorted({s[1] for s in self.members if s[0] == lane}) for lane in self.lanes}
        self.role = {}
        for ids in self.members.values():
            seen = defaultdict(int)
            for i in ids:
                r = self.nodes[i].role
                self.role[i] = (r, seen[r])
                seen[r] += 1

    def cset(self, src, s):
        """The in-border a value from outside step s enters by: the roles of its uses there."""
        return ("in", tuple(sorted({self.role[self.pic.edges[i].dst] for i in self.outs[src]
                                    if self.step.get(self.pic.edges[i].dst) == s})))

    # -- one cell ---------------------------------------------------------------------
    def _template(self, lane):
        """Lay out the lane's fullest middle step: (cell, {role: template id}, reversed?)."""
        ts = self.times[lane]
        most = max(len(self.members[(lane, t)]) for t in ts)
        full = [t for t in ts if len(self.members[(lane, t)]) == most]
        t = full[len(full) // 2]
        ids = self.members[(lane, t)]
        inside = set(ids)
        edges, ins, outs, pull, reverse = [], defaultdict(list), {}, {}, 0
        for e in self.pic.edges:
            if e.src in self.d.hidden or e.dst in self.d.hidden:
                continue
            if e.dst in inside and e.src in inside:
                edges.append((e.src, e.dst, None))
            elif e.dst in inside and e.src in self.buses:
                pull[e.dst] = 1
            elif e.dst in inside:
                if (e.dst, None) not in ins[self.cset(e.src, (lane, t))]:
                    ins[self.cset(e.src, (lane, t))].append((e.dst, None))
            elif e.src in inside:
                outs.setdefault(("out", self.role[e.src]), e.src)
        links = {}
        tpl = {self.role[i]: i for i in ids}
        for e in self.pic.edges:                      # h_t leaves where h_{t-1} came in
            a, b = self.step.get(e.src), self.step.get(e.dst)
            if a and b and a[0] == b[0] == lane and a != b:
                reverse += 1 if b[1] < a[1] else -1
                k_in, k_out = self.cset(e.src, b), ("out", self.role[e.src])
                if k_in in ins and self.role[e.src] in tpl:
                    outs.setdefault(k_out, tpl[self.role[e.src]])
                    links[k_in], links[k_out] = k_out, k_in
        for i in ids:                                 # x_t: it enters from the top
            if not any(e.dst == i and e.src not in self.d.hidden for e in self.pic.edges):
                pull.setdefault(i, -1)
        size = {i: self.sizes[i] for i in ids}
        tapped = [i for i in ids if i in pull and pull[i] > 0]
        pull = {i: v for i, v in pull.items() if v < 0}
        cell = Cell(ids, edges, size, dict(ins), outs, pull, links, tapped, max(len(ts) - 1, 0))
        for w in self.buses:                          # a bus runs on the side its taps come from
            users = [self.pic.edges[k].dst for k in self.outs[w] if self.pic.edges[k].dst in inside]
            if users and w not in self.side:
                self.side[w] = cell.side(users[0])
        return cell, tpl, reverse > 0

    def _widen_marks(self):
        """An elided-steps marker is as wide as the labelled taps it takes from one side need."""
        for m in self.marks:
            ends = [self.side.get(self.pic.edges[i].src, 1) for i, e in enumerate(self.pic.edges)
                    if e.dst == m and e.src in self.buses]
            n = max(ends.count(-1), ends.count(1))
            w, h = self.sizes[m]
            self.sizes[m] = (max(w, n * MARK_TAP), h)

    # -- the rows of boxes -------------------------------------------------------------
    def _rows(self):
        """One row of boxes per layer; the chunks of one layer ("rnn", "rnn (2)": truncated BPTT
        calls it again) continue its row, since their time continues."""
        d, y0, self.right = self.d, 0.0, 0.0
        self.bus_y, self.box_of, self.tmap, self.bus_rank = {}, {}, {}, {}
        rows = {}
        for lane in self.lanes:
            rows.setdefault(re.sub(r" \(\d+\)$", "", lane), []).append(lane)
        for chunks in rows.values():
            first = self.cells[chunks[0]][0]
            mine = [w for w in self.buses if w not in self.bus_y and any(
                self.step.get(self.pic.edges[k].dst, ("",))[0] in chunks for k in self.outs[w])]
            # nearest the row: the bus whose taps sit furthest right (fewest taps cross it)
            where = {w: max(first.x.get(self.tmap_role(w, self.cells[chunks[0]][1]), 0.0), 0.0)
                     for w in mine}
            above = sorted((w for w in mine if self.side.get(w) == -1), key=lambda w: -where[w])
            below = sorted((w for w in mine if self.side.get(w) != -1), key=lambda w: -where[w])
            self.bus_rank.update({w: k for k, w in enumerate(above)})
            self.bus_rank.update({w: k for k, w in enumerate(below)})
            top = y0 + (BUS_FIRST + BUS_STEP * (len(above) - 1) if above else 0.0)
            x_start, bottom = 60.0, top
            for lane in chunks:
                x_start = self._boxes(lane, x_start, top) + CHUNK_GAP
                bottom = max(bottom, max(b[3] for s, b in d.boxes if s[0] == lane))
            for k, w in enumerate(above):
                self.bus_y[w] = top - BUS_FIRST - BUS_STEP * k
            for k, w in enumerate(below):
                self.bus_y[w] = bottom + BUS_FIRST + BUS_STEP * k
            y0 = bottom + (BUS_FIRST + BUS_STEP * len(below) if below else 0.0) + LANE_GAP

    def _boxes(self, lane, x_start, top) -> float:
        """The lane's boxes from x_start on, every node where the template has it; returns the end."""
        d = self.d
        cell, tpl, rev = self.cells[lane]
        bw, bh = cell.width + 2 * PAD, cell.height + 2 * PAD + TITLE
        ts = self.times[lane]
        mark = next((m for m, h in self.marks.items() if h[0] == lane), None)
        gap = next((j for j in range(len(ts) - 1) if ts[j + 1] > ts[j] + 1), None) if mark else None
        mw = self.sizes[mark][0] + BOX_GAP if gap is not None else 0.0      # room for the marker
        for j, t in enumerate(ts):
            col = len(ts) - 1 - j if rev else j
            x0 = x_start + col * (bw + BOX_GAP) + (mw if gap is not None and col > (
                len(ts) - 2 - gap if rev else gap) else 0.0)
            box = (x0, top, x0 + bw, top + bh)
            d.boxes.append(((lane, t), box))
            self.box_of[(lane, t)] = box
            by_role = {self.role[i]: i for i in self.members[(lane, t)]}
            for r, tid in tpl.items():
                if r in by_role:
                    self.tmap[by_role[r]] = tid
                    d.pos[by_role[r]] = self.to_box((lane, t), (cell.x[tid], cell.y[tid]))
            extra = [i for i in self.members[(lane, t)] if i not in d.pos]
            for k, nid in enumerate(extra):                   # a node the template lacks: under the box
                d.pos[nid] = (x0 + PAD + 40 + 90 * k, top + bh + 24)
            self.right = max(self.right, x0 + bw)
        if gap is not None:                           # the elided steps: one marker between their neighbours
            col = len(ts) - 2 - gap if rev else gap
            ys = [cell.y[k] for k in cell.links if k[0] == "out"] or [cell.height / 2]
            d.pos[mark] = (x_start + (col + 1) * (bw + BOX_GAP) + self.sizes[mark][0] / 2,
                           top + PAD + TITLE + sum(ys) / len(ys))
        return x_start + len(ts) * (bw + BOX_GAP) - BOX_GAP + mw

    def tmap_role(self, w, tpl):
        """The template node a weight's first use in a step is (to know where its taps sit)."""
        for k in self.outs[w]:
            v = self.pic.edges[k].dst
            if v in self.role and self.role[v] in tpl:
                return tpl[self.role[v]]
        return None

    def to_box(self, s, p):
        """A template point (box-local) in step s's box."""
        box = self.box_of[s]
        return (box[0] + PAD + p[0], box[1] + PAD + TITLE + p[1])

    # -- outside the row -----------------------------------------------------------------
    def _heads(self):
        """h_0, C_0: left of the box they feed, at the height of the border they enter by."""
        for h in self.head:
            s = self.step[self.pic.edges[self.outs[h][0]].dst]
            cell = self.cells[s[0]][0]
            key = self.cset(h, s)
            y = cell.y[key] if key in cell.y else 0.0
            box = self.box_of[s]
            x, y = self.to_box(s, (0.0, y))
            left = box[0] - 24 - self.d.size[h][0] / 2
            self.d.pos[h] = (left, y)

    def _tail(self):
        """Readout and loss: a small layered layout of their own, right of the row."""
        self.tail_cell = None
        if not self.tail:
            return
        inside = set(self.tail)
        edges = [(e.src, e.dst, None) for e in self.pic.edges if e.src in inside and e.dst in inside]
        ins = defaultdict(list)                   # what comes in from the row gets a lane of its own
        for e in self.pic.edges:
            if e.dst in inside and e.src in self.step:
                ins[("in", e.src)].append((e.dst, None))
        cell = Cell(self.tail, edges, {i: self.sizes[i] for i in self.tail}, dict(ins), {}, {}, {})
        first = next(iter(ins), None)
        dy = self.d.pos[first[1]][1] - cell.y[first] if first else 0.0
        x0 = self.right + BOX_GAP
        for n in self.tail:
            self.d.pos[n] = (x0 + cell.x[n], cell.y[n] + dy)
        self.tail_cell, self.tail_x0, self.tail_dy = cell, x0, dy
        self.right = max(self.right, x0 + cell.width)

    def _buses(self):
        """Each weight at the right end of its bus; a junction under (over) each op it feeds."""
        pic, d = self.pic, self.d
        at_mark = self._mark_taps()
        for w in self.buses:
            taps = [i for i in self.outs[w] if pic.edges[i].dst in self.step or pic.edges[i].dst in d.pos
                    and pic.edges[i].dst in self.marks]
            count, seen, xs = defaultdict(int), defaultdict(int), []
            for i in taps:
                count[pic.edges[i].dst] += 1
            for i in taps:
                v = pic.edges[i].dst
                xs.append(at_mark[i] if i in at_mark else
                          d.pos[v][0] + (seen[v] - (count[v] - 1) / 2) * TAP_SPREAD)
                seen[v] += 1
            pairs = sorted(zip(xs, taps))
            running, sums = None, []
            for _, i in pairs:
                g = pic.edges[i].grad
                if g is not None:
                    g = np.asarray(g, dtype=np.float64)
                    running = g if running is None else running + g
                sums.append(norm(running) if running is not None else None)
            y = self.bus_y[w]
            wide = max(d.size[v][0] for v in self.buses)
            d.pos[w] = (self.right + 24 + self.bus_rank[w] * (wide + 12) + wide / 2, y)
            d.buses.append(Bus(w, y, [x for x, _ in pairs], [i for _, i in pairs], sums))

    def _mark_taps(self) -> dict[int, float]:
        """Where each weight's tap meets an elided-steps marker: spread along its top (bottom) side,
        the nearest bus's tap rightmost, as in the boxes."""
        pic, d, at = self.pic, self.d, {}
        for m in self.marks:
            if m not in d.pos:
                continue
            for side in (-1, 1):
                taps = sorted((i for w in self.buses if self.side.get(w, 1) == side for i in self.outs[w]
                               if pic.edges[i].dst == m), key=lambda i: -self.bus_rank[pic.edges[i].src])
                step = MARK_TAP
                for k, i in enumerate(taps):
                    at[i] = d.pos[m][0] + (k - (len(taps) - 1) / 2) * step
        return at

    # -- edges -------------------------------------------------------------------------------
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
                d.routes[i] = _straight(d, e.src, e.dst)

    def _inner(self, e, s):
        cell = self.cells[s[0]][0]
        u, v = self.tmap.get(e.src), self.tmap.get(e.dst)
        for a, b, _, dummies in cell.chains:
            if a == u and b == v:
                return [self.to_box(s, p) for p in cell.route(a, b, dummies)]
        return _straight(self.d, e.src, e.dst)

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
        return _straight(self.d, e.src, e.dst)


def _straight(d, u, v):
    a, b = d.pos[u], d.pos[v]
    if b[0] >= a[0]:
        return [(a[0] + d.size[u][0] / 2, a[1]), (b[0] - d.size[v][0] / 2, b[1])]
    return [(a[0] - d.size[u][0] / 2, a[1]), (b[0] + d.size[v][0] / 2, b[1])]


def _spread_heads(d):
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


def _fit(d):
    """Move everything so the picture starts at (10, 10); record its size."""
    xs = [p[0] - d.size[n][0] / 2 for n, p in d.pos.items()] + [b[0] for _, b in d.boxes]
    ys = [p[1] - d.size[n][1] / 2 for n, p in d.pos.items()] + [b[1] for _, b in d.boxes] + \
        [b.y - LABEL_H for b in d.buses]
    x0, y0 = min(xs) - 10, min(ys) - 10
    d.pos = {n: (x - x0, y - y0) for n, (x, y) in d.pos.items()}
    d.boxes = [(s, (a - x0, b - y0, c - x0, e - y0)) for s, (a, b, c, e) in d.boxes]
    d.routes = {i: [(x - x0, y - y0) for x, y in pts] for i, pts in d.routes.items()}
    for b in d.buses:
        b.y -= y0
        b.xs = [x - x0 for x in b.xs]
    xe = [p[0] + d.size[n][0] / 2 for n, p in d.pos.items()] + [b[2] for _, b in d.boxes]
    ye = [p[1] + d.size[n][1] / 2 for n, p in d.pos.items()] + [b[3] for _, b in d.boxes] + \
        [b.y + LABEL_H for b in d.buses]
    d.width, d.height = max(xe) + 10, max(ye) + 10
