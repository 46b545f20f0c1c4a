"""Render times of the graph views: draw_graph (Python) and the `dot` layout, median of a few runs.

    python -m benchmarks.bench_render [--repeats 3]

Targets (issue 4): cell level of a 100-step LSTM drawn and laid out in < 3 s;
op level of a 10-step LSTM in < 5 s. For scale: torchviz's op graph of a
100-step RNNCell loop (about 1,100 nodes) did not finish laying out in 11 minutes;
here that graph is refused at once by the size guard (last row).

The second table measures the pictures themselves (tinygrad_rnn.viz.measure, from
the drawn splines of Graphviz's -Tjson layout): edge crossings, edge labels nearer
another edge than their own, size, and the vertical spread of the step boxes, for
the RNN T=6, LSTM T=4 and GRU T=4 op graphs, beside torchviz's make_dot of the
same PyTorch models when torch and torchviz are installed, and of two elided
unrolls (RNN T=40 and GRU T=10, elide=2) beside dot's layout of the same picture.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time

import numpy as np

import tinygrad_rnn as tg
from tinygrad_rnn import nn, viz

CASES = [
    # label,                          cell,   T,   level,  elide, target (s)
    ("LSTM T=100, cell level",        "lstm", 100, "cell", None, 3.0),
    ("LSTM T=10, op level",           "lstm", 10,  "op",   None, 5.0),
    ("RNN T=5, op level",             "rnn",  5,   "op",   None, None),
    ("LSTM T=1000, cell, elide=5",    "lstm", 1000, "cell", 5,   None),
    ("RNN T=100, op, elide=3",        "rnn",  100, "op",   3,    None),
]


ELIDED = (("rnn", 40, 2), ("gru", 10, 2))     # (cell, T, steps kept at each end)


def loss_of(cell: str, T: int, H: int = 16, B: int = 4, D: int = 8):
    """A seeded unroll with the loss on the last step, already backpropagated."""
    tg.manual_seed(0)
    layer = nn.LSTM(D, H) if cell == "lstm" else nn.RNN(D, H)
    x = np.random.default_rng(0).standard_normal((B, T, D))
    _, state = layer(x)
    h_T = state[0] if cell == "lstm" else state
    loss = (h_T * h_T).mean()
    loss.backward()
    return loss


def time_case(loss, level, elide, repeats):
    """Median seconds of draw_graph alone, and of draw_graph + dot layout to SVG."""
    draw, total, nodes = [], [], 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        g = viz.draw_graph(loss, level=level, elide=elide)
        t1 = time.perf_counter()
        g.pipe(format="svg")
        t2 = time.perf_counter()
        draw.append(t1 - t0)
        total.append(t2 - t0)
        nodes = len(re.findall(r"^\t+\w+ \[", g.source, re.M))
    return statistics.median(draw), statistics.median(total), nodes


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per case; the median is shown")
    args = parser.parse_args(argv)
    print(f"{'case':<30} {'nodes':>6} {'draw_graph':>11} {'+ dot (svg)':>12} {'target':>8}")
    for label, cell, T, level, elide, target in CASES:
        loss = loss_of(cell, T)
        draw, total, nodes = time_case(loss, level, elide, args.repeats)
        verdict = "" if target is None else f"< {target:.0f} s " + ("ok" if total < target else "MISSED")
        print(f"{label:<30} {nodes:>6} {draw:>10.3f}s {total:>11.3f}s {verdict:>8}")
    print_layouts()
    loss = loss_of("rnn", 100)
    t0 = time.perf_counter()
    try:
        viz.draw_graph(loss, level="op")
    except viz.GraphTooLargeError:
        print(f"{'RNN T=100, op level (refused)':<30} {'-':>6} {time.perf_counter() - t0:>10.3f}s "
              f"{'-':>12} {'':>8}")


def print_layouts() -> None:
    """Crossings, misplaced labels, size and step alignment of each picture (and torchviz's)."""
    from benchmarks.render_models import MODELS, ours, torchviz_graph
    from tinygrad_rnn.viz.measure import measure_graph
    try:
        import torch  # noqa: F401
        import torchviz  # noqa: F401
        have_torchviz = True
    except ImportError:
        have_torchviz = False
    print(f"\n{'picture (op level)':<30} {'crossings':>9} {'labels off':>9} {'size (pt)':>16} "
          f"{'step spread':>11}")
    for cell, T in MODELS:
        report = measure_graph(viz.draw_graph(ours(cell, T)))
        print(f"{f'{cell.upper()} T={T}, tinygrad_rnn':<30} {report.row()}")
        if have_torchviz:
            theirs = measure_graph(torchviz_graph(cell, T))
            print(f"{f'{cell.upper()} T={T}, torchviz make_dot':<30} {theirs.row()}")
    if not have_torchviz:
        print("(torchviz rows: pip install torchviz==0.0.3 and torch)")
    for cell, T, k in ELIDED:                     # elided unrolls: the row layout beside dot's
        loss = ours(cell, T)
        for layout in ("row", "dot"):
            report = measure_graph(viz.draw_graph(loss, elide=k, layout=layout))
            print(f"{f'{cell.upper()} T={T} elide={k}, {layout}':<30} {report.row()}")


if __name__ == "__main__":
    main()
