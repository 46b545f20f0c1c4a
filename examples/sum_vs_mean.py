"""E = Σ_t E_t against the notes' J = (1/T) Σ_t J_t: the gradient's size, and the clipping threshold, with T.

The two objectives differ by the constant T (and B: `F.cross_entropy` averages over
every row it gets, batch and time), so their gradients point the same way and
‖∂E/∂θ‖ = B·T ‖∂J/∂θ‖ exactly. What a constant changes is every number tuned against
the gradient's size. Here a char-RNN-shaped model (embedding-free: one-hot inputs,
tanh RNN, readout to K classes) at initialisation, on random sequences of length T:

    ‖∂E/∂θ‖ grows with T (each step adds its share; shares that do not line up add
             like √T, shares that do, like T; measured: between the two), and
             ‖∂J/∂θ‖ = ‖∂E/∂θ‖/(B·T) shrinks slowly;
    a clipping threshold τ that the sum crosses near T = 10 clips it ever harder as T
             grows (the step it keeps is τ/‖∂E/∂θ‖ of the gradient), and the same τ
             used with the mean never clips at all.

Figures: ‖∂E/∂θ‖ and ‖∂J/∂θ‖ against T (log-log) with √T and T slopes and τ;
the share of the gradient clipping keeps, min(1, τ/‖g‖), against T.

Run:  python examples/sum_vs_mean.py [--quick] [--out DIR] [--seed N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):          # `python examples/sum_vs_mean.py`: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

import tinygrad_rnn as tg
from examples.figures import Figure, can_draw
from tinygrad_rnn import analysis, nn
from tinygrad_rnn.nn import functional as F

K, H, B = 8, 32, 4
TAU = 10.0                                 # the sum crosses it near T = 10


def grad_norms(T: int, seed: int) -> tuple[float, float]:
    """(‖∂E/∂θ‖, ‖∂J/∂θ‖) over all parameters, at initialisation, for one batch of length T."""
    tg.manual_seed(seed)
    rnn, readout = nn.RNN(K, H, dtype=np.float64), nn.Linear(H, K, dtype=np.float64)
    params = rnn.parameters() + readout.parameters()
    rng = np.random.default_rng(seed)
    chars = rng.integers(0, K, size=(B, T + 1))
    x = tg.Tensor(np.eye(K)[chars[:, :-1]])                   # (B, T, K) one-hot
    out = []
    for reduction in ("sum", "mean"):
        for p in params:
            p.grad = None
        outputs, _ = rnn(x)                                   # (B, T, H)
        logits = readout(outputs)                             # (B, T, K)
        F.cross_entropy(logits, chars[:, 1:], reduction=reduction).backward()
        out.append(analysis.norm(np.concatenate([p.grad.ravel() for p in params])))
    return out[0], out[1]


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a small run for CI")
    p.add_argument("--out", default="out/sum_vs_mean", help="folder for the figure")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    Ts = (5, 10, 20, 50) if args.quick else (5, 10, 20, 50, 100, 200, 400)
    seeds = range(args.seed, args.seed + (2 if args.quick else 5))
    norms = {T: np.mean([grad_norms(T, s) for s in seeds], axis=0) for T in Ts}   # mean over seeds
    E = np.array([norms[T][0] for T in Ts])
    J = np.array([norms[T][1] for T in Ts])
    if can_draw():
        _plot(out / "sum_vs_mean.png", np.array(Ts), E, J)

    slope = np.polyfit(np.log(Ts), np.log(E), 1)[0]
    result = {"T": list(Ts), "sum": E.tolist(), "mean": J.tolist(), "sum_slope": float(slope),
              "ratio": (E / J).tolist(), "kept_sum": np.minimum(1, TAU / E).tolist(),
              "kept_mean": np.minimum(1, TAU / J).tolist()}
    print(f"gradient norms at initialisation (B = {B}, mean over {len(seeds)} seeds), τ = {TAU:g}:")
    print("     T     ‖∂E/∂θ‖   ‖∂J/∂θ‖   ratio/(B·T)   clipping keeps (sum)")
    for T, e, j in zip(Ts, E, J):
        print(f"  {T:4d}   {e:9.3f}   {j:7.4f}   {e / j / (B * T):11.6f}   {min(1.0, TAU / e):6.3f}")
    print(f"‖∂E/∂θ‖ grows like T^{slope:.2f}")
    print(f"figure in {out}/sum_vs_mean.png")
    return result


def _plot(path, Ts, E, J):
    fig = Figure(figsize=(11, 4), layout="constrained")
    ax0, ax1 = fig.subplots(1, 2)
    ax0.loglog(Ts, E, "o-", color="C0", lw=2, label="sum E = Σ_t E_t (reduction='sum')")
    ax0.loglog(Ts, J, "o-", color="C1", lw=2, label="mean J = E / (B·T) (cross_entropy's default)")
    ax0.loglog(Ts, E[0] * np.sqrt(Ts / Ts[0]), color="C0", lw=1, ls=":", label="slope √T")
    ax0.loglog(Ts, E[0] * Ts / Ts[0], color="C0", lw=1, ls="--", label="slope T")
    ax0.axhline(TAU, color="k", lw=1, label=f"clipping threshold τ = {TAU:g}")
    ax0.set_ylim(J.min() / 3, max(E.max(), E[0] * Ts[-1] / Ts[0]) * 30)
    ax0.set_xlabel("sequence length T")
    ax0.set_ylabel("‖gradient‖ over all parameters")
    ax0.set_title("The sum's gradient grows with T; the mean's shrinks slowly", fontsize=10)
    ax0.grid(True, which="both", alpha=0.3)
    ax0.legend(loc="upper left", fontsize=8)
    ax1.semilogx(Ts, np.minimum(1, TAU / E), "o-", color="C0", lw=2, label="sum: min(1, τ/‖∂E/∂θ‖)")
    ax1.semilogx(Ts, np.minimum(1, TAU / J), "o-", color="C1", lw=2, label="mean: min(1, τ/‖∂J/∂θ‖)")
    ax1.set_ylim(0, 1.3)
    ax1.set_xlabel("sequence length T")
    ax1.set_ylabel("share of the gradient clipping keeps")
    ax1.set_title(f"One threshold τ = {TAU:g}, both objectives", fontsize=10)
    ax1.grid(True, which="both", alpha=0.3)
    ax1.legend(loc="upper right", fontsize=8)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
