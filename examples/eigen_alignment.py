"""The notes' eigenvector expansion, measured: the gradient turns toward U's top eigenvector.

A linear RNN, h_t = h_{t-1} U, sends the row gradient back as g_{k} = g_{k+1} Uᵀ,
i.e. g_kᵀ = U g_{k+1}ᵀ. Expand the last one in the eigenvectors of U,
g_Tᵀ = Σ_i c_i q_i (U q_i = λ_i q_i); then l steps back

    g_{T-l}ᵀ = U^l g_Tᵀ = Σ_i c_i λ_i^l q_i

Every term shrinks like |λ_i|^l and the top one (|λ_1| = ρ) slowest, so the
gradient lines up with q_1. For a symmetric U (orthonormal q_i) the angle θ_l
between g_{T-l} and q_1 obeys

    tan θ_l = √(Σ_{i>=2} c_i² λ_i^{2l}) / (|c_1| ρ^l) <= (‖c_{2:}‖ / |c_1|) (|λ_2| / ρ)^l

so it closes at the rate |λ_2|/ρ, and ‖g_{T-l}‖ approaches |c_1| ρ^l, below the
bound ‖g_T‖ ρ^l by the factor |c_1| / ‖g_T‖. The gradients come from one
backward() through the engine; the expansion is only what they are compared with.
The matrix and the seed are the ones of docs/vanishing.md's snippet.

Figures: ‖g_{T-l}‖ with each term |c_i| |λ_i|^l and the bound; cos θ_l; tan θ_l
against its bound.

Run:  python examples/eigen_alignment.py [--quick] [--out DIR] [--seed N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):          # `python examples/eigen_alignment.py`: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

import tinygrad_rnn as tg
from examples.figures import Figure, can_draw
from tinygrad_rnn import analysis

H, RHO = 6, 0.9


def symmetric_u(rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A symmetric U (H, H) with ρ(U) = RHO, its eigenvalues λ (largest |λ| first) and Q."""
    A = rng.normal(size=(H, H))
    U = (A + A.T) / 2
    U *= RHO / analysis.spectral_radius(U)
    lam, Q = np.linalg.eigh(U)
    order = np.argsort(-np.abs(lam))
    return U, lam[order], Q[:, order]


def gradients(U, h0, g_T, T: int) -> np.ndarray:
    """g_{T-l} = ∂E/∂h_{T-l} for l = 0..T-1, from one backward() of E = Σ h_T ⊙ g_T."""
    h, hs = tg.Tensor(h0, requires_grad=True), []
    for _ in range(T):
        h = h @ tg.Tensor(U)                                   # h_t = h_{t-1} U
        hs.append(h)
    (hs[-1] * tg.Tensor(g_T)).sum().backward()
    return np.stack([hs[T - 1 - l].grad[0] for l in range(T)])   # (T, H), row l: g_{T-l}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a small run for CI")
    p.add_argument("--out", default="out/eigen_alignment", help="folder for the figure")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    T = 40                                                    # the same in --quick: it is cheap
    rng = np.random.default_rng(args.seed)
    U, lam, Q = symmetric_u(rng)
    h0 = rng.normal(size=(1, H))
    g_T = rng.normal(size=(1, H))
    g = gradients(U, h0, g_T, T)
    c = Q.T @ g_T[0]                                          # g_Tᵀ = Σ c_i q_i
    l = np.arange(T)
    expansion = np.stack([Q @ (c * lam ** k) for k in l])     # Σ c_i λ_i^l q_i
    norms = np.linalg.norm(g, axis=1)
    cos = np.abs(g @ Q[:, 0]) / norms
    tan = np.sqrt(np.maximum(1 - cos ** 2, 0)) / cos
    tan_bound = np.linalg.norm(c[1:]) / abs(c[0]) * (abs(lam[1]) / RHO) ** l
    if can_draw():
        _plot(out / "eigen_alignment.png", l, norms, c, lam, g_T, cos, tan, tan_bound)

    result = {"lam": lam, "c": c, "cos": cos, "norms": norms,
              "expansion_matches": bool(np.allclose(g, expansion, rtol=1e-10, atol=1e-14)),
              "tan_bound_holds": bool(np.all(tan <= tan_bound * (1 + 1e-9) + 1e-12))}
    print("λ =", np.round(lam, 3), "  c =", np.round(c, 2))
    print("the engine's gradients equal Σ c_i λ_i^l q_i at every l:", result["expansion_matches"])
    print("  l " + "".join(f"{k:>7d}" for k in (0, 5, 10, 20, 39)))
    print("cos " + "".join(f"{cos[k]:7.3f}" for k in (0, 5, 10, 20, 39)))
    print(f"tan θ_l <= (‖c_2:‖/|c_1|)(|λ_2|/ρ)^l at every l: {result['tan_bound_holds']}"
          f"   (|λ_2|/ρ = {abs(lam[1]) / RHO:.3f})")
    print(f"figure in {out}/eigen_alignment.png")
    return result


def _plot(path, l, norms, c, lam, g_T, cos, tan, tan_bound):
    fig = Figure(figsize=(13, 4.3), layout="constrained")
    ax0, ax1, ax2 = fig.subplots(1, 3)
    ax0.semilogy(l, norms, color="k", lw=2.5, label="‖g_(T-l)‖ (backward)")
    ax0.semilogy(l, np.linalg.norm(g_T) * RHO ** l, color="k", lw=1, ls="--", label="bound ‖g_T‖ ρ^l")
    for i in range(len(c)):                     # the top term on top of the measured norm it meets
        ax0.semilogy(l, abs(c[i]) * abs(lam[i]) ** l, lw=2 if i == 0 else 1, ls=":" if i == 0 else "-",
                     zorder=3 if i == 0 else 2, label=f"|c_{i + 1}| |λ_{i + 1}|^l, λ_{i + 1} = {lam[i]:+.2f}")
    ax0.set_ylim(1e-9, 1e5)
    ax0.set_xlabel("steps back l")
    ax0.set_title("The gradient and the terms of Σ c_i λ_i^l q_i", fontsize=10)
    ax0.grid(True, which="both", alpha=0.3)
    ax0.legend(loc="upper right", fontsize=7.5, ncol=2)
    ax1.plot(l, cos, color="C3", lw=2)
    ax1.set_ylim(0, 1.05)
    ax1.set_xlabel("steps back l")
    ax1.set_ylabel("cos θ_l = |g_(T-l) · q_1| / ‖g_(T-l)‖")
    ax1.set_title("Alignment with the top eigenvector q_1", fontsize=10)
    ax1.grid(True, alpha=0.3)
    ax2.semilogy(l, tan, color="C3", lw=2, label="tan θ_l (backward)")
    ax2.semilogy(l, tan_bound, color="C3", lw=1, ls="--", label="(‖c_2:‖/|c_1|) (|λ_2|/ρ)^l")
    ax2.set_xlabel("steps back l")
    ax2.set_title("The angle closes at the rate |λ_2| / ρ", fontsize=10)
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend(loc="lower left", fontsize=8)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
