"""The layered layout of one time step (a cell): columns, an order in each, heights.

A small Sugiyama-style layout, the same idea as Graphviz's dot at the scale of
one step: columns by longest path (at most two nodes a weight's bus feeds in a
column, one reached from above and one from below), the order inside each
column by barycentre sweeps from a few seeded starts and then swaps while the
crossings go down, and heights relaxed toward each node's neighbours. Pseudo
nodes on the left and right borders stand for what enters the step (h_{t-1})
and what leaves it (h_t); a state's in- and out-border are linked so that it
leaves at the height it came in. Everything is box-local, in points, y down.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

COL_GAP = 46        # between columns in a cell: an edge label fits on the way
ROW_GAP = 16        # between nodes of one column
RESTARTS = 12       # starting orders tried for a cell's columns (seeded)


class Cell:
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
