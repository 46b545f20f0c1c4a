"""The GRU's update gate against the RNN's squashed matrix: how far back the gradient reaches.

One loss at the last step, E = Σ h_T ⊙ g (g fixed, random), over a sequence of
T steps; backward() leaves ∂E/∂h_t on every state. Three models, same input:

    tanh RNN      ∂h_t/∂h_{t-1} = diag(1 - h_t²) Uᵀ               (squashed matrix every step)
    GRU           ∂h_t/∂h_{t-1} = diag(z_t) + (terms with z_t(1 - z_t) or 1 - z_t)
    GRU, b_hz = 4 the update gate opened: z_t ≈ σ(4) ≈ 0.98, the direct term dominates

At PyTorch's initialisation the GRU's z_t ≈ 1/2 and its gradient vanishes as fast as
the RNN's (here faster); with the gate opened it keeps a third of its norm over 60
steps, and one step's Jacobian is almost only its direct term diag(z_t)
(docs/gru.md derives the Jacobian).

Figures: ‖∂E/∂h_t‖ against t; and per step the norm of ∂h_t/∂h_{t-1} (measured
with the engine, `analysis.step_jacobians`) beside max z_t, the norm of the
direct term diag(z_t).

Run:  python examples/gru_vs_rnn.py [--quick] [--out DIR] [--seed N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):          # `python examples/gru_vs_rnn.py`: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

import tinygrad_rnn as tg
from examples.figures import Figure, can_draw
from tinygrad_rnn import analysis, nn

H, D = 16, 4
MODELS = ("tanh RNN", "GRU", "GRU, b_hz = 4")


def make(name: str, seed: int):
    """The layer for one of MODELS, PyTorch's default initialisation, float64."""
    tg.manual_seed(seed)
    if name == "tanh RNN":
        return nn.RNN(D, H, dtype=np.float64)
    layer = nn.GRU(D, H, dtype=np.float64)
    if name == "GRU, b_hz = 4":
        layer.cells[0].b_hz.data = np.full(H, 4.0)
    return layer


def measure(name: str, x, g, seed: int) -> dict:
    """‖∂E/∂h_t‖ for t = 1..T (one backward), the step Jacobians' norms and max z_t (GRUs)."""
    layer = make(name, seed)
    outputs, h_T = layer(tg.Tensor(x[None]))                 # (1, T, H)
    (h_T * tg.Tensor(g)).sum().backward()                    # E = Σ h_T ⊙ g
    reach = analysis.state_grad_norms(layer.states)          # (T,)
    cell = layer.cells[0]
    Js, hs = analysis.step_jacobians(cell, x)
    step = np.array([np.linalg.norm(J, 2) for J in Js])      # ‖∂h_t/∂h_{t-1}‖₂
    z_max = rest = None
    if name != "tanh RNN":
        p = {k: v.data for k, v in cell.named_parameters()}
        a = x @ p["W_z"] + p["b_iz"] + hs[:-1] @ p["U_z"] + p["b_hz"]   # (T, H)
        z = 1 / (1 + np.exp(-a))                             # z_t, (T, H)
        z_max = z.max(axis=1)                                # ‖diag(z_t)‖₂ = max z_t
        rest = np.array([np.linalg.norm(J - np.diag(z_t), 2) for J, z_t in zip(Js, z)])
    return {"reach": reach, "step": step, "z_max": z_max, "rest": rest}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a small run for CI")
    p.add_argument("--out", default="out/gru_vs_rnn", help="folder for the figure")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    T = 30 if args.quick else 60
    rng = np.random.default_rng(args.seed)
    x, g = rng.normal(size=(T, D)), rng.normal(size=(1, H))
    runs = {name: measure(name, x, g, args.seed) for name in MODELS}
    if can_draw():
        _plot(out / "gru_vs_rnn.png", runs, T)

    result = {"T": T, "reach": {k: float(r["reach"][0] / r["reach"][-1]) for k, r in runs.items()},
              "step_median": {k: float(np.median(r["step"])) for k, r in runs.items()},
              "z_max": {k: (float(r["z_max"].min()), float(r["z_max"].max()))
                        for k, r in runs.items() if r["z_max"] is not None},
              "rest_median": {k: float(np.median(r["rest"]))
                              for k, r in runs.items() if r["rest"] is not None}}
    print(f"‖∂E/∂h_1‖ / ‖∂E/∂h_T‖ over T = {T} steps, loss at the last step:")
    for k in MODELS:
        print(f"  {k:14}  {result['reach'][k]:8.1e}   median ‖∂h_t/∂h_(t-1)‖₂ = "
              f"{result['step_median'][k]:.2f}" + (f"   max z_t in [{result['z_max'][k][0]:.2f}, "
              f"{result['z_max'][k][1]:.2f}], median ‖J_t - diag(z_t)‖₂ = {result['rest_median'][k]:.3f}"
              if k in result["z_max"] else ""))
    print(f"figure in {out}/gru_vs_rnn.png")
    return result


def _plot(path, runs, T):
    fig = Figure(figsize=(11, 4), layout="constrained")
    ax0, ax1 = fig.subplots(1, 2)
    t = np.arange(1, T + 1)
    for c, (name, r) in zip(("C0", "C1", "C2"), runs.items()):
        ax0.semilogy(t, r["reach"], color=c, lw=2, label=name)
        ax1.plot(t, r["step"], color=c, lw=2, label=f"{name}: ‖∂h_t/∂h_(t-1)‖₂")
        if r["z_max"] is not None:
            ax1.plot(t, r["z_max"], color="k" if c == "C2" else c, lw=1.2, ls=":", zorder=3,
                     label=f"{name}: max z_t = ‖diag(z_t)‖₂")
    ax0.set_xlabel("time step t (the loss is at t = T)")
    ax0.set_ylabel("‖∂E/∂h_t‖")
    ax0.set_title("How far back the gradient reaches", fontsize=10)
    ax0.grid(True, which="both", alpha=0.3)
    ax0.legend(loc="lower right", fontsize=8)
    ax1.set_xlabel("time step t")
    ax1.set_ylabel("norm")
    ax1.set_ylim(0, 1.9)
    ax1.set_title("One step's Jacobian, and the update gate's direct term", fontsize=10)
    ax1.grid(True, alpha=0.3)
    ax1.legend(loc="upper center", fontsize=7.5, ncol=2)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
