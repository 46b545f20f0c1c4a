"""Sigmoid against tanh: why the notes' bound has γ = 1/4 for the sigmoid and 1 for tanh.

The bound on one step of BPTT is ‖∂h_t/∂h_{t-1}‖ <= γ ‖U‖₂, with γ = max f':

    tanh'(a) = 1 - tanh²(a) <= 1          (at a = 0)
    σ'(a)    = σ(a)(1 - σ(a)) <= 1/4      (at a = 0)

So a sigmoid RNN vanishes for sure as soon as ‖U‖₂ < 4, where a tanh RNN needs
‖U‖₂ < 1. We take the same orthogonal U, scaled to ‖U‖₂ = ρ for several ρ, and
measure ‖∂h_T/∂h_k‖ of both RNNs with the engine (`analysis.step_jacobians`).

Figures: f'(a) for both, against their γ; and the measured products with the bound
(γ ρ)^(T-k), one panel per nonlinearity.

Run:  python examples/sigmoid_slopes.py [--quick] [--out DIR] [--seed N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):          # `python examples/sigmoid_slopes.py`: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

import tinygrad_rnn as tg
from examples.figures import Figure, can_draw
from tinygrad_rnn import analysis, nn

RADII = (1.0, 2.0, 4.0, 6.0)           # ‖U‖₂ = ρ (U orthogonal, so ρ(U) = ‖U‖₂)


def products(nonlinearity: str, rho: float, x, seed: int) -> np.ndarray:
    """‖∂h_T/∂h_k‖₂ for T - k = 0 .. T, for an RNN cell with orthogonal U scaled to ρ."""
    tg.manual_seed(seed)
    cell = nn.RNNCell(x.shape[1], 16, nonlinearity=nonlinearity, dtype=np.float64)
    nn.init.orthogonal_(cell.U)
    nn.init.spectral_radius_(cell.U, rho)                   # orthogonal: every singular value ρ
    Js, _ = analysis.step_jacobians(cell, x)
    return analysis.jacobian_norms(Js)[::-1]                # index: the distance T - k


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a small run for CI")
    p.add_argument("--out", default="out/sigmoid_slopes", help="folder for the figure")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    T = 20 if args.quick else 40
    x = np.random.default_rng(args.seed).normal(size=(T, 4))  # (T, D), one sequence

    measured = {f: {rho: products(f, rho, x, args.seed) for rho in RADII} for f in ("tanh", "sigmoid")}
    gamma = {f: analysis.GAMMA[f] for f in measured}
    n = np.arange(T + 1)
    if can_draw():
        _plot(out / "sigmoid_slopes.png", measured, gamma, T)

    result = {"T": T, "gamma": gamma,
              "far": {f: {rho: float(measured[f][rho][-1]) for rho in RADII} for f in measured},
              "bound_holds": all(np.all(measured[f][rho] <= (gamma[f] * rho) ** n * (1 + 1e-9))
                                 for f in measured for rho in RADII)}
    print(f"‖∂h_T/∂h_0‖ over T = {T} steps, U orthogonal with ‖U‖₂ = ρ(U):")
    print("  ‖U‖₂    " + "".join(f"{rho:>10g}" for rho in RADII))
    for f in measured:
        print(f"  {f:8}" + "".join(f"{result['far'][f][rho]:>10.1e}" for rho in RADII)
              + f"     bound (γ ‖U‖₂)^T with γ = {gamma[f]:g}")
    print("the bound holds everywhere:", result["bound_holds"])
    print(f"figure in {out}/sigmoid_slopes.png")
    return result


def _plot(path, measured, gamma, T):
    """f'(a) for both nonlinearities; the measured products against the bound (γ‖U‖₂)^(T-k)."""
    a = np.linspace(-6, 6, 401)
    s = 1 / (1 + np.exp(-a))

    fig = Figure(figsize=(12, 3.8), layout="constrained")
    ax0, ax1, ax2 = fig.subplots(1, 3)
    ax0.plot(a, 1 - np.tanh(a) ** 2, label="tanh'(a) = 1 - tanh²(a)")
    ax0.plot(a, s * (1 - s), label="σ'(a) = σ(a)(1 - σ(a))")
    ax0.axhline(1.0, color="C0", ls="--", lw=1, label="γ = 1 (tanh)")
    ax0.axhline(0.25, color="C1", ls="--", lw=1, label="γ = 1/4 (sigmoid)")
    ax0.set_xlabel("pre-activation a")
    ax0.set_ylabel("slope f'(a)")
    ax0.set_ylim(0, 1.45)
    ax0.set_title("The slopes and their maxima γ\n", fontsize=10)
    ax0.legend(loc="upper left", fontsize=8, ncol=2)
    n = np.arange(T + 1)
    colours = [f"C{i + 2}" for i in range(len(RADII))]
    for ax, f in ((ax1, "tanh"), (ax2, "sigmoid")):
        for c, rho in zip(colours, RADII):
            ax.semilogy(n, np.maximum(measured[f][rho], 1e-300), color=c, lw=2, label=f"‖U‖₂ = {rho:g}")
            ax.semilogy(n, (gamma[f] * rho) ** n, color=c, lw=1, ls="--")
        ax.set_ylim(1e-27, 1e10)
        ax.set_xlabel("T - k")
        ax.set_title(f"{f} RNN, γ = {gamma[f]:g}\nmeasured (solid), bound (γ‖U‖₂)^(T-k) (dashed)",
                     fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower left", fontsize=8)
    ax1.set_ylabel("‖∂h_T/∂h_k‖₂")
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
