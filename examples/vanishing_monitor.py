"""Vanishing is silent, exploding is loud: a plateau at the trivial baseline looks like convergence.

A tanh RNN on the adding problem (see `examples/datasets.py`) quickly learns to
predict the mean, 1.0, and its loss settles at the baseline 1/6: a flat curve that
looks converged. Nothing overflows; the total gradient norm ‖g‖ that
`tg.GradientMonitor` watches stays ordinary. The failure is elsewhere: the gradient
reaching h_1 from the loss at h_T is ~1e-10 of the one at h_T, so the first marked
number can never teach the weights to remember it.

`tg.StateGradientMonitor` reads ‖∂E/∂h_t‖ for every t after each backward() and
warns when reach = ‖∂E/∂h_1‖ / ‖∂E/∂h_T‖ falls below a threshold: it flags the
tanh RNN at the first step. The IRNN (ReLU, U = I) on the same task keeps reach ≈ 1
and leaves the baseline.

Figures: training MSE of both models with the baseline, and reach per step (log
scale) with the warning threshold.

Run:  python examples/vanishing_monitor.py [--quick] [--out DIR] [--seed N]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

if __package__ in (None, ""):          # `python examples/vanishing_monitor.py`: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

import tinygrad_rnn as tg
from examples.adding import Adder
from examples.datasets import ADDING_BASELINE, adding_problem
from examples.figures import Figure, can_draw
from examples.irnn import irnn, tanh_rnn
from examples.progress import progress
from tinygrad_rnn import nn
from tinygrad_rnn.nn import functional as F

MIN_REACH = 1e-3


def train(model: Adder, rng, steps: int, batch: int, T: int, lr: float, show_progress: bool, desc: str):
    """Adam on fresh batches with both monitors; returns train MSE, reach and ‖g‖ per step."""
    params = model.parameters()
    opt = tg.optim.Adam(params, lr=lr)
    explode = tg.GradientMonitor(model, threshold=1e3, on_explode="ignore")
    vanish = tg.StateGradientMonitor(model.layer, min_reach=MIN_REACH, on_vanish="ignore")
    losses, bar = [], progress(steps, enabled=show_progress, desc=desc)
    for _ in range(steps):
        x, y = adding_problem(rng, batch, T)
        loss = F.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        explode.check()                      # ‖g‖: the exploding side
        vanish.check()                       # ‖∂E/∂h_1‖ / ‖∂E/∂h_T‖: the vanishing side
        nn.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(loss.item())
        bar.update()
    bar.close()
    return {"loss": np.array(losses), "reach": vanish.reaches, "grad_norm": explode.totals,
            "exploded": len(explode.explosions), "vanished": int(sum(r.vanished for r in vanish.history))}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a small run for CI")
    p.add_argument("--out", default="out/vanishing_monitor", help="folder for the figures")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    T, H, batch, steps = (30, 16, 16, 150) if args.quick else (40, 32, 64, 1000)
    runs = {}
    for key, make, lr in (("tanh", tanh_rnn, 0.01), ("irnn", irnn, 0.003 if not args.quick else 0.01)):
        tg.manual_seed(args.seed)
        runs[key] = train(make(H), np.random.default_rng(args.seed), steps, batch, T, lr, not args.quick, key)

    # The warning a user sees, once, from a fresh tanh RNN:
    tg.manual_seed(args.seed)
    model = tanh_rnn(H)
    x, y = adding_problem(np.random.default_rng(args.seed), batch, T)
    loss = F.mse_loss(model(x), y)          # keep it alive: the layer's states are read from its graph
    loss.backward()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tg.StateGradientMonitor(model.layer, min_reach=MIN_REACH).check()
    warning = str(caught[0].message) if caught else ""

    tail = max(steps // 5, 1)
    result = {"T": T, "steps": steps, "baseline": ADDING_BASELINE, "warning": warning}
    for key, r in runs.items():
        result[f"{key}_loss_tail"] = float(r["loss"][-tail:].mean())        # the last fifth of training
        result[f"{key}_loss_tail_std"] = float(r["loss"][-tail:].std())
        result[f"{key}_reach_median"] = float(np.median(r["reach"]))
        result[f"{key}_grad_norm_max"] = float(r["grad_norm"].max())
        result[f"{key}_vanished_steps"] = r["vanished"]
        result[f"{key}_exploded_steps"] = r["exploded"]
    if can_draw():
        _plot(out / "vanishing_monitor.png", runs, T)
    result["seconds"] = time.perf_counter() - start

    print(f"adding problem, T = {T}: {steps} Adam steps of batch {batch}, hidden size {H}")
    for key, label in (("tanh", "tanh RNN"), ("irnn", "IRNN    ")):
        print(f"  {label}  train MSE over the last {tail} steps {result[f'{key}_loss_tail']:.4f} "
              f"(baseline {ADDING_BASELINE:.3f})   max ‖g‖ {result[f'{key}_grad_norm_max']:.2f}   "
              f"median reach {result[f'{key}_reach_median']:.1e}   "
              f"flagged vanishing on {result[f'{key}_vanished_steps']}/{steps} steps")
    print(f"the warning:\n  {warning}")
    print(f"figure in {out}/vanishing_monitor.png  ({result['seconds']:.1f} s)")
    return result


def _plot(path, runs, T):
    fig = Figure(figsize=(11, 3.8), layout="constrained")
    ax0, ax1 = fig.subplots(1, 2)
    labels = {"tanh": "tanh RNN", "irnn": "IRNN (ReLU, U = I)"}
    for key, r in runs.items():
        k = max(len(r["loss"]) // 15, 1)                                   # a running mean over k steps
        smooth = np.convolve(r["loss"], np.ones(k) / k, mode="valid")
        ax0.plot(np.arange(k, len(r["loss"]) + 1), smooth, label=labels[key])
        ax1.semilogy(np.arange(1, len(r["reach"]) + 1), np.maximum(r["reach"], 1e-300), label=labels[key])
    ax0.axhline(ADDING_BASELINE, color="gray", ls="--", label="always predict 1.0 (MSE 1/6)")
    ax0.set_ylim(0, 0.65)
    ax0.set_xlabel("training step")
    ax0.set_ylabel("train MSE (running mean)")
    ax0.set_title(f"Adding problem, T = {T}: the tanh RNN's flat line is not convergence", fontsize=10)
    ax0.legend(loc="upper right", fontsize=8, ncol=2)
    ax1.axhline(MIN_REACH, color="red", ls="--", label=f"warning threshold {MIN_REACH:g}")
    ax1.set_xlabel("training step")
    ax1.set_ylabel("‖∂E/∂h_1‖ / ‖∂E/∂h_T‖")
    ax1.set_title("StateGradientMonitor: how much gradient reaches h_1", fontsize=10)
    ax1.grid(True, which="both", alpha=0.3)
    ax1.set_ylim(1e-11, 1e7)
    ax1.legend(loc="upper right", fontsize=8, ncol=2)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
