"""Is there a better cell than the layered one? A search over cells drawn on a grid, then drawn.

    python -m benchmarks.cell_search gru [--steps 4] [--iters 40000] [--seed 1] [--grid 11 8] [--out f.png]

The row layout repeats one cell (viz/layered.py: columns left to right). For the
GRU of benchmarks/render_models.py it costs 134 crossings at T = 4: 90 between
buses, which no drawing of the row can lower (docs/rendering.md), and 11 in each
box. This experiment asks whether another cell would do: every node of the
cell on a grid point, every edge a straight line (the flow may run right to
left), each tapped op's tap a vertical line up or down to its bus, h_{t-1}
entering at the left border and h_t leaving at the right one at the same
height. It counts what such a cell costs at T steps, T × (edges crossing inside
the cell) + (T − 1) × (pairs of buses on one side), with an edge that crosses
h_t's way out counted once for each use of h_t in the next box (they leave as
parallel edges), and an edge passing through a node forbidden. Simulated
annealing, started from the layered cell and seeded, moves one node (or flips
one tap) at a time. The best cell found is then drawn through the real
pipeline (neato -n2, -Tjson) and measured as bench_render measures.

It is an experiment, not a layout: it takes minutes where the layered cell
takes a fraction of a second, and its cells are hard to read (edges run both
ways). What it found for the GRU is in docs/rendering.md.
"""

from __future__ import annotations

import argparse
import math
import random
from collections import defaultdict
from contextlib import contextmanager

import numpy as np

from benchmarks.render_models import ours
from tinygrad_rnn import viz
from tinygrad_rnn.viz import layout
from tinygrad_rnn.viz.draw import picture
from tinygrad_rnn.viz.fixed import sizes_of
from tinygrad_rnn.viz.measure import measure_graph

GAP = 46, 26               # pt between columns, between rows, when drawn
CLEAR = 0.35               # grid units: an edge passing nearer a node than this goes through it


class Problem:
    """One cell as segments: its edges, then one tap per tapped op; weights for h_t's way out."""

    def __init__(self, cell, T, cols=11, rows=8):
        self.T, self.cell, self.cols, self.rows = T, cell, cols, rows
        self.ins = [k for k in cell.chains if isinstance(k[0], tuple)]
        self.members = [n for n in cell.size if not str(n).startswith("~") and not isinstance(n, tuple)]
        self.tapped = sorted(cell.tapped)
        self.index = {n: i for i, n in enumerate(self.members)}
        edges = [(u, v) for u, v, _, _ in cell.chains]
        self.segs = edges + [(t, "tap") for t in self.tapped]
        uses = defaultdict(int)
        for u, _ in edges:
            if isinstance(u, tuple):
                uses[u] += 1
        self.weight = np.array([max(1, uses[cell.links[v]]) if isinstance(v, tuple) and v in cell.links else 1
                                for _, v in self.segs], float)
        n = len(self.segs)
        self.shared = np.array([[i == j or bool({*self.segs[i]} & {*self.segs[j]}) for j in range(n)]
                                for i in range(n)])
        self.ends = np.array([[m in s for m in self.members] for s in self.segs])
        self.touch = {m: [i for i, s in enumerate(self.segs) if m in s] for m in self.members}


class State:
    """Grid points, tap sides and the states' height; the cost and its parts."""

    def __init__(self, p: Problem, pos, side, yh):
        self.p, self.pos, self.side, self.yh = p, np.array(pos, float), dict(side), yh
        self.seg = np.zeros((len(p.segs), 4))
        self.refresh(range(len(p.segs)))

    def point(self, n):
        if n in self.p.index:
            return self.pos[self.p.index[n]]
        return (-1, self.yh) if n[0] == "in" else (self.p.cols, self.yh)

    def refresh(self, idx):
        for i in idx:
            u, v = self.p.segs[i]
            if v == "tap":
                x, y = self.pos[self.p.index[u]]
                self.seg[i] = x, y, x, (-1 if self.side[u] < 0 else self.p.rows)
            else:
                self.seg[i] = (*self.point(u), *self.point(v))

    def crossings(self, idx):
        """Weighted proper crossings of segments idx with every segment (k x n)."""
        a = self.seg[idx]
        px, py, qx, qy = (a[:, k:k + 1] for k in range(4))
        ax, ay, bx, by = (self.seg[:, k][None] for k in range(4))
        d1 = (qx - px) * (ay - py) - (qy - py) * (ax - px)
        d2 = (qx - px) * (by - py) - (qy - py) * (bx - px)
        d3 = (bx - ax) * (py - ay) - (by - ay) * (px - ax)
        d4 = (bx - ax) * (qy - ay) - (by - ay) * (qx - ax)
        hit = (d1 * d2 < 0) & (d3 * d4 < 0) & ~self.p.shared[idx]
        return hit * (self.p.weight[idx][:, None] * self.p.weight[None])

    def through(self, idx):
        """Segments idx passing through a node that is not one of their ends (k x m)."""
        a = self.seg[idx]
        px, py = a[:, 0:1], a[:, 1:2]
        dx, dy = (a[:, 2] - a[:, 0])[:, None], (a[:, 3] - a[:, 1])[:, None]
        u = np.clip(((self.pos[None, :, 0] - px) * dx + (self.pos[None, :, 1] - py) * dy)
                    / np.maximum(dx * dx + dy * dy, 1e-9), 0, 1)
        d = np.hypot(self.pos[None, :, 0] - px - u * dx, self.pos[None, :, 1] - py - u * dy)
        return (d < CLEAR) & ~self.p.ends[idx]

    def parts(self):
        """(crossings in one cell, nodes passed through, crossings between buses at T steps)."""
        every = list(range(len(self.p.segs)))
        up = sum(1 for t in self.p.tapped if self.side[t] < 0)
        down = len(self.p.tapped) - up
        buses = (self.p.T - 1) * (up * (up - 1) + down * (down - 1)) // 2
        return self.crossings(every).sum() / 2, int(self.through(every).sum()), buses

    def cost(self):
        inside, passed, buses = self.parts()
        return self.p.T * inside + 20 * passed + buses


def start(p: Problem):
    """The layered cell on the grid: its columns, and rows from its heights."""
    cell, pos, taken = p.cell, [], set()
    for n in p.members:
        x, y = min(p.cols - 1, cell.rank[n]), min(p.rows - 1, round(cell.y[n] / 30))
        while (x, y) in taken:
            y = (y + 1) % p.rows
        taken.add((x, y))
        pos.append((x, y))
    yh = round(cell.y[p.ins[0][0]] / 30)
    return State(p, pos, {t: cell.side(t) for t in p.tapped}, yh)


def anneal(s: State, iters: int, seed: int, temp: float = 3.0) -> State:
    """Move one node to another grid point (swapping with whoever is there) or flip one tap;
    keep a worse cell with probability exp(-Δ/τ), τ falling to 0.05; the best cell seen wins."""
    rng, p = random.Random(seed), s.p
    cur = s.cost()
    best = (cur, s.pos.copy(), dict(s.side))
    at = {tuple(xy): p.members[i] for i, xy in enumerate(s.pos)}
    for it in range(iters):
        tau = temp * (1 - it / iters) ** 2 + 0.05
        old_pos, old_side = s.pos.copy(), dict(s.side)
        if rng.random() < 0.1:
            t = rng.choice(p.tapped)
            s.side[t] = -s.side[t]
            moved = [p.segs.index((t, "tap"))]
        else:
            n = rng.choice(p.members)
            to = (float(rng.randrange(p.cols)), float(rng.randrange(p.rows)))
            other = at.get(to)
            frm = tuple(s.pos[p.index[n]])
            if to == frm:
                continue
            s.pos[p.index[n]] = to
            at[to] = n
            if other:
                s.pos[p.index[other]] = frm
                at[frm] = other
            else:
                del at[frm]
            moved = sorted({*p.touch[n], *(p.touch[other] if other else [])})
        s.refresh(moved)
        new = s.cost()
        if new <= cur or rng.random() < math.exp((cur - new) / tau):
            cur = new
            if cur < best[0]:
                best = (cur, s.pos.copy(), dict(s.side))
        else:
            s.pos, s.side = old_pos, old_side
            at = {tuple(xy): p.members[i] for i, xy in enumerate(s.pos)}
            s.refresh(moved)
    s.pos, s.side = best[1], best[2]
    s.refresh(range(len(p.segs)))
    return s


class GridCell:
    """A found cell in the shape layout.py reads from a layered Cell (x, y, chains, route, side)."""

    def __init__(self, s: State, size):
        p, cell = s.p, s.p.cell
        self.links, self.tapped, self.size = cell.links, cell.tapped, dict(size)
        widths = [max([size[n][0] for n in p.members if s.pos[p.index[n]][0] == c] or [0.0])
                  for c in range(p.cols)]
        height = max(size[n][1] for n in p.members)
        xs, x = [], GAP[0]
        for w in widths:
            xs.append(x + w / 2)
            x += w + GAP[0]
        row = lambda r: r * (height + GAP[1]) + height / 2        # noqa: E731
        self.width, self.height = x, (p.rows - 1) * (height + GAP[1]) + height
        self.x = {n: xs[int(s.pos[p.index[n]][0])] for n in p.members}
        self.y = {n: row(s.pos[p.index[n]][1]) for n in p.members}
        self.chains = [(u, v, key, []) for u, v, key, _ in cell.chains]
        for u, v, _, _ in cell.chains:
            for k in (u, v):
                if isinstance(k, tuple):
                    self.x[k], self.y[k] = (0.0 if k[0] == "in" else self.width), row(s.yh)
                    self.size[k] = (0.0, 0.0)
        self.sides = dict(s.side)

    def side(self, n) -> int:
        return self.sides[n]

    def _rim(self, n, to):
        (x, y), (w, h) = (self.x[n], self.y[n]), self.size[n]
        if not w:
            return x, y
        dx, dy = to[0] - x, to[1] - y
        k = 1.0 / math.hypot(dx / (w / 2), dy / (h / 2))
        return x + k * dx, y + k * dy

    def route(self, u, v, dummies):
        a, b = (self.x[u], self.y[u]), (self.x[v], self.y[v])
        return [self._rim(u, b), self._rim(v, a)]


@contextmanager
def cells_from(found):
    """Draw with the found cells ({lane: State}) in place of the layered ones."""
    layered = layout._Row._template

    def template(row, lane):
        cell, tpl, rev = layered(row, lane)
        if lane not in found:
            return cell, tpl, rev
        grid = GridCell(found[lane], {n: row.sizes[n] for n in found[lane].p.members})
        for w in row.buses:
            users = [row.pic.edges[k].dst for k in row.outs[w] if row.pic.edges[k].dst in grid.sides]
            if users:
                row.side[w] = grid.side(users[0])
        return grid, tpl, rev
    layout._Row._template = template
    try:
        yield
    finally:
        layout._Row._template = layered


def search(cell: str, T: int, iters: int, seed: int, grid=(11, 8)):
    """(loss, lane, the layered cell on the grid, the best cell found) for the model of
    render_models (B=2, D=3, H=8, cross-entropy on the last step)."""
    loss = ours(cell, T)
    pic = picture(loss)
    row = layout._Row(pic, sizes_of(pic))
    lane = next(iter(row.cells))
    p = Problem(row.cells[lane][0], T, *grid)
    first = start(p)
    return loss, lane, State(p, first.pos, first.side, first.yh), anneal(first, iters, seed)


def drawn(loss, lane, found):
    """draw_graph(loss) with the found cell in place of the layered one."""
    with cells_from({lane: found}):
        return viz.draw_graph(loss)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("cell", choices=("rnn", "lstm", "gru"))
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--iters", type=int, default=40000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--grid", type=int, nargs=2, default=(11, 8), metavar=("COLS", "ROWS"))
    parser.add_argument("--out", help="also write the picture with the found cell here (.png, .svg)")
    args = parser.parse_args(argv)
    loss, lane, first, found = search(args.cell, args.steps, args.iters, args.seed, args.grid)
    print(f"layered cell on the grid: {first.parts()[0]:.0f} crossings a box, buses {first.parts()[2]}")
    inside, passed, buses = found.parts()
    print(f"found: {inside:.0f} crossings a box, {passed} nodes passed, buses {buses}: "
          f"{args.steps * inside + buses:.0f} at T = {args.steps}")
    print(f"{'drawn, layered cell':<24} {measure_graph(viz.draw_graph(loss)).row()}")
    graph = drawn(loss, lane, found)
    print(f"{'drawn, found cell':<24} {measure_graph(graph).row()}")
    if args.out:
        viz.write(graph, args.out)


if __name__ == "__main__":
    main()
