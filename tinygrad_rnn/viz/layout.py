"""Fixed positions for the op-level picture: lay out one time step, then repeat it.

Graphviz's `dot` places every node of an unrolled graph on its own, so step 3
ends up looking different from step 2 and the shared weights pull the steps
into a diagonal. A teacher draws it differently: one cell, copied T times in a
row. That is what this module computes (Graphviz then only draws it, with
`neato -n2`, which keeps the given positions and splines):

1. the nodes of one step (the template, a full middle step) are put in
   columns by longest path (a small layered layout: columns, then an order
   in each column by barycentres, then heights relaxed toward neighbours),
   with pseudo nodes on the box's left and right borders where states enter
   and leave, so h_{t-1} comes in where h_t goes out: the lane runs straight;
2. every step box is a copy of the template, in one row (a second lane of
   the same graph, a later chunk or a second layer, in a row below; a lane
   whose states run from t+1 to t is mirrored, so time still reads along it);
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

COL_GAP = 46        # between columns in a cell: an edge label fits on the way
ROW_GAP = 16        # between nodes of one column
PAD = 16            # node to box border
TITLE = 20          # the box title ("t = 3") above the nodes
BOX_GAP = 84        # between two step boxes: the states cross here, with their labels
LANE_GAP = 60       # between two rows of boxes, besides their buses
CHUNK_GAP = 170     # between two chunks of one layer in a row (room for the detach() cut)
BUS_FIRST = 40      # box border to the nearest bus (a tap's label sits in between)
BUS_STEP = 24       # between two buses (a weight's box fits between)
TAP_SPREAD = 8      # several taps into one node: this far apart
LABEL_H = 11
RESTARTS = 12       # starting orders tried for a cell's columns (seeded)


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
    labels: dict[int, tuple[float, float]] = field(default_factory=dict)         # edge index -> centre
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


# ---- the layered layout of one cell ---------------------------------------------------
class _Cell:
    """Columns by longest path, order by barycentres, heights relaxed; all box-local."""

    def __init__(self, members, edges, size, ins, outs, pull, links, tapped=(), buses_cross=0):
        # members: node ids; edges: (u, v, key) inside; ins: {pseudo: [(v, key)]}; outs: {pseudo: u};
        # tapped: the nodes a weight's bus feeds (a tap reaches them from above or below)
        self.size = dict(size)
        self.tapped = set(tapped)
        self.buses_cross = buses_cross      # each pair of buses on one side crosses this often
        succ, pred = defaultdict(list), defaultdict(list)
        for u, v, _ in edges:
            succ[u].append(v)
            pred[v].append(u)
        fed = {v for targets in ins.values() for v, _ in targets}
        least = defaultdict(int)
        for _ in range(len(members) + 1):                   # at most two tapped nodes a column:
            rank = {m: least[m] for m in members}            # one reached from above, one from below
            for m in members:                               # members come in topological order
                for v in succ[m]:
                    rank[v] = max(rank[v], rank[m] + 1)
            for m in reversed(members):                     # sources sit just before their first use
                if not pred[m] and m not in fed and succ[m]:
                    rank[m] = max(min(rank[v] for v in succ[m]) - 1, least[m])
            crowded = defaultdict(list)
            for m in members:
                if m in self.tapped:
                    crowded[rank[m]].append(m)
            extra = [m for ms in crowded.values() for m in ms[2:]]
            if not extra:
                break
            for m in extra:
                least[m] = rank[m] + 1
        R = max(rank.values(), default=0)
        for p in ins:
            rank[p] = -1
            self.size[p] = (0.0, 0.0)
        for p in outs:
            rank[p] = R + 1
            self.size[p] = (0.0, 0.0)
        chains = []                                          # (u, v, key, [dummies])
        all_edges = list(edges) + [(p, v, key) for p, ts in ins.items() for v, key in ts] + \
            [(u, p, ("out", p)) for p, u in outs.items()]
        for u, v, key in all_edges:
            dummies = []
            for r in range(rank[u] + 1, rank[v]):
                d = f"~{len(self.size)}"
                rank[d] = r
                self.size[d] = (0.0, 0.0)
                dummies.append(d)
            chains.append((u, v, key, dummies))
        self.rank, self.chains, self.links = rank, chains, links
        self.pull = pull                                     # node -> -1 (toward the top) / +1 (bottom)
        self.layers = defaultdict(list)
        for n in list(ins) + list(members) + [d for c in chains for d in c[3]] + list(outs):
            self.layers[rank[n]].append(n)
        self.lo, self.hi = -1 if ins else min(self.layers), max(self.layers)
        self._adjacent()
        self._order()
        self._coordinates()

    def _adjacent(self):
        self.up, self.down = defaultdict(list), defaultdict(list)      # neighbours one layer left/right
        for u, v, _, dummies in self.chains:
            path = [u, *dummies, v]
            for a, b in zip(path, path[1:]):
                self.down[a].append(b)
                self.up[b].append(a)

    # -- order within columns: barycentre sweeps, then swaps while they help ---------
    def _order(self):
        """Barycentre sweeps from a few seeded starting orders, then swaps; the cheapest wins."""
        start = {r: list(ns) for r, ns in self.layers.items()}
        rng = np.random.default_rng(0)                        # seeded: the same picture every run
        best, best_cost = None, None
        for attempt in range(RESTARTS):
            if attempt == 0:
                self.layers = {r: list(ns) for r, ns in start.items()}
            elif attempt == 1:
                self.layers = {r: list(reversed(ns)) for r, ns in start.items()}
            else:
                self.layers = {r: [ns[i] for i in rng.permutation(len(ns))] for r, ns in start.items()}
            mine, mine_cost = None, None
            for _ in range(6):
                for r in range(self.lo + 1, self.hi + 1):
                    self._sort(r, self.up)
                for r in range(self.hi - 1, self.lo - 1, -1):
                    self._sort(r, self.down)
                cost = self._cost()
                if mine_cost is None or cost < mine_cost:
                    mine, mine_cost = {r: list(ns) for r, ns in self.layers.items()}, cost
            self.layers = mine
            mine_cost = self._transpose(mine_cost)
            if best_cost is None or mine_cost < best_cost:
                best, best_cost = {r: list(ns) for r, ns in self.layers.items()}, mine_cost
        self.layers = best

    def _transpose(self, cost):
        """Swap neighbours in a column while the cost goes down (dot's `transpose` step)."""
        for _ in range(8):
            better = False
            for r in range(self.lo, self.hi + 1):
                layer = self.layers[r]
                for i in range(len(layer) - 1):
                    before = self._local(r)
                    layer[i], layer[i + 1] = layer[i + 1], layer[i]
                    after = self._local(r)
                    if after < before:
                        cost, better = cost - before + after, True
                    else:
                        layer[i], layer[i + 1] = layer[i + 1], layer[i]
            if not better:
                break
        return cost

    def _between(self, r) -> int:
        """Crossings between columns r and r+1 (two edges whose ends are in opposite orders)."""
        if r < self.lo or r >= self.hi:
            return 0
        index = {n: i for i, n in enumerate(self.layers[r + 1])}
        pairs = [(i, index[b]) for i, a in enumerate(self.layers[r]) for b in self.down[a]]
        return sum(1 for i, (a, b) in enumerate(pairs) for c, d in pairs[i + 1:] if (a - c) * (b - d) < 0)

    def _taps(self, r) -> int:
        """What the taps of column r pass on their way out (a node: never), and x_t not on top."""
        layer, cost = self.layers[r], 0
        for k, n in enumerate(layer):
            if n in self.tapped:
                passed = layer[:k] if k < len(layer) - 1 - k else layer[k + 1:]
                cost += sum(100 if self.size[m][0] else 1 for m in passed)
                cost += sum(1 for m in passed if m in self.pull)
        return cost

    def _sides(self) -> int:
        up = sum(1 for n in self.tapped if self.side(n) < 0)
        down = len(self.tapped) - up
        return self.buses_cross * (up * (up - 1) + down * (down - 1)) // 2

    def _local(self, r) -> int:
        return self._between(r - 1) + self._between(r) + self._taps(r) + self._sides()

    def _cost(self) -> int:
        """Crossings between neighbouring columns, what the taps pass, and the buses' own crossings."""
        return sum(self._between(r) + self._taps(r) for r in range(self.lo, self.hi + 1)) + self._sides()

    def _where(self, n):
        layer = self.layers[self.rank[n]]
        return layer.index(n) / max(len(layer) - 1, 1)

    def _sort(self, r, nbrs):
        keys = {}
        for i, n in enumerate(self.layers[r]):
            pos = [self._where(m) for m in nbrs[n]]
            if n in self.pull:
                pos.append(-0.6 if self.pull[n] < 0 else 1.6)
            if n in self.tapped:
                pos.append(-0.6 if self._where(n) < 0.5 else 1.6)
            keys[n] = sum(pos) / len(pos) if pos else i / max(len(self.layers[r]) - 1, 1)
        layer = sorted(self.layers[r], key=lambda n: keys[n])
        tapped = [n for n in layer if n in self.tapped]
        rest = [n for n in layer if n not in self.tapped]
        if len(tapped) == 2:                                  # a tap never passes another node
            layer = [tapped[0], *rest, tapped[1]]
        elif tapped:
            top = layer.index(tapped[0]) < len(layer) / 2 or not rest
            layer = [tapped[0], *rest] if top else [*rest, tapped[0]]
        self.layers[r] = layer

    def side(self, n) -> int:
        """-1 if the tapped node n is reached from above (the nearer end of its column), +1 from below."""
        layer = self.layers[self.rank[n]]
        k = layer.index(n)
        return -1 if k < len(layer) - 1 - k or (k == len(layer) - 1 - k and k == 0) else 1

    # -- coordinates ------------------------------------------------------------------
    def _coordinates(self):
        self.x, x = {}, 0.0
        for r in range(self.lo, self.hi + 1):
            w = max((self.size[n][0] for n in self.layers[r]), default=0.0)
            for n in self.layers[r]:
                self.x[n] = x + w / 2
            x += w + (COL_GAP if self.layers[r] and any(self.size[n][0] for n in self.layers[r])
                      or r == self.lo else COL_GAP * 0.6)
        self.width = x - COL_GAP
        self.y = {}
        for r in range(self.lo, self.hi + 1):
            y = 0.0
            for n in self.layers[r]:
                h = self.size[n][1]
                self.y[n] = y + h / 2
                y += h + ROW_GAP
        for sweep in range(10):
            order = range(self.lo, self.hi + 1) if sweep % 2 == 0 else range(self.hi, self.lo - 1, -1)
            for r in order:
                self._relax(r)
        top = min(self.y[n] - self.size[n][1] / 2 for n in self.y)
        for n in self.y:
            self.y[n] -= top
        self.height = max(self.y[n] + self.size[n][1] / 2 for n in self.y)

    def _relax(self, r):
        layer = self.layers[r]
        want = []
        for n in layer:
            nb = [self.y[m] for m in self.up[n] + self.down[n]]
            if n in self.links:                              # a state's in- and out-border: one height
                nb = [self.y[self.links[n]]] * 3 + nb
            want.append(sum(nb) / len(nb) if nb else self.y[n])
        ys = list(want)
        for i in range(1, len(layer)):                       # keep the order and the gaps
            ys[i] = max(ys[i], ys[i - 1] + self._sep(layer[i - 1], layer[i]))
        shift = sum(w - y for w, y in zip(want, ys)) / max(len(ys), 1)
        for n, y in zip(layer, ys):
            self.y[n] = y + min(shift, 0.0) if shift < 0 else y

    def _sep(self, a, b):
        gap = ROW_GAP if self.size[a][0] and self.size[b][0] else ROW_GAP / 2
        return (self.size[a][1] + self.size[b][1]) / 2 + gap

    def route(self, u, v, dummies):
        """Box-local polyline of one edge: right side of u, through its dummies, left side of v."""
        a = (self.x[u] + self.size[u][0] / 2, self.y[u])
        b = (self.x[v] - self.size[v][0] / 2, self.y[v])
        return [a, *[(self.x[d], self.y[d]) for d in dummies], b]


# ---- the whole picture ------------------------------------------------------------------
def layout(pic: Picture, sizes: dict[str, tuple[float, float]]) -> Drawing | None:
    """Positions for every node and a route for every edge, or None if there are no time steps."""
    if not any(n.step for n in pic.nodes) or any(n.kind == "elided" for n in pic.nodes):
        return None
    return _Row(pic, sizes).d


class _Row:
    def __init__(self, pic: Picture, sizes):
        self.pic, self.sizes, self.d = pic, sizes, Drawing()
        self.nodes = {n.id: n for n in pic.nodes}
        self.step = {n.id: n.step for n in pic.nodes if n.step}
        self.outs = defaultdict(list)
        for i, e in enumerate(pic.edges):
            self.outs[e.src].append(i)
        self._classify()
        self.side = {}                                        # weight -> -1 above / +1 below
        self.cells = {lane: self._template(lane) for lane in self.lanes}
        self._rows()
        for nid in self.nodes:
            if nid not in self.d.hidden:
                self.d.size[nid] = sizes[nid]
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
        free = [n.id for n in pic.nodes if not n.step and n.id not in d.hidden and n.id not in self.buses]
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
        cell = _Cell(ids, edges, size, dict(ins), outs, pull, links, tapped, max(len(ts) - 1, 0))
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
        for j, t in enumerate(ts):
            col = len(ts) - 1 - j if rev else j
            x0 = x_start + col * (bw + BOX_GAP)
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
        return x_start + len(ts) * (bw + BOX_GAP) - BOX_GAP

    def tmap_role(self, w, tpl):
        """The template node a weight's first use in a step is (to know where its taps sit)."""
        for k in self.outs[w]:
            v = self.pic.edges[k].dst
            if v in self.role and self.role[v] in tpl:
                return tpl[self.role[v]]
        return None

    def to_box(self, s, p):
        """A template point (box-local) in step s's box."""
        cell, _, rev = self.cells[s[0]]
        box = self.box_of[s]
        x = p[0] if not rev else cell.width - p[0]
        return (box[0] + PAD + x, box[1] + PAD + TITLE + p[1])

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
            self.d.pos[h] = (left if not self.cells[s[0]][2] else box[2] + 24 + self.d.size[h][0] / 2, y)

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
        cell = _Cell(self.tail, edges, {i: self.sizes[i] for i in self.tail}, dict(ins), {}, {}, {})
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
        for w in self.buses:
            taps = [i for i in self.outs[w] if pic.edges[i].dst in self.step]
            count, seen, xs = defaultdict(int), defaultdict(int), []
            for i in taps:
                count[pic.edges[i].dst] += 1
            for i in taps:
                v = pic.edges[i].dst
                xs.append(d.pos[v][0] + (seen[v] - (count[v] - 1) / 2) * TAP_SPREAD)
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
        cell, _, rev = self.cells[s[0]]
        d, key, v = self.d, self.cset(e.src, s), self.tmap.get(e.dst)
        a, b = d.pos[e.src], d.pos[e.dst]
        box = self.box_of[s]
        forward = a[0] < box[0] + 1 if not rev else a[0] < box[2]
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
        stop = (b[0] - d.size[e.dst][0] / 2, b[1]) if not rev else (b[0] + d.size[e.dst][0] / 2, b[1])
        return pts + [stop]

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


# ---- drawing the routes: Bézier pieces and label places ---------------------------------
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
    placed = {}
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
                    score -= abs(frac - 0.5) * 4
                    if score > best_score:
                        best, best_score = (float(c[0]), float(c[1])), score
        placed[k] = best
    return placed
