"""Truncated BPTT: cut a long sequence into chunks of k steps, and see what that costs and saves.

Full BPTT on a sequence of T steps keeps the whole unrolled graph until
backward(): memory and graph size grow with T. Truncated BPTT runs the sequence
k steps at a time and carries the state over with `h.detach()`: the value goes
on, the graph does not, so each backward() goes back at most k steps.

    h = None
    for each chunk of k steps:
        outputs, h = rnn(x_chunk, h)          # the graph of these k steps only
        E_chunk.backward()                    # gradients add up in .grad
        h = h.detach()                        # carry the value, cut the graph

The loss E = Σ_t E_t is the same; the gradient is not. ∂E_t/∂U = Σ_{k'<=t} (term
of step k') loses the terms of every step k' before the start of t's chunk:
the long-range terms, whose size is set by Π ∂h_i/∂h_{i-1}. When the gradients
vanish they are tiny except for the first few steps of each chunk, which lose
their recent past. There are T/k chunks, so the relative difference
‖∂E/∂U (chunks of k) - ∂E/∂U (full)‖ / ‖∂E/∂U (full)‖ falls roughly like 1/k,
while the graph each backward() walks, and the peak memory, grow like k. The
time hardly changes: the same ops run either way (tiny chunks pay some Python
overhead per backward() call).

The task: predict the next value of a noisy sum of sines, a loss at every step.
Figure: the relative difference, and the cost (peak memory and the size of the graph one
backward() walks; the wall time, which is machine noise at this size, is only printed), against k.

    python examples/truncated_bptt.py [--quick] [--out out/truncated_bptt]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # `python examples/truncated_bptt.py`: make the repo importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tinygrad_rnn as tg  # noqa: E402
from examples.figures import can_draw, pyplot  # noqa: E402
from tinygrad_rnn import nn  # noqa: E402
from tinygrad_rnn.nn import functional as F  # noqa: E402


def make_sequence(rng, B: int, T: int):
    """x (B, T, 1): a noisy sum of sines with random phases; y (B, T, 1): the next value."""
    t = np.arange(T + 1)
    phase = rng.uniform(0, 2 * np.pi, (B, 1, 1))
    s = (np.sin(2 * np.pi * t[None, :, None] / 17 + phase)
         + 0.5 * np.sin(2 * np.pi * t[None, :, None] / 41 + 2 * phase)
         + 0.1 * rng.normal(size=(B, T + 1, 1)))                # (B, T + 1, 1)
    return s[:, :-1], s[:, 1:]


def gradients(rnn, head, x, y, k: int) -> dict:
    """Σ over chunks of ∂E_chunk/∂θ, chunks of k steps, h.detach() between them.

    E = Σ_t mean_b (ŷ_t - y_t)²: the chunks' losses add up to the full loss,
    so k = T is full BPTT. Returns the gradients and the number of backward() calls.
    """
    rnn.zero_grad()
    head.zero_grad()
    B, T, _ = x.shape
    h, E = None, 0.0
    for start in range(0, T, k):
        outputs, h = rnn(x[:, start:start + k], h)                # (B, k, H), (B, H)
        E_chunk = F.mse_loss(head(outputs), tg.Tensor(y[:, start:start + k]), reduction="sum") * (1 / B)
        E_chunk.backward()                                        # BPTT through this chunk only
        E += E_chunk.item()
        h = h.detach()                                            # carry the value, cut the graph
    params = dict(rnn.named_parameters(), **{f"head.{n}": p for n, p in head.named_parameters()})
    return {"E": E, "grads": {n: p.grad.copy() for n, p in params.items()}, "chunks": -(-T // k)}


def graph_size(root) -> int:
    """Number of tensors in the graph behind `root` (what one backward() walks)."""
    return len(tg.autograd.walk(root))


def cost(rnn, head, x, y, k: int, repeats: int) -> dict:
    """Wall time of the chunked forward + backward (best of `repeats`), its peak traced
    memory, and the size of the graph of one chunk."""
    seconds = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        gradients(rnn, head, x, y, k)
        seconds = min(seconds, time.perf_counter() - t0)
    tracemalloc.start()                       # numpy reports its arrays to tracemalloc
    gradients(rnn, head, x, y, k)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    outputs, _ = rnn(x[:, :k])
    nodes = graph_size(F.mse_loss(head(outputs), tg.Tensor(y[:, :k]), reduction="sum"))
    return {"seconds": seconds, "peak_bytes": peak, "nodes": nodes}


def relative(a: dict, b: dict) -> float:
    """‖a - b‖ / ‖b‖ over all the arrays of two gradient dicts together."""
    num = sum(np.sum((a[n] - b[n]) ** 2) for n in b)
    return float(np.sqrt(num / sum(np.sum(b[n] ** 2) for n in b)))


def plot(rows, T, path):
    plt = pyplot()
    ks = np.array([r["k"] for r in rows])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    part = ks < T                                                  # k = T is the full gradient: 0
    ax1.loglog(ks[part], [r["rel_U"] for r, p in zip(rows, part) if p], "o-", label="∂E/∂U")
    ax1.loglog(ks[part], [r["rel_all"] for r, p in zip(rows, part) if p], "s--", label="all parameters")
    ax1.loglog(ks[part], rows[0]["rel_U"] * ks[0] / ks[part], ":", color="grey", label="∝ 1/k")
    ax1.set(title="truncated vs full gradient", xlabel="chunk length k (steps)",
            ylabel="‖g_k - g_full‖ / ‖g_full‖")
    ax1.legend()
    ax1.grid(True, which="both", alpha=0.3)
    ax2.semilogx(ks, [r["peak_bytes"] / 1e6 for r in rows], "o-", color="#c0392b", label="peak memory (MB)")
    ax2.set(title=f"cost of one pass over T = {T} steps", xlabel="chunk length k (steps)",
            ylabel="peak traced memory (MB)")
    ax3 = ax2.twinx()            # the graph one backward() walks: exact, unlike a timing
    ax3.semilogx(ks, [r["nodes"] for r in rows], "s--", color="#2471a3", label="tensors per backward()")
    ax3.set_ylabel("tensors in one chunk's graph")
    ax2.legend(handles=ax2.get_lines() + ax3.get_lines(), loc="upper left", fontsize=9)
    ax2.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a shorter sequence, for CI")
    parser.add_argument("--out", default="out/truncated_bptt")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hidden", type=int, default=32)
    args = parser.parse_args(argv)
    T, ks = (60, (1, 2, 5, 10, 20, 60)) if args.quick else (400, (1, 2, 5, 10, 20, 50, 100, 200, 400))
    B = 8
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tg.manual_seed(args.seed)
    rnn = nn.RNN(1, args.hidden, dtype=np.float64)                 # tanh, PyTorch's init
    head = nn.Linear(args.hidden, 1, dtype=np.float64)
    x, y = make_sequence(np.random.default_rng(args.seed), B, T)

    with tg.record_edge_grads(False):                              # keep only what BPTT needs
        full = gradients(rnn, head, x, y, T)
        rows = []
        for k in ks:
            g = gradients(rnn, head, x, y, k)
            rows.append({"k": k, "chunks": g["chunks"], "E": g["E"],
                         "rel_U": relative({"U": g["grads"]["cells.0.U"]}, {"U": full["grads"]["cells.0.U"]}),
                         "rel_all": relative(g["grads"], full["grads"]),
                         **cost(rnn, head, x, y, k, 1 if args.quick else 3)})

    rho = tg.analysis.spectral_radius(rnn.cells[0].U)
    print(f"tanh RNN, H = {args.hidden}, ρ(U) = {rho:.2f}, B = {B}, T = {T}, E = {full['E']:.4f} "
          "(the same for every k)")
    print(f"{'k':>5} {'chunks':>7} {'rel. diff ∂E/∂U':>16} {'all params':>11} {'nodes/backward':>15} "
          f"{'peak MB':>8} {'time ms':>8}")
    for r in rows:
        print(f"{r['k']:>5} {r['chunks']:>7} {r['rel_U']:>16.2e} {r['rel_all']:>11.2e} {r['nodes']:>15} "
              f"{r['peak_bytes'] / 1e6:>8.2f} {r['seconds'] * 1e3:>8.1f}")
    if can_draw():
        plot(rows, T, out / "truncated_bptt.png")
        print(f"figure: {out / 'truncated_bptt.png'}")
    return {"T": T, "rows": rows, "spectral_radius": rho, "figures": [str(out / "truncated_bptt.png")]}


if __name__ == "__main__":
    main()
