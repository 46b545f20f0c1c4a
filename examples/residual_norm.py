"""Deep stacked RNNs: residual connections and normalisation keep the gradient alive in depth.

Stack L recurrent layers, each reading the sequence the one below produced. The
gradient that reaches the bottom has gone through every layer's Jacobian, and in a
plain stack each one (diag(1 - h²) Wᵀ with a small random W) shrinks it: through
depth, gradients vanish just as they do through time. Two remedies from the course:

    plain                 h^l = RNN_l(h^(l-1))
    residual              h^l = h^(l-1) + RNN_l(h^(l-1))          ∂h^l/∂h^(l-1) = I + ∂RNN_l/∂h^(l-1)
    LayerNorm             h^l = RNN_l(LN(h^(l-1)))
    residual + LayerNorm  h^l = h^(l-1) + RNN_l(LN(h^(l-1)))      (pre-norm, as in Transformers)
    BatchNorm, residual + BatchNorm: the same with BN over the batch and time steps

The identity in the residual Jacobian is a path on which nothing multiplies the
gradient; LayerNorm, y = (x - μ)/σ · γ + β, keeps every layer's input at unit
scale, so no layer saturates its tanh or shrinks its signal. BatchNorm does the
same with statistics over the batch (here over the B·T rows of a layer's input:
between layers that is harmless; inside the recurrence it is not, see
docs/remedies.md, batch normalisation).

We build each stack (L = 8, hidden 32), put a loss on the top layer's outputs at
every step, run one backward() and read ‖∂E/∂h^l‖ (the gradient on the input of
layer l+1, l = 0 being the data x), averaged over a few random initialisations.

Figure: ‖∂E/∂h^l‖ against depth for the six stacks, log scale.

Run:  python examples/residual_norm.py [--quick] [--out DIR] [--seed N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):          # `python examples/residual_norm.py`: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

import tinygrad_rnn as tg
from examples.figures import Figure, can_draw
from tinygrad_rnn import nn
from tinygrad_rnn.nn import functional as F

VARIANTS = {                      # name: (residual, normalisation)
    "plain": (False, None),
    "LayerNorm": (False, "layer"),
    "BatchNorm": (False, "batch"),
    "residual": (True, None),
    "residual + LayerNorm": (True, "layer"),
    "residual + BatchNorm": (True, "batch"),
}


class DeepRNN(nn.Module):
    """L stacked RNN layers of width H over x (B, T, H), with optional residuals and normalisation.

    norm: None, "layer" (LayerNorm over each row's H features) or "batch" (BatchNorm1d
    over the B·T rows of each feature: one set of statistics for every step).
    """

    def __init__(self, depth: int, hidden: int, residual: bool, norm: str | None):
        self.residual, self.norm = residual, norm
        self.layers = [nn.RNN(hidden, hidden, name=f"layer{l + 1}") for l in range(depth)]
        make = {"layer": nn.LayerNorm, "batch": nn.BatchNorm1d}.get(norm)
        self.norms = [make(hidden) for _ in range(depth)] if make else None
        self.readout = nn.Linear(hidden, 1)

    def forward(self, x: tg.Tensor) -> tuple[tg.Tensor, list[tg.Tensor]]:
        """Returns ŷ (B, T, 1) and the input of every layer [h^0 = x, h^1, ..., h^(L-1)]."""
        h, inputs = x, []                                    # (B, T, H)
        for l, layer in enumerate(self.layers):
            inputs.append(h)
            z = self._normalise(l, h)                        # (B, T, H)  LN(h^(l-1)) or BN(h^(l-1))
            out, _ = layer(z)                                # (B, T, H)  RNN_l(...)
            h = h + out if self.residual else out           # (B, T, H)  h^l
        return self.readout(h), inputs                       # (B, T, 1)

    def _normalise(self, l: int, h: tg.Tensor) -> tg.Tensor:
        if self.norm == "batch":                             # BatchNorm1d wants (N, C): N = B·T rows
            B, T, H = h.shape
            return self.norms[l](h.reshape(B * T, H)).reshape(B, T, H)
        return self.norms[l](h) if self.norms else h


def depth_gradients(variant: str, depth: int, hidden: int, T: int, batch: int,
                    seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One backward() of E = mse(ŷ, y) over all steps; for l = 0..depth-1 returns
    ‖∂E/∂h^l‖ (the input of layer l+1) and ‖∂E/∂(W, U)‖ of layer l+1's weights."""
    tg.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = DeepRNN(depth, hidden, *VARIANTS[variant])
    x = tg.Tensor(rng.normal(size=(batch, T, hidden)).astype(np.float32), requires_grad=True)
    y = rng.normal(size=(batch, T, 1)).astype(np.float32)
    y_hat, inputs = model(x)
    F.mse_loss(y_hat, y).backward()
    weights = [np.sqrt(np.sum(layer.cells[0].W.grad ** 2) + np.sum(layer.cells[0].U.grad ** 2))
               for layer in model.layers]
    return np.array([np.linalg.norm(h.grad) for h in inputs]), np.array(weights)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a small run for CI")
    p.add_argument("--out", default="out/residual_norm", help="folder for the figures")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    depth, hidden, T, batch = 8, 32, 10, 16
    seeds = range(args.seed, args.seed + (2 if args.quick else 10))

    norms, weights = {}, {}
    for v in VARIANTS:
        runs = [depth_gradients(v, depth, hidden, T, batch, s) for s in seeds]
        norms[v] = np.exp(np.mean([np.log(r[0]) for r in runs], axis=0))    # geometric mean
        weights[v] = np.exp(np.mean([np.log(r[1]) for r in runs], axis=0))  # over the seeds
    result = {"depth": depth, "norms": {v: n.tolist() for v, n in norms.items()},
              "weight_norms": {v: n.tolist() for v, n in weights.items()}}
    for v, n in norms.items():
        result[f"{v} bottom/top"] = float(n[0] / n[-1])      # ‖∂E/∂h^0‖ / ‖∂E/∂h^(L-1)‖

    if can_draw():
        _plot(out / "residual_norm_depth.png", norms, weights, depth, hidden, T)
    result["seconds"] = time.perf_counter() - start

    print(f"{depth} stacked tanh RNN layers (hidden {hidden}, T = {T}), loss on the top layer; "
          f"geometric mean over {len(seeds)} initialisations")
    print(f"  {'stack':<22} {'‖∂E/∂x‖ (bottom)':>17} {'‖∂E/∂h^(L-1)‖ (top)':>20} {'bottom/top':>11}")
    for v, n in norms.items():
        print(f"  {v:<22} {n[0]:17.2e} {n[-1]:20.2e} {n[0] / n[-1]:11.2e}")
    print("  ‖∂E/∂(W, U)‖ of layer 1 (bottom) and layer L (top): " + ",  ".join(
        f"{v} {w[0]:.1e} / {w[-1]:.1e}" for v, w in weights.items()))
    print(f"figures in {out}/  ({result['seconds']:.1f} s)")
    return result


def _plot(path, norms, weights, depth, hidden, T):
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    left, right = fig.subplots(1, 2)
    for v in VARIANTS:
        left.plot(np.arange(depth), norms[v], marker="o", label=v)
        right.plot(np.arange(1, depth + 1), weights[v], marker="o", label=v)
    left.set_xticks(range(depth), ["$x$"] + [f"$h^{{{l}}}$" for l in range(1, depth)])
    left.set_xlabel("input of layer l + 1 (bottom: the data x)")
    left.set_ylabel(r"$\|\partial E / \partial h^l\|$")
    left.set_title("gradient on each layer's input")
    right.set_xlabel("layer")
    right.set_ylabel(r"$\|\partial E / \partial (W, U)\|$")
    right.set_title("gradient on each layer's weights")
    for ax in (left, right):
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = left.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(VARIANTS), fontsize=9)
    fig.suptitle(f"{depth} stacked tanh RNN layers, H = {hidden}, T = {T}, loss on the top layer")
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
