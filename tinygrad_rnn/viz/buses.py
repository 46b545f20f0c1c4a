"""The buses of the row layout: one per shared weight, and the taps into an elided-steps marker.

A weight every step uses (W, U, b) is drawn once, at the right end of a bus, a
straight line above or below the row of boxes. Each step's share reaches the bus
through a short vertical tap, and the tap is the real edge W -> op of that
step (it carries `edge_grads`); each segment of the bus carries the running sum
‖Σ_{k≤t} share_k‖, so the last one arrives at W with ‖∂E/∂W‖. These are the
parts of the layout that exist only because of that drawing: which buses run
nearest the row, where the junctions are, the running sums, and where an
elided-steps marker takes its one (summed) tap from each bus. layout.py places
the boxes and calls these; routes.py draws the taps as vertical lines.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from .labels import norm

BUS_FIRST = 40      # box border to the nearest bus (a tap's label sits in between)
BUS_STEP = 24       # between two buses (a weight's box fits between)
TAP_SPREAD = 8      # several taps into one node: this far apart
MARK_TAP = 100      # taps into an elided-steps marker: this far apart (each carries a label)


@dataclass
class Bus:
    """One shared weight's bus: junctions along a line and the running sums between them."""
    weight: str                     # node id
    y: float
    xs: list[float]                 # tap junctions, left to right
    edges: list[int]                # the tap edges (indices into Picture.edges), same order
    sums: list[float]               # ‖Σ_{k≤j} share_k‖ after junction j


class Buses:
    """The bus half of the row layout (layout._Row mixes it in: it reads the row's boxes and cells)."""

    def _bus_order(self, chunks):
        """The buses of one row, (above, below), each nearest the row first.

        Nearest the row goes the bus whose taps sit furthest right in the cell: a
        farther bus's tap at step t then passes it only at steps 2..T, the T - 1
        crossings every pair of buses on one side must have (docs/rendering.md)."""
        first, tpl = self.cells[chunks[0]][0], self.cells[chunks[0]][1]
        mine = [w for w in self.buses if w not in self.bus_y and any(
            self.step.get(self.pic.edges[k].dst, ("",))[0] in chunks for k in self.outs[w])]
        where = {w: max(first.x.get(self.tmap_role(w, tpl), 0.0), 0.0) for w in mine}
        above = sorted((w for w in mine if self.side.get(w) == -1), key=lambda w: -where[w])
        below = sorted((w for w in mine if self.side.get(w) != -1), key=lambda w: -where[w])
        self.bus_rank.update({w: k for k, w in enumerate(above)})
        self.bus_rank.update({w: k for k, w in enumerate(below)})
        return above, below

    def _widen_marks(self):
        """An elided-steps marker is as wide as the labelled taps it takes from one side need."""
        for m in self.marks:
            ends = [self.side.get(self.pic.edges[i].src, 1) for i, e in enumerate(self.pic.edges)
                    if e.dst == m and e.src in self.buses]
            n = max(ends.count(-1), ends.count(1))
            w, h = self.sizes[m]
            self.sizes[m] = (max(w, n * MARK_TAP), h)

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
