"""Gradient clipping: the same training run in the exploding regime, with and without it.

A ReLU RNN whose recurrent matrix has spectral radius ρ(U) = 1.2 > 1 learns to
add up its inputs (y = Σ_t x_t, x_t ~ U(-1, 1): predicting 0 scores T/3). Now
and then ∂E/∂U = Σ_k (Π ∂h_i/∂h_{i-1}) ... picks up a huge product of Jacobians,
the gradient norm spikes by orders of magnitude, and one plain SGD step throws
the weights so far that the next forward pass overflows: loss and gradients
become Inf and NaN, and training is over.

The notes' remedy rescales the gradient when it is too long:

    g <- threshold · g / ‖g‖      when ‖g‖ > threshold          (nn.clip_grad_norm_)

It keeps the direction and bounds the step at lr · threshold. Same seed, same
initial weights, same batches: the clipped run never sees a non-finite step.

Figures: the loss of both runs, and ‖g‖ before clipping, per step (log scale).

    python examples/gradient_clipping.py [--quick] [--out out/gradient_clipping]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # `python examples/gradient_clipping.py`: make the repo importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tinygrad_rnn as tg  # noqa: E402
from examples.figures import can_draw, pyplot  # noqa: E402
from tinygrad_rnn import nn, optim  # noqa: E402
from tinygrad_rnn.nn import functional as F  # noqa: E402


def grad_norm(params) -> float:
    """‖g‖ of all gradients together, as clip_grad_norm_ measures it."""
    return math.sqrt(sum(float(np.sum(p.grad.astype(np.float64) ** 2)) for p in params))


def train(clip: float | None, args) -> dict:
    """SGD on the adding task; clip=None trains without clipping. Returns the per-step history."""
    tg.manual_seed(args.seed)                                   # the same initial weights for both runs
    rng = np.random.default_rng(args.seed)                      # and the same batches
    rnn = nn.RNN(1, args.hidden, nonlinearity="relu", dtype=np.float64)
    head = nn.Linear(args.hidden, 1, dtype=np.float64)
    U = rnn.cells[0].U
    nn.init.normal_(U)
    nn.init.spectral_radius_(U, args.rho)                       # ρ(U) > 1: the exploding regime
    params = rnn.parameters() + head.parameters()
    opt = optim.SGD(params, lr=args.lr)
    losses, norms, nonfinite = [], [], 0
    for _ in range(args.steps):
        x = rng.uniform(-1, 1, (args.batch, args.T, 1))         # (B, T, 1)
        y = x.sum(axis=1)                                       # (B, 1)  the sum of the inputs
        _, h_T = rnn(x)                                         # (B, H)
        loss = F.mse_loss(head(h_T), tg.Tensor(y))
        opt.zero_grad()
        loss.backward()
        norm = grad_norm(params)                                # ‖g‖ before clipping
        if clip is not None:
            nn.clip_grad_norm_(params, clip)
        opt.step()
        losses.append(loss.item())
        norms.append(norm)
        nonfinite += not (math.isfinite(loss.item()) and math.isfinite(norm))
    return {"loss": losses, "grad_norm": norms, "nonfinite_steps": nonfinite,
            "first_nonfinite": next((i for i, (l, n) in enumerate(zip(losses, norms))
                                     if not (math.isfinite(l) and math.isfinite(n))), None)}


def plot(runs, args, path):
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for (label, r), c in zip(runs.items(), ("#c0392b", "#2471a3")):
        steps = np.arange(len(r["loss"]))
        loss, norm = np.array(r["loss"]), np.array(r["grad_norm"])
        ok = np.isfinite(loss) & np.isfinite(norm)
        ax1.semilogy(steps[ok], loss[ok], color=c, lw=1.2, label=label)
        ax2.semilogy(steps[ok], norm[ok], color=c, lw=1.0, label=label)
        if r["first_nonfinite"] is not None:
            i = r["first_nonfinite"]
            for ax in (ax1, ax2):
                ax.axvline(i, color=c, ls=":", lw=1)
            ax1.annotate(f"Inf/NaN from step {i}\n({r['nonfinite_steps']} non-finite steps)",
                         (i, 100 * args.T), xytext=(6, 0), textcoords="offset points",
                         color=c, fontsize=9, va="top")
    lo = min(min((l for l in r["loss"] if math.isfinite(l)), default=1.0) for r in runs.values())
    ax1.set_ylim(lo / 2, 300 * args.T)     # the diverging run leaves the top of the plot
    ax1.axhline(args.T / 3, color="grey", ls="--", lw=1, label=f"predict 0: T/3 = {args.T / 3:.2f}")
    ax2.axhline(args.clip, color="grey", ls="--", lw=1, label=f"threshold = {args.clip}")
    ax1.set(title="training loss (MSE)", xlabel="SGD step")
    ax2.set(title="‖g‖ before clipping", xlabel="SGD step")
    for ax in (ax1, ax2):
        ax.legend(fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"ReLU RNN, ρ(U) = {args.rho}, SGD lr = {args.lr}, T = {args.T}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps, for CI")
    parser.add_argument("--out", default="out/gradient_clipping")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rho", type=float, default=1.2, help="spectral radius of U")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--clip", type=float, default=1.0, help="threshold of clip_grad_norm_")
    parser.add_argument("--steps", type=int, default=None)
    args = parser.parse_args(argv)
    args.steps = args.steps or (60 if args.quick else 300)
    args.T, args.hidden, args.batch = 20, 16, 16
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    with np.errstate(over="ignore", invalid="ignore"):        # the unclipped run overflows: expected
        plain = train(None, args)
    clipped = train(args.clip, args)
    runs = {"no clipping": plain, f"clip_grad_norm_({args.clip})": clipped}
    print(f"ReLU RNN, ρ(U) = {args.rho}, SGD lr = {args.lr}, {args.steps} steps, T = {args.T}; "
          f"predicting 0 scores T/3 = {args.T / 3:.2f}")
    for label, r in runs.items():
        first = np.mean(r["loss"][:10])
        last = np.mean(r["loss"][-10:])
        print(f"{label:>22}: loss {first:.3g} (first 10 steps) -> {last:.3g} (last 10); "
              f"largest ‖g‖ {np.nanmax(r['grad_norm']):.3g}; non-finite steps: {r['nonfinite_steps']}"
              + (f" (from step {r['first_nonfinite']})" if r["first_nonfinite"] is not None else ""))
    if can_draw():
        plot(runs, args, out / "clipping.png")
        print(f"figure: {out / 'clipping.png'}")
    return {"plain": plain, "clipped": clipped, "baseline": args.T / 3,
            "figures": [str(out / "clipping.png")]}


if __name__ == "__main__":
    main()
