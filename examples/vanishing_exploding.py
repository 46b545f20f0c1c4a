"""Vanishing and exploding gradients: sweep the spectral radius of U and watch ∂E_T/∂h_k.

BPTT carries the gradient of a loss at the last step back to h_k through one
Jacobian per step (see `tinygrad_rnn.analysis`):

    ∂E_T/∂h_k = (Π_{k<t<=T} ∂h_t/∂h_{t-1}) ∂E_T/∂h_T,   ∂h_t/∂h_{t-1} = U diag(f'(a_t))

so ‖∂E_T/∂h_k‖ <= (γ ‖U‖_2)^(T-k) ‖∂E_T/∂h_T‖, with γ = max f' = 1 for tanh and
for a linear RNN (f = identity). Writing U = Q diag(λ) Q^{-1}, U^n = Q diag(λ^n) Q^{-1}:
the largest |λ|, the spectral radius ρ, decides. We take U symmetric (then Q is
orthogonal and ‖U‖_2 = ρ, so the bound is just ρ^(T-k)), scale it to ρ = 0.5 ...
1.5, and measure ‖∂E_T/∂h_k‖ with one backward() of E_T = ½ (h_T · v - 1)².

- linear RNN: the gradient is exactly U^(T-k) applied to ∂E_T/∂h_T; it shrinks
  like ρ^(T-k) for ρ < 1 and grows for ρ > 1, the curves ordered by ρ;
- tanh RNN: f' = 1 - h² <= 1 only ever shrinks it further; ρ < 1 vanishes, and
  ρ > 1 does not make it explode (saturated units pass almost no gradient).

Figures: the norms against T - k on a log scale with the bound, and the
cell-level graph of a short linear RNN at ρ = 0.5 (edges fade going back in time)
and ρ = 1.5 (edges swell).

    python examples/vanishing_exploding.py [--quick] [--out out/vanishing_exploding]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # `python examples/vanishing_exploding.py`: make the repo importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tinygrad_rnn as tg  # noqa: E402
from examples.figures import can_draw, pyplot  # noqa: E402
from tinygrad_rnn import analysis, viz  # noqa: E402
from tinygrad_rnn.nn import init  # noqa: E402

RADII = (0.5, 0.9, 1.0, 1.1, 1.5)
ACTIVATIONS = ("tanh", "linear")


def make_weights(rng, D: int, H: int, rho: float):
    """W (D, H), symmetric U (H, H) with spectral radius rho, readout v (H,)."""
    A = rng.normal(size=(H, H))
    U = tg.Tensor((A + A.T) / 2, requires_grad=True, name="U")     # symmetric: ‖U‖_2 = ρ(U)
    init.spectral_radius_(U, rho)
    W = tg.Tensor(rng.normal(0, 1 / np.sqrt(D), (D, H)), requires_grad=True, name="W")
    v = tg.Tensor(rng.normal(0, 1 / np.sqrt(H), (H,)), name="v")
    return W, U, v


def step(x_t, h, W, U, activation):
    """h_t = f(x_t W + h_{t-1} U), f = tanh or the identity (a linear RNN)."""
    a_t = x_t @ W + h @ U                                        # (B, H)
    h_t = a_t.tanh() if activation == "tanh" else a_t            # (B, H)
    h_t.name = "h_t"
    return h_t


def run(x, W, U, v, activation):
    """Unroll over x (1, T, D), E_T = ½ (h_T · v - 1)², backward(); returns E_T and [h_1..h_T]."""
    h = tg.Tensor(np.zeros((1, U.shape[0])), name="h_0")         # (1, H)
    hs = []
    for t in range(1, x.shape[1] + 1):
        with tg.scope(f"rnn/t={t}"):
            h = step(tg.Tensor(x[:, t - 1]), h, W, U, activation)
        hs.append(h)
    E_T = ((h @ v - 1.0) ** 2).sum() * 0.5                       # ()  a loss on the last step
    E_T.backward()
    return E_T, hs


def measure(x, W, U, v, activation):
    """‖∂E_T/∂h_k‖ / ‖∂E_T/∂h_T‖ and ‖∂h_T/∂h_k‖_2 for T - k = 0 .. T-1, and the bound."""
    _, hs = run(x, W, U, v, activation)
    norms = analysis.state_grad_norms(hs)[::-1]                  # index n = T - k
    Js, _ = analysis.step_jacobians(lambda x_t, h: step(x_t, h, W, U, activation), x, h0=np.zeros(U.shape[0]))
    jac = analysis.jacobian_norms(Js)[1:][::-1]                  # ‖∂h_T/∂h_k‖, k = T .. 1
    n = np.arange(len(hs))
    bound = analysis.gradient_bound(U, n, "identity" if activation == "linear" else "tanh")
    return norms / norms[0], jac, bound


def plot(results, radii, T, path):
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(radii)))
    n = np.arange(T)
    for ax, activation in zip(axes, ACTIVATIONS):
        for c, rho in zip(colours, radii):
            r = results[activation][rho]
            ax.semilogy(n, r["ratio"], color=c, lw=2, label=f"ρ = {rho}")
            ax.semilogy(n, r["bound"], color=c, lw=1, ls="--")
        ax.set_title(f"{activation} RNN: solid measured, dashed bound ρ^(T-k)")
        ax.set_xlabel("T - k (steps back from the loss)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("‖∂E_T/∂h_k‖ / ‖∂E_T/∂h_T‖")
    for ax in axes:                                # a legend in each panel, where no curve runs
        ax.legend(loc="lower left", fontsize=9)
    lo = min(np.min(r["ratio"][r["ratio"] > 0]) for a in results.values() for r in a.values())
    axes[0].set_ylim(max(lo / 3, 1e-30), None)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw(x, radii, seed, D, H, out: Path) -> list[Path]:
    """The cell-level graphs of a short linear RNN at each spectral radius, on one colour scale."""
    losses = {}
    for rho in radii:
        W, U, v = make_weights(np.random.default_rng(seed), D, H, rho)
        losses[rho], _ = run(x, W, U, v, "linear")
    scale = viz.shared_scale(*losses.values(), level="cell")     # the pictures compare by colour
    figures = []
    for rho, E_T in losses.items():
        g = viz.draw_graph(E_T, level="cell", scale=scale,
                           title=f"linear RNN, ρ(U) = {rho}: ‖∂E_T/∂h_t‖ on each edge")
        figures += [viz.write(g, out / f"cells_rho_{rho}.{ext}") for ext in ("svg", "png")]
    return figures


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short sequences, for CI")
    parser.add_argument("--out", default="out/vanishing_exploding")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--radii", type=float, nargs="+", default=list(RADII))
    args = parser.parse_args(argv)
    T, H, D, T_graph = (15, 8, 3, 6) if args.quick else (60, 32, 4, 8)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tg.manual_seed(args.seed)
    x = np.random.default_rng(args.seed).normal(size=(1, T, D))          # (1, T, D)

    results = {a: {} for a in ACTIVATIONS}
    print(f"T = {T}, H = {H}, U symmetric (‖U‖_2 = ρ); ratio = ‖∂E_T/∂h_k‖ / ‖∂E_T/∂h_T‖")
    shown = sorted({1, T // 4, T // 2, T - 1})
    print(f"{'':8}{'ρ':>5}  " + "".join(f"{'T-k=' + str(n):>11}" for n in shown)
          + f"{'bound at ' + str(T - 1):>15}")
    for activation in ACTIVATIONS:
        for rho in args.radii:
            # the same base matrix for every ρ: only the scale of U changes
            W, U, v = make_weights(np.random.default_rng(args.seed + 1), D, H, rho)
            ratio, jac, bound = measure(x, W, U, v, activation)
            results[activation][rho] = {"ratio": ratio, "jacobian": jac, "bound": bound,
                                        "spectral_radius": analysis.spectral_radius(U),
                                        "spectral_norm": analysis.spectral_norm(U)}
            print(f"{activation:8}{rho:>5}  " + "".join(f"{ratio[n]:>11.2e}" for n in shown)
                  + f"{bound[-1]:>15.2e}")

    figures = []
    if can_draw():
        plot(results, args.radii, T, out / "gradient_norms.png")
        figures.append(out / "gradient_norms.png")
    figures += draw(x[:, :T_graph], (min(args.radii), max(args.radii)), args.seed + 1, D, H, out)
    print("the bound holds everywhere:", all(np.all(r["ratio"] <= r["bound"] * (1 + 1e-9))
                                             for a in results.values() for r in a.values()))
    print("figures:", ", ".join(str(f) for f in figures))
    return {"T": T, "radii": list(args.radii), "results": results, "figures": [str(f) for f in figures]}


if __name__ == "__main__":
    main()
