"""Pascanu's Ω: a penalty that keeps the gradient alive through time, written with engine ops.

Pascanu, Mikolov and Bengio (2013), "On the difficulty of training recurrent neural
networks", add to the loss a regulariser that asks every step back to preserve the
norm of the gradient flowing through it:

    Ω = Σ_k ( ‖δ_{k+1} ∂h_{k+1}/∂h_k‖ / ‖δ_{k+1}‖ - 1 )²,     δ_{k+1} = ∂E/∂h_{k+1}

and, as the paper does, treat δ_{k+1} as a constant (only the Jacobian is
differentiated). In the row convention δ ∂h_{k+1}/∂h_k = (δ ∘ (1 - h_{k+1}²)) Uᵀ:
three engine ops on the graph of h_{k+1} and U. One training step is therefore a
backward() to read δ_k off the states, then a second forward and a backward() of
E + λΩ. Clipping stays on: the paper pairs Ω (against vanishing) with clipping
(against the explosions that norm-preserving Jacobians make possible).

The task is the adding problem with a tanh RNN (see `examples/datasets.py`); we
watch reach = ‖∂E/∂h_1‖/‖∂E/∂h_T‖ (`tg.StateGradientMonitor`) with and without Ω.

Run:  python examples/pascanu_penalty.py [--quick] [--out DIR] [--seed N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):          # `python examples/pascanu_penalty.py`: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

import tinygrad_rnn as tg
from examples.adding import Adder
from examples.datasets import ADDING_BASELINE, adding_problem
from examples.figures import Figure, can_draw
from examples.progress import progress
from tinygrad_rnn import nn
from tinygrad_rnn.nn import functional as F


def omega(states, deltas, U: tg.Tensor) -> tg.Tensor:
    """Ω = Σ_k mean_batch (‖δ_{k+1} ∂h_{k+1}/∂h_k‖ / ‖δ_{k+1}‖ - 1)², the δ's constants (B, H)."""
    total = 0.0
    for h, d in zip(states[1:], deltas[1:]):                       # h_{k+1}, δ_{k+1}, k = 1..T-1
        inv = 1.0 / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-30)   # (B, 1) constant
        v = (tg.Tensor(d) * (1 - h * h)) @ U.T                     # (B, H)  δ_{k+1} diag(1 - h²) Uᵀ
        ratio = ((v * v).sum(axis=1, keepdims=True) + 1e-30) ** 0.5 * inv        # (B, 1)
        total = total + ((ratio - 1) ** 2).mean()
    return total


def train(lam: float, steps: int, T: int, H: int, seed: int, show_progress: bool) -> dict:
    """Adam on the adding problem with E + λΩ (λ = 0: plain); reach and MSE per step."""
    tg.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = Adder(nn.RNN(2, H))
    U, params = model.layer.cells[0].U, model.parameters()
    opt = tg.optim.Adam(params, lr=0.01)
    monitor = tg.StateGradientMonitor(model.layer, on_vanish="ignore")
    losses, omegas, bar = [], [], progress(steps, enabled=show_progress, desc=f"λ = {lam:g}")
    for _ in range(steps):
        x, y = adding_problem(rng, 32, T)
        loss = F.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()                                            # δ_k = ∂E/∂h_k on every state
        monitor.check()
        losses.append(loss.item())
        if lam > 0:
            deltas = [h.grad.copy() for h in model.layer.states]
            opt.zero_grad()
            loss = F.mse_loss(model(x), y)                         # the same batch, a fresh graph
            penalty = omega(model.layer.states, deltas, U)
            (loss + lam * penalty).backward()
            omegas.append(penalty.item())
        nn.clip_grad_norm_(params, 1.0)
        opt.step()
        bar.update()
    bar.close()
    return {"reach": monitor.reaches, "loss": np.array(losses), "omega": np.array(omegas)}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a small run for CI")
    p.add_argument("--out", default="out/pascanu_penalty", help="folder for the figure")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lam", type=float, default=2.0, help="the weight λ of Ω")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    T, H, steps = (30, 16, 120) if args.quick else (30, 16, 400)
    runs = {lam: train(lam, steps, T, H, args.seed, not args.quick) for lam in (0.0, args.lam)}
    if can_draw():
        _plot(out / "pascanu_penalty.png", runs, T)
    half = steps // 2
    result = {"T": T, "steps": steps, "lam": args.lam, "seconds": time.perf_counter() - start}
    for lam, r in runs.items():
        key = "penalised" if lam else "plain"
        result[f"{key}_reach_median"] = float(np.median(r["reach"][half:]))   # the second half
        result[f"{key}_mse_tail"] = float(r["loss"][-half:].mean())
    result["omega_first"], result["omega_last"] = float(runs[args.lam]["omega"][0]), float(
        np.mean(runs[args.lam]["omega"][-10:]))
    print(f"adding problem, T = {T}, tanh RNN (H = {H}), {steps} Adam steps, clipping at 1")
    print(f"  median ‖∂E/∂h_1‖/‖∂E/∂h_T‖ over the second half:  plain {result['plain_reach_median']:.1e}"
          f"   with λΩ (λ = {args.lam:g}) {result['penalised_reach_median']:.1e}")
    print(f"  Ω: {result['omega_first']:.1f} at the first step -> {result['omega_last']:.2f} at the end")
    print(f"  train MSE over the second half: plain {result['plain_mse_tail']:.4f}   "
          f"with λΩ {result['penalised_mse_tail']:.4f}   (baseline {ADDING_BASELINE:.3f})")
    print(f"figure in {out}/pascanu_penalty.png  ({result['seconds']:.1f} s)")
    return result


def _plot(path, runs, T):
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    for lam, r in runs.items():
        label = f"E + λΩ, λ = {lam:g}" if lam else "E alone"
        ax.semilogy(np.arange(1, len(r["reach"]) + 1), r["reach"], label=label)
    ax.set_ylim(1e-12, 1e4)
    ax.set_xlabel("training step")
    ax.set_ylabel("‖∂E/∂h_1‖ / ‖∂E/∂h_T‖")
    ax.set_title(f"Pascanu's Ω keeps the gradient reaching h_1 (adding problem, T = {T})", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper right", ncol=2, fontsize=9)
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
