"""BPTT by hand: the course's 5-step RNN, its gradients term by term, next to autograd's.

    h_t = tanh(x_t W + h_{t-1} U)        y_t = softmax(h_t V)
    E_t = -log y_t[target_t]              E = Σ_t E_t

The network reads "hello" one character at a time and predicts the next one
("ello!"). The notes derive the gradients one piece at a time:

    ∂E/∂V = Σ_t h_t^T (y_t - o_t)                           (o_t: one-hot target)
    ∂E_t/∂U = Σ_{k<=t} ∂E_t/∂y_t ∂y_t/∂h_t (Π_{k<i<=t} ∂h_i/∂h_{i-1}) ∂h_k/∂U
    ∂h_i/∂h_{i-1} = U diag(1 - h_i²)        (gradient layout, row = input unit; the notes'
                                            W_h^T diag(σ') with W_h = U^T; docs/conventions.md)

and ∂E/∂W likewise with ∂h_k/∂W. The term of step k is what the use of U inside
step k contributes; summed over t >= k, it is exactly the gradient that backward()
sends along the edge from the shared U into step k of the unrolled graph. This
script computes every term in numpy, compares each with that edge, compares the
sums with autograd (float64: they agree to ~1e-16), and draws the graph.

    python examples/bptt_by_hand.py [--out out/bptt_by_hand]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # `python examples/bptt_by_hand.py`: make the repo importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tinygrad_rnn as tg  # noqa: E402
from tinygrad_rnn import analysis, viz  # noqa: E402

TEXT = "hello!"
VOCAB = "helo!"


def one_hot(i: int, n: int) -> np.ndarray:
    v = np.zeros((1, n))
    v[0, i] = 1.0
    return v


def make_problem(seed: int, hidden: int):
    """Inputs x_t (1, K), targets, and W (K, H), U (H, H), V (H, K) in float64."""
    rng = np.random.default_rng(seed)
    K = len(VOCAB)
    ids = [VOCAB.index(c) for c in TEXT]
    xs = [one_hot(i, K) for i in ids[:-1]]                     # "hello"
    targets = ids[1:]                                          # "ello!"
    W = rng.normal(0, 0.5, (K, hidden))
    U = rng.normal(0, 0.5, (hidden, hidden))
    V = rng.normal(0, 0.5, (hidden, K))
    return xs, targets, W, U, V


# ---- autograd: the forward pass builds the unrolled graph --------------------
def autograd(xs, targets, W0, U0, V0):
    """The RNN in Tensors; every step in scope "rnn/t=k". Returns E, (W, U, V)."""
    W = tg.Tensor(W0, requires_grad=True, name="W")
    U = tg.Tensor(U0, requires_grad=True, name="U")
    V = tg.Tensor(V0, requires_grad=True, name="V")
    h = tg.Tensor(np.zeros((1, U0.shape[0])), name="h_0")        # (1, H)
    E = None
    for t, (x_t, target) in enumerate(zip(xs, targets), start=1):
        with tg.scope(f"rnn/t={t}"):
            h = (tg.Tensor(x_t, name=f"x_{t}") @ W + h @ U).tanh()  # (1, H)  h_t
            h.name = "h_t"
            y = (h @ V).softmax()                                   # (1, K)  y_t
            y.name = "y_t"
            E_t = -y[0, target].log()                               # ()      E_t
            E_t.name = "E_t"
        E = E_t if E is None else E + E_t
    E.name = "E"
    E.backward()
    return E, (W, U, V)


# ---- by hand: the notes' formulas, one term per earlier step -----------------
def by_hand(xs, targets, W, U, V):
    """∂E/∂V, ∂E/∂U, ∂E/∂W from the notes' formulas, plus the per-step terms of U and W."""
    T, H, K = len(xs), U.shape[0], V.shape[1]
    hs = [np.zeros((1, H))]                                    # h_0
    ys = []
    for x_t in xs:                                             # forward
        hs.append(np.tanh(x_t @ W + hs[-1] @ U))               # (1, H)
        z = hs[-1] @ V
        ys.append(np.exp(z - z.max()) / np.exp(z - z.max()).sum())   # (1, K)
    E = -sum(np.log(ys[t][0, targets[t]]) for t in range(T))

    dV = np.zeros_like(V)
    U_terms = [np.zeros_like(U) for _ in range(T + 1)]         # U_terms[k]: use of U in step k
    W_terms = [np.zeros_like(W) for _ in range(T + 1)]
    for t in range(1, T + 1):
        dE_dz = ys[t - 1] - one_hot(targets[t - 1], K)          # (1, K)  ∂E_t/∂y_t ∂y_t/∂z_t
        dV += hs[t].T @ dE_dz                                   # (H, K)  h_t^T (y_t - o_t)
        dE_dh_t = dE_dz @ V.T                                   # (1, H)  ∂E_t/∂h_t
        for k in range(1, t + 1):
            P = np.eye(H)                                       # Π_{k<i<=t} ∂h_i/∂h_{i-1}
            for i in range(k + 1, t + 1):
                P = P @ (U @ np.diag(1 - hs[i][0] ** 2))        # J_i = U diag(1 - h_i²)
            dE_dh_k = (P @ dE_dh_t.T).T                         # (1, H)  ∂E_t/∂h_k
            dE_da_k = dE_dh_k * (1 - hs[k] ** 2)                # (1, H)  through tanh of step k
            U_terms[k] += hs[k - 1].T @ dE_da_k                 # (H, H)  ∂h_k/∂U: a_k = ... + h_{k-1} U
            W_terms[k] += xs[k - 1].T @ dE_da_k                 # (K, H)  ∂h_k/∂W: a_k = x_k W + ...
    dU, dW = sum(U_terms[1:]), sum(W_terms[1:])
    return E, dV, dU, dW, U_terms[1:], W_terms[1:]


def show(name, hand, auto):
    diff = float(np.max(np.abs(hand - auto)))
    print(f"\n∂E/∂{name} by hand:\n{np.array2string(hand, precision=6, suppress_small=True)}")
    print(f"∂E/∂{name} by autograd:\n{np.array2string(auto, precision=6, suppress_small=True)}")
    print(f"max |hand - autograd| = {diff:.2e}")
    return diff


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="same run (it is already fast)")
    parser.add_argument("--out", default="out/bptt_by_hand")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hidden", type=int, default=3)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tg.manual_seed(args.seed)

    xs, targets, W0, U0, V0 = make_problem(args.seed, args.hidden)
    E, (W, U, V) = autograd(xs, targets, W0, U0, V0)
    E_hand, dV, dU, dW, U_terms, W_terms = by_hand(xs, targets, W0, U0, V0)
    print(f"5-step RNN on {TEXT[:-1]!r} -> {TEXT[1:]!r}, H = {args.hidden}, float64")
    print(f"E by hand {E_hand:.12f}   E by the engine {E.item():.12f}")

    diffs = {"V": show("V", dV, V.grad), "U": show("U", dU, U.grad), "W": show("W", dW, W.grad)}

    # Each term of the sum is one edge of the graph: the shared U (and W) fans out
    # into every step, and backward() records what flowed back along each edge.
    U_edges, W_edges = analysis.param_edge_grads(E, U), analysis.param_edge_grads(E, W)
    print("\nthe term of step k (the use of U inside step k, summed over t >= k)"
          "\nagainst the gradient on the edge U -> step k of the graph (and the same for W):")
    print(f"{'k':>3}  {'‖U term_k‖ by hand':>18}  {'‖edge U→k‖':>12}  "
          f"{'max |diff| U':>12}  {'max |diff| W':>12}")
    U_diffs, W_diffs = [], []
    for k, (U_term, W_term) in enumerate(zip(U_terms, W_terms), start=1):
        edge = U_edges[f"rnn/t={k}"]
        U_diffs.append(float(np.max(np.abs(U_term - edge))))
        W_diffs.append(float(np.max(np.abs(W_term - W_edges[f"rnn/t={k}"]))))
        print(f"{k:>3}  {np.linalg.norm(U_term):>18.6e}  {np.linalg.norm(edge):>12.6e}  "
              f"{U_diffs[-1]:>12.1e}  {W_diffs[-1]:>12.1e}")
    print("(step 1 reads h_0 = 0, so its use of U contributes nothing)")

    graph = viz.draw_graph(E, title="5-step RNN: ‖∂E/∂·‖ on every edge")
    figures = [viz.write(graph, out / f"bptt_graph.{ext}") for ext in ("svg", "png")]
    print(f"\nop-level graph: {', '.join(map(str, figures))}")
    return {"E": E.item(), "E_hand": E_hand, "max_diff": diffs,
            "max_term_diff": {"U": max(U_diffs), "W": max(W_diffs)},
            "term_norms": [float(np.linalg.norm(t)) for t in U_terms], "figures": [str(f) for f in figures]}


if __name__ == "__main__":
    main()
