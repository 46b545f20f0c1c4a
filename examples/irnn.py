"""IRNN: a ReLU RNN initialised at the identity learns the adding problem; a tanh RNN does not.

Le, Jaitly & Hinton (2015), "A simple way to initialize recurrent networks of
rectified linear units". Take the vanilla RNN with f = ReLU and initialise

    U = I,   W ~ N(0, 0.001²),   b = 0          so   h_t = relu(h_{t-1} + x_t W)

While a unit is active, ∂h_t/∂h_{t-1} = diag(relu'(a_t)) Uᵀ = I on it: the gradient
passes back through time unchanged, neither vanishing nor exploding. A tanh RNN with
the usual random U multiplies the row gradient by diag(1 - h_t²) Uᵀ at every step.
‖U‖₂ itself is about 1.0-1.1 here (so the bound promises nothing), but ρ(U) ≈ 0.6-0.7
and the slopes 1 - h_t² < 1 shrink the gradient by a factor ≈ 0.66 per step on
average (both printed below), so ‖∂E/∂h_1‖ is many orders of magnitude below ‖∂E/∂h_T‖.

The task is the adding problem (see `examples/datasets.py`): add the two numbers
marked in a sequence of T; predicting 1.0 always scores MSE 1/6 ≈ 0.167, and only
a model that carries the first marked number across ~T steps beats it.

Figures: the test MSE while training (both models and the 0.167 line) and
‖∂E/∂h_t‖ against t at initialisation.

Run:  python examples/irnn.py [--quick] [--out DIR] [--seed N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):          # `python examples/irnn.py`: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

import tinygrad_rnn as tg
from examples.adding import Adder, plot_curves, train
from examples.datasets import ADDING_BASELINE, adding_problem
from examples.figures import can_draw
from tinygrad_rnn import analysis, nn, viz
from tinygrad_rnn.nn import functional as F


def irnn(hidden: int) -> Adder:
    """ReLU RNN with U = I, W ~ N(0, 0.001²), b = 0 (Le et al., 2015)."""
    rnn = nn.RNN(2, hidden, nonlinearity="relu", name="irnn")
    cell = rnn.cells[0]
    nn.init.eye_(cell.U)                             # (H, H)  U = I
    nn.init.normal_(cell.W, 0.0, 0.001)              # (2, H)
    nn.init.zeros_(cell.b)                           # (H,)
    return Adder(rnn)


def tanh_rnn(hidden: int) -> Adder:
    """The vanilla RNN with its default init: every weight ~ U(-1/√H, 1/√H)."""
    return Adder(nn.RNN(2, hidden, nonlinearity="tanh", name="rnn"))


def gradient_flow(model: Adder, x, y) -> np.ndarray:
    """‖∂E/∂h_t‖ for t = 1..T from one backward pass (parameter grads are discarded)."""
    loss = F.mse_loss(model(x), y)
    loss.backward()
    norms = analysis.state_grad_norms(model.layer)     # reads .grad of every h_t
    model.zero_grad()
    return norms


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a small run for CI")
    p.add_argument("--out", default="out/irnn", help="folder for the figures")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    T, H, batch, steps = (30, 16, 16, 100) if args.quick else (40, 32, 64, 1500)
    lr, every = (0.01 if args.quick else 0.003), (25 if args.quick else 50)
    test = adding_problem(np.random.default_rng(args.seed + 1000), 512, T)

    result = {"baseline": ADDING_BASELINE, "T": T, "steps": steps}
    curves, flows = {}, {}
    for label, make in (("IRNN (relu, U = I)", irnn), ("tanh RNN", tanh_rnn)):
        key = "irnn" if label.startswith("IRNN") else "tanh"
        tg.manual_seed(args.seed)
        rng = np.random.default_rng(args.seed)
        model = make(H)
        flows[label] = gradient_flow(model, *adding_problem(rng, batch, T))
        curves[label] = train(model, rng, steps, batch, T, lr, test, every, not args.quick, key)
        result[f"{key}_grad_ratio"] = float(flows[label][0] / flows[label][-1])  # ‖∂E/∂h_1‖/‖∂E/∂h_T‖
        result[f"{key}_U_norm"] = analysis.spectral_norm(model.layer.cells[0].U)   # ‖U‖₂ after training
        result[f"{key}_mse_init"] = curves[label][0][1]
        result[f"{key}_mse"] = curves[label][-1][1]
        result[f"{key}_mse_best"] = min(mse for _, mse in curves[label][1:])

    if can_draw():
        viz.plot_gradient_flow(flows, out / "irnn_gradient_flow.png",
                               title=f"‖∂E/∂h_t‖ at initialisation, adding problem T = {T}")
        plot_curves(out / "irnn_adding_loss.png", curves, T)
    result["seconds"] = time.perf_counter() - start

    print(f"adding problem, T = {T}: {steps} Adam steps of batch {batch}, hidden size {H}")
    print(f"  test MSE  IRNN {result['irnn_mse']:.4f}   tanh RNN {result['tanh_mse']:.4f}   "
          f"trivial baseline (always 1.0) {ADDING_BASELINE:.3f}")
    print(f"  best test MSE during training  IRNN {result['irnn_mse_best']:.4f}   "
          f"tanh RNN {result['tanh_mse_best']:.4f}")
    print(f"  at init ‖∂E/∂h_1‖ / ‖∂E/∂h_T‖:  IRNN {result['irnn_grad_ratio']:.2e}   "
          f"tanh RNN {result['tanh_grad_ratio']:.2e}")
    per_step = result["tanh_grad_ratio"] ** (1 / (T - 1))
    print(f"  tanh RNN: ‖U‖₂ = {result['tanh_U_norm']:.2f} (> 1), yet the gradient shrinks "
          f"{per_step:.2f}x per step on average")
    print(f"figures in {out}/  ({result['seconds']:.1f} s)")
    return result


if __name__ == "__main__":
    main()
