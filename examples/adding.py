"""The adding problem's model, training loop and loss plot, shared by `irnn` and `lstm_vs_rnn`.

A many-to-one net: a recurrent layer reads x (B, T, 2) and the readout maps its
last state to one number, ŷ = h_T V + c. Training is Adam on fresh batches with
the gradient norm clipped at 1; the test MSE is logged every few steps and
compared with the 1/6 of always predicting 1.0 (see `datasets.adding_problem`).
"""

from __future__ import annotations

import tinygrad_rnn as tg
from examples.datasets import ADDING_BASELINE, adding_problem
from examples.figures import Figure
from examples.progress import progress
from tinygrad_rnn import nn
from tinygrad_rnn.nn import functional as F


class Adder(nn.Module):
    """Many-to-one: a recurrent layer over x (B, T, 2), then ŷ = h_T V + c (B, 1)."""

    def __init__(self, layer):
        self.layer = layer
        self.readout = nn.Linear(layer.hidden_size, 1)

    def forward(self, x) -> tg.Tensor:
        outputs, _ = self.layer(x)                   # (B, T, H)
        return self.readout(outputs[:, -1])          # (B, 1)   from h_T


def evaluate(model: Adder, x, y) -> float:
    with tg.no_grad():
        return F.mse_loss(model(x), y).item()


def train(model: Adder, rng, steps: int, batch: int, T: int, lr: float, test, every: int,
          show_progress: bool = False, desc: str | None = None):
    """Adam on fresh batches, gradient norm clipped at 1; the test MSE every `every` steps."""
    params = model.parameters()
    opt = tg.optim.Adam(params, lr=lr)
    curve = [(0, evaluate(model, *test))]
    bar = progress(steps, enabled=show_progress, desc=desc)
    with tg.record_edge_grads(False):                # no renderer here: keep memory low
        for step in range(1, steps + 1):
            x, y = adding_problem(rng, batch, T)
            loss = F.mse_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            nn.clip_grad_norm_(params, 1.0)
            opt.step()
            bar.update()
            if step % every == 0 or step == steps:
                curve.append((step, evaluate(model, *test)))
                bar.set_postfix_str(f"test MSE {curve[-1][1]:.4f}")
    bar.close()
    return curve


def plot_curves(path, curves: dict, T: int) -> None:
    """Test MSE against training step, one line per model, and the 1/6 baseline."""
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    for label, curve in curves.items():
        steps, mse = zip(*curve)
        ax.plot(steps, mse, marker="o", markersize=3, label=label)
    ax.axhline(ADDING_BASELINE, color="gray", ls="--", label="always predict 1.0 (MSE 1/6)")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("test MSE")
    ax.set_title(f"Adding problem, T = {T}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=120)
