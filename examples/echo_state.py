"""Echo state network: a fixed random reservoir, and only the linear readout is trained.

The remedy from the course that sidesteps vanishing and exploding gradients by never
backpropagating through time at all (Jaeger, 2001). The recurrent part is an RNN cell

    h_t = tanh(x_t W + h_{t-1} U + b)          W, U, b random and FIXED

with U rescaled so that its spectral radius ρ(U) < 1. That is the usual recipe; the
guarantee is σ_max(U) = ‖U‖₂ < 1 (tanh is 1-Lipschitz, so ‖h_t - h'_t‖ <=
‖U‖₂ ‖h_{t-1} - h'_{t-1}‖), and this reservoir's ‖U‖₂ is above 1 (printed below), so
here the property is observed, not promised. With it, the state forgets where it
started: two copies of the reservoir started from different h_0 and fed the same
inputs converge to the same trajectory (the *echo state property*), so h_t is a
function of the recent inputs alone, a rich nonlinear "echo" of them. Only the
readout  ŷ_t = h_t V + c  is learned, and that is linear regression:

    V = (HᵀH + λI)⁻¹ Hᵀ y          (ridge regression, in closed form)

or, equivalently, a few hundred steps of gradient descent on the readout alone.
The task is one-step-ahead prediction of the chaotic Mackey-Glass series.

Run:  python examples/echo_state.py [--quick] [--out DIR] [--seed N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):          # `python examples/echo_state.py`: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

import tinygrad_rnn as tg
from examples.datasets import mackey_glass
from examples.figures import Figure, can_draw
from tinygrad_rnn import nn


def make_reservoir(n_units: int, rho: float, input_scale: float = 0.5) -> nn.RNNCell:
    """An RNNCell with random W, U, b, and U scaled to spectral radius rho."""
    cell = nn.RNNCell(1, n_units, dtype=np.float64)              # float64: see the gap fall to 1e-15
    nn.init.uniform_(cell.W, -input_scale, input_scale)      # (1, N)
    nn.init.normal_(cell.U, 0.0, 1.0)                        # (N, N)
    nn.init.spectral_radius_(cell.U, rho)                    # ρ(U) = rho
    nn.init.uniform_(cell.b, -0.1, 0.1)                      # (N,)
    return cell


def run_reservoir(cell: nn.RNNCell, u: np.ndarray, h0: np.ndarray | None = None) -> np.ndarray:
    """States h_1..h_T (T, N) for the input series u (T,), one sequence (B = 1).

    Under no_grad(): the reservoir is never trained, so no graph is built.
    """
    h = None if h0 is None else tg.Tensor(h0[None].astype(cell.U.dtype))
    states = []
    with tg.no_grad():
        for u_t in u:
            h = cell(np.array([[u_t]], dtype=cell.U.dtype), h)   # (1, N)
            states.append(h.data[0])
    return np.array(states)                                      # (T, N)


def ridge(H: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """V = (HᵀH + λI)⁻¹ Hᵀ y, with a column of ones in H for the bias c."""
    H1 = np.hstack([H, np.ones((len(H), 1))])                    # (T, N + 1)
    A = H1.T @ H1 + lam * np.eye(H1.shape[1])                    # (N + 1, N + 1)
    return np.linalg.solve(A, H1.T @ y)                          # (N + 1,)


def predict(V: np.ndarray, H: np.ndarray) -> np.ndarray:
    return H @ V[:-1] + V[-1]                                    # (T,)


def train_readout_gd(H: np.ndarray, y: np.ndarray, steps: int, lr: float) -> nn.Linear:
    """The same readout learned with the engine: Adam on mse(h_t V + c, y_t).

    The reservoir states are plain data here: the gradient stops at the readout,
    so there is no backpropagation through time at all.
    """
    readout = nn.Linear(H.shape[1], 1, dtype=np.float64)
    nn.init.zeros_(readout.weight)
    opt = tg.optim.Adam(readout.parameters(), lr=lr)
    Ht, yt = tg.Tensor(H), tg.Tensor(y[:, None])                 # (T, N), (T, 1)
    for _ in range(steps):
        loss = nn.functional.mse_loss(readout(Ht), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return readout


def nrmse(pred: np.ndarray, target: np.ndarray) -> float:
    """Root mean squared error divided by the target's standard deviation:
    1.0 is as good as predicting the mean, 0.0 is perfect."""
    return float(np.sqrt(np.mean((pred - target) ** 2)) / np.std(target))


def echo_state_property(cell: nn.RNNCell, u: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """‖h_t - h'_t‖ for two runs from different random h_0 on the same inputs."""
    N = cell.hidden_size
    a = run_reservoir(cell, u, rng.uniform(-1, 1, N))
    b = run_reservoir(cell, u, rng.uniform(-1, 1, N))
    return np.linalg.norm(a - b, axis=1)                         # (T,)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a small run for CI")
    p.add_argument("--out", default="out/echo_state", help="folder for the figures")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    tg.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    n_units, n_train, n_test, washout = (100, 600, 300, 100) if args.quick else (300, 2000, 1000, 200)
    rho, lam, gd_steps = 0.9, 1e-6, (300 if args.quick else 1000)

    # ---- data: u_t -> u_{t+1}, standardised with the training statistics ----
    series = mackey_glass(washout + n_train + n_test + 1, rng=rng)
    mu, sd = series[:washout + n_train].mean(), series[:washout + n_train].std()
    series = (series - mu) / sd
    u, target = series[:-1], series[1:]                          # input u_t, target u_{t+1}

    # ---- the reservoir: fixed, ρ(U) < 1, never trained ----------------------
    cell = make_reservoir(n_units, rho)
    rho_measured = tg.analysis.spectral_radius(cell.U)
    sigma_max = float(np.linalg.norm(cell.U.data, 2))             # ‖U‖₂: the guarantee needs < 1
    H = run_reservoir(cell, u).astype(np.float64)                # (T, N)
    train = slice(washout, washout + n_train)                    # drop the transient
    test = slice(washout + n_train, None)

    # ---- the readout, two ways ------------------------------------------------
    V = ridge(H[train], target[train], lam)
    nrmse_ridge = nrmse(predict(V, H[test]), target[test])
    readout = train_readout_gd(H[train], target[train], gd_steps, lr=0.01)
    with tg.no_grad():
        pred_gd = readout(tg.Tensor(H[test])).data[:, 0]
    nrmse_gd = nrmse(pred_gd, target[test])
    nrmse_naive = nrmse(u[test], target[test])                   # "tomorrow = today"
    reservoir_untouched = all(q.grad is None for q in cell.parameters())

    # ---- the echo state property ----------------------------------------------
    T_esp = 300 if args.quick else 500
    gap = echo_state_property(cell, u[:T_esp], rng)
    gap_unstable = echo_state_property(make_reservoir(n_units, 1.5), u[:T_esp], rng)

    if can_draw():
        _plot_prediction(out / "echo_state_prediction.png", target[test], predict(V, H[test]),
                     u[test], nrmse_ridge, nrmse_naive)
    _plot_gap(out / "echo_state_property.png", {f"ρ(U) = {rho}": gap, "ρ(U) = 1.5": gap_unstable})

    result = dict(rho=rho_measured, sigma_max=sigma_max, nrmse_ridge=nrmse_ridge, nrmse_gd=nrmse_gd,
                  nrmse_naive=nrmse_naive, gap_start=float(gap[0]), gap_end=float(gap[-1]),
                  gap_unstable_end=float(gap_unstable[-1]), reservoir_untouched=reservoir_untouched,
                  seconds=time.perf_counter() - start)
    print(f"reservoir: {n_units} tanh units, spectral radius ρ(U) = {rho_measured:.3f}, never trained "
          f"(‖U‖₂ = {sigma_max:.2f}: the echo state property is "
          f"{'guaranteed' if sigma_max < 1 else 'observed, not guaranteed'})")
    print(f"one-step-ahead Mackey-Glass prediction on {n_test} test steps, "
          "NRMSE (1.0 = predicting the mean):")
    print(f"  ridge readout (closed form)      {nrmse_ridge:.4f}")
    print(f"  readout by gradient descent      {nrmse_gd:.4f}   ({gd_steps} Adam steps on the readout only)")
    print(f"  naive baseline u_(t+1) = u_t     {nrmse_naive:.4f}")
    print(f"echo state property: ‖h_t - h'_t‖ from two random h_0 goes {gap[0]:.2f} -> {gap[-1]:.1e} "
          f"in {T_esp} steps (ρ = {rho}); with ρ = 1.5 it ends at {gap_unstable[-1]:.1e}")
    print(f"figures in {out}/  ({result['seconds']:.1f} s)")
    return result


def _plot_prediction(path, target, pred, naive, e_ridge, e_naive):
    fig = Figure(figsize=(8, 5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    n = min(300, len(target))
    top.plot(target[:n], color="black", lw=2.5, label="Mackey-Glass u_(t+1)")
    top.plot(pred[:n], color="tab:orange", lw=1, label="reservoir + ridge readout")
    top.plot(naive[:n], color="tab:blue", lw=1, ls=":", label="naive: u_t")
    top.set_title("Echo state network: one-step-ahead prediction, only the readout trained")
    top.legend(fontsize=8, loc="upper right", framealpha=0.9)
    bottom.semilogy(np.abs(pred[:n] - target[:n]), color="tab:orange",
                    label=f"reservoir + ridge readout (NRMSE {e_ridge:.1e})")
    bottom.semilogy(np.abs(naive[:n] - target[:n]), color="tab:blue", ls=":",
                    label=f"naive (NRMSE {e_naive:.1e})")
    bottom.set_xlabel("test step")
    bottom.set_ylabel("|error|")
    bottom.legend(fontsize=8, loc="lower right", framealpha=0.9)
    fig.savefig(path, dpi=110)


def _plot_gap(path, runs):
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.subplots()
    for label, gap in runs.items():
        ax.semilogy(np.arange(1, len(gap) + 1), np.maximum(gap, 1e-17), label=label)
    ax.set_xlabel("t")
    ax.set_ylabel("‖h_t − h'_t‖")
    ax.set_title("Echo state property: two initial states, same inputs")
    ax.legend()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
