"""A ReLU RNN whose U has ρ(U) = 0.95 and whose gradient still grows: ρ is not the bound.

The U of docs/vanishing.md ("ReLU: the activity pattern picks a different matrix at every
step"): eigenvalues +0.95 and -0.95, U² = 0.9025 I, but ‖U‖₂ = 2.73. In a linear RNN,
h_t = h_{t-1} U, the product of Jacobians is U^t and shrinks like 0.95^t. In a ReLU RNN,
h_t = relu(h_{t-1} U + b) with b = (1, -1) and no input, one unit is active at each step
and the step Jacobian is diag(m_t) Uᵀ (m_t the 0/1 activity pattern): a different matrix
at every step, whose product the eigenvalues of U do not bound. Only ‖U‖₂^t does.

Both products are measured with the engine (`analysis.step_jacobians`, one backward()
per output unit and step) along the same 60 steps from h_0 = 0.

Figures: ‖∂h_t/∂h_0‖ against t for both RNNs, with ρ^t and the bound ‖U‖₂^t; and the
ReLU RNN's state h_t, which stays in [0, 1] while its gradient grows.

Run:  python examples/relu_counterexample.py [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):          # `python examples/relu_counterexample.py`: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

import tinygrad_rnn as tg
from examples.figures import Figure, can_draw
from tinygrad_rnn import analysis, nn

T, RHO = 60, 0.95


def masked_u() -> np.ndarray:
    """U (2, 2) with eigenvalues ±RHO, far from normal: the page's matrix."""
    U = np.array([[-2.5, 2.5], [-1.5, 2.5]])
    return U * (RHO / analysis.spectral_radius(U))


def growth(Js) -> np.ndarray:
    """‖∂h_t/∂h_0‖₂ for t = 0..len(Js), from the step Jacobians [J_1, ..., J_T]."""
    return np.array([1.0] + [analysis.jacobian_norms(Js[:t])[0] for t in range(1, len(Js) + 1)])


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a small run for CI (the same run: it is cheap)")
    p.add_argument("--out", default="out/relu_counterexample", help="folder for the figure")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    U = masked_u()
    cell = nn.RNNCell(1, 2, nonlinearity="relu", dtype=np.float64)
    cell.U.data[...], cell.b.data[...] = U, [1.0, -1.0]           # h_t = relu(h_{t-1} U + b)
    x = np.zeros((T, 1))                                           # no input
    Js, hs = analysis.step_jacobians(cell, x)                      # from h_0 = 0
    linear = lambda x_t, h: h @ tg.Tensor(U)                        # h_t = h_{t-1} U
    Js_lin, _ = analysis.step_jacobians(linear, x, h0=np.ones(2))
    result = {"t": np.arange(T + 1), "relu": growth(Js), "linear": growth(Js_lin), "states": hs,
              "rho": analysis.spectral_radius(U), "norm": analysis.spectral_norm(U)}
    if can_draw():
        _plot(out / "relu_counterexample.png", result)

    print(f"ρ(U) = {result['rho']:.2f}   ‖U‖₂ = {result['norm']:.2f}   max h_t = {hs.max():.2f}")
    print("   t   relu ‖∂h_t/∂h_0‖   linear ‖∂h_t/∂h_0‖   ρ^t")
    for t in (1, 10, 20, 40, 60):
        print(f"  {t:2d}   {result['relu'][t]:15.3g}   {result['linear'][t]:17.3g}   {RHO ** t:.3g}")
    print(f"figure in {out}/relu_counterexample.png")
    return result


def _plot(path, r):
    t = r["t"]
    fig = Figure(figsize=(10, 4.3), layout="constrained")
    ax0, ax1 = fig.subplots(1, 2, width_ratios=(1.4, 1))
    ax0.semilogy(t, r["relu"], color="C3", lw=2.2, label="ReLU RNN (measured)")
    ax0.semilogy(t, r["linear"], color="C0", lw=2.2, label="linear RNN, same U (measured)")
    ax0.semilogy(t, RHO ** t, color="C0", lw=1, ls=":", label=f"ρ(U)^t = {RHO}^t")
    ax0.semilogy(t, r["norm"] ** t, color="k", lw=1, ls="--", label=f"bound ‖U‖₂^t = {r['norm']:.2f}^t")
    ax0.set_ylim(1e-2, 1e8)
    ax0.set_xlim(0, T)
    ax0.set_xlabel("step t")
    ax0.set_ylabel("‖∂h_t/∂h_0‖₂")
    ax0.set_title(f"ρ(U) = {RHO}: the ReLU RNN's gradient grows anyway", fontsize=11)
    ax0.grid(True, which="both", alpha=0.3)
    ax0.legend(loc="lower right", bbox_to_anchor=(1, 0.2), fontsize=9.5)   # between the two curves
    for j, color in enumerate(("C1", "C2")):
        ax1.step(t, r["states"][:, j], where="post", color=color, lw=1.6, label=f"h_t[{j + 1}]")
    ax1.set_ylim(-0.05, 1.45)
    ax1.set_xlim(0, 30)
    ax1.set_xlabel("step t (the first 30)")
    ax1.set_title("The ReLU RNN's state: in [0, 1], one unit on", fontsize=11)
    ax1.grid(True, alpha=0.3)
    ax1.legend(loc="upper right", fontsize=9.5, ncol=2)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
