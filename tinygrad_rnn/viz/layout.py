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

This module places the boxes and the nodes (steps 1, 2 and 4); the buses of
step 3 (which side, which order, the junctions and running sums, the taps into
an elided-steps marker) are in buses.py, and the lines drawn between the placed
nodes in routes.py. `_Row` mixes both in: they read the same row.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from .buses import BUS_FIRST, BUS_STEP, Bus, Buses
from .graph import Picture
from .layered import Cell
from .routes import Routes, spread_heads

PAD = 16            # node to box border
TITLE = 20          # the box title ("t = 3") above the nodes
BOX_GAP = 84        # between two step boxes: the states cross here, with their labels
LANE_GAP = 60       # between two rows of boxes, besides their buses
CHUNK_GAP = 170     # between two chunks of one layer in a row (room for the detach() cut)
LABEL_H = 11


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


class _Row(Buses, Routes):
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
        spread_heads(self.d)
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
            above, below = self._bus_order(chunks)
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
