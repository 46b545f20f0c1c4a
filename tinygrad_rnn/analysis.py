"""Measuring vanishing and exploding gradients: the numbers behind the course's argument.

BPTT sends the gradient of a late loss E_T back to an early state h_k through
a product of one Jacobian per step:

    ∂E_T/∂h_k = ∂E_T/∂h_T · ∂h_T/∂h_k,     ∂h_T/∂h_k = Π_{k<t<=T} ∂h_t/∂h_{t-1}

For h_t = f(a_t), a_t = x_t W + h_{t-1} U + b (row convention), each factor is

    J_t[i, j] = ∂h_t[j] / ∂h_{t-1}[i] = U[i, j] · f'(a_t)[j],   i.e.   J_t = U diag(f'(a_t))

Layout used throughout this module: row i is the input unit h_{t-1}[i], column j
the output unit h_t[j] (the "gradient layout": a column gradient goes back as
∂E/∂h_{t-1} = J_t ∂E/∂h_t). The notes write W_h^T diag(1 - h_t²), derived with
column vectors h_t = tanh(W_h h_{t-1} + ...), whose W_h is our U^T: the same matrix
(tanh' = 1 - tanh², so f'(a_t) = 1 - h_t²). The Jacobian in numerator layout
(row j = output) is its transpose, diag(f'(a_t)) U^T; both have the same norms.
U^T diag(f'(a_t)), with our U, is neither (docs/conventions.md).
In this layout the product over steps reads left to right from early to late:

    ∂h_T/∂h_k = J_{k+1} J_{k+2} ... J_T                  (H, H)

and since ‖AB‖ <= ‖A‖ ‖B‖ and ‖diag f'‖ <= γ (γ = 1 for tanh, relu and the
identity, 1/4 for the sigmoid):

    ‖∂h_T/∂h_k‖_2 <= (γ ‖U‖_2)^(T-k)

so ‖U‖_2 < 1/γ is sufficient for vanishing, and γ ‖U‖_2 > 1 necessary for
exploding. With the eigen-decomposition U = Q diag(λ) Q^{-1}, U^n = Q diag(λ^n) Q^{-1}:
the spectral radius ρ(U) = max |λ| sets a linear RNN's long-run rate
(‖U^n‖^(1/n) -> ρ), but bounds nothing at finite n unless U is normal (then
‖U‖_2 = ρ): U = [[0.9, 5], [0, 0.9]] has ρ = 0.9 and ‖U^10‖_2 = 19.4.

Every Jacobian here is computed by the engine itself (`backward()` with one-hot
seeds), not from the formula above: the formula is what the tests check it against.
"""

from __future__ import annotations

import math

import numpy as np

from .autograd import walk
from .context import scope
from .errors import GraphError, edges_not_recorded
from .tensor import Tensor

GAMMA = {"tanh": 1.0, "relu": 1.0, "identity": 1.0, "linear": 1.0, "sigmoid": 0.25}
"""γ = max |f'|: the largest slope of each nonlinearity (σ' = σ(1 - σ) <= 1/4)."""


# ---- the norm ------------------------------------------------------------------
def norm(values, ord: float = 2.0) -> float:
    """‖v‖_p of any array (a gradient, a list of norms), as a Python float: the one
    norm the package computes (edge labels, the monitor, clipping, state norms).

    Entrywise over the whole array (Frobenius for a matrix), in float64, and
    without overflow: m · (Σ (|v|/m)^p)^(1/p) with m = max |v|, since 1e200² is
    Inf. ord=inf gives max |v|. NaN in, NaN out; 0 for an empty array.
    """
    a = np.abs(np.asarray(values, dtype=np.float64))
    m = float(a.max()) if a.size else 0.0        # NaN if any entry is NaN
    if m == 0.0 or not math.isfinite(m) or math.isinf(ord):
        return m
    if ord == 2.0:
        return m * math.sqrt(float(np.sum(np.square(a / m))))
    return m * float(np.sum((a / m) ** ord)) ** (1.0 / ord)


# ---- per-step gradient norms from a backward pass ----------------------------
def state_grad_norms(states, name: str = "h_t", lane: str | None = None) -> np.ndarray:
    """‖∂E/∂h_t‖ for t = 1..T, read from the `.grad` that backward() left on each h_t.

    `states`: a list [h_1, ..., h_T] of Tensors, a sequence layer (its `.states`),
    or the root of a graph (the loss): then the states are found in it, the last
    tensor called `name` in each time step of layer `lane` ("rnn", or "rnn (2)"
    for a second call of the same layer; default: the first one).
    The norm is over the whole (B, H) gradient (Frobenius). A state no gradient
    reached (e.g. one after the last loss term) counts as 0.
    """
    if isinstance(states, Tensor):
        from .viz.graph import states_in_graph
        states = states_in_graph(states, name, lane)
    elif hasattr(states, "states"):
        states = states.states
    return grad_norms_of(states, "state_grad_norms")


def grad_norms_of(states: list, who: str) -> np.ndarray:
    """‖h.grad‖ per state, 0 where none reached it; refused when none has a gradient at all:
    backward() has not run, and T zeros would read as a vanished gradient."""
    grads = [h.grad for h in states]
    if states and all(g is None for g in grads):
        raise GraphError(f"{who}: none of the {len(states)} states ('{states[0].name}' in scope "
                         f"'{states[0].scope}' .. '{states[-1].scope}') has a gradient; call it after "
                         "loss.backward() (and before zero_grad())")
    return np.array([0.0 if g is None else norm(g) for g in grads])


def param_edge_grads(root: Tensor, param: Tensor) -> dict[str, np.ndarray]:
    """What each use of a shared parameter sent back to it: {scope: gradient}.

    A weight used at every step is one leaf with one edge per use; backward()
    adds the edges' shares, which is the sum ∂E/∂U = Σ_k (the term of step k).
    This returns the terms, keyed by the scope of the op that read `param`
    (e.g. "rnn/t=3"); their sum is `param.grad`. Needs record_edge_grads (the default):
    after an unrecorded backward() there are no terms, and a GraphError says so (not {}).
    Two uses in one scope are added together. Each value is an array of its own, never
    the record itself (writing into it would change the picture) nor a lazy record's sum
    (a sum of two lazy records is extended in place by the next `+`).
    """
    out = {}
    for node in walk(root):
        if node.edge_grads is None and node.requires_grad and any(p is param for p in node.parents):
            raise GraphError(edges_not_recorded(param.name, param.shape, node.op, node.scope))  # not {}
        for p, g in zip(node.parents, node.edge_grads or ()):
            if p is param and g is not None:
                out[node.scope] = out[node.scope] + g if node.scope in out else np.array(g)
    return out


# ---- Jacobians ∂h_t/∂h_{t-1}, computed by the engine -------------------------
def step_jacobian(cell, x_t, h_prev) -> tuple[np.ndarray, np.ndarray]:
    """J_t = ∂h_t/∂h_{t-1} (H, H) for one sequence, by backward() with one-hot seeds.

    `cell(x_t, h)` is any one-step map (an `nn.RNNCell`, or a lambda); x_t (1, D)
    or (D,), h_prev (1, H) or (H,). Seeding backward with the one-hot e_j on h_t
    gives row j of the textbook Jacobian on h_{t-1}.grad: ∂h_t[j]/∂h_{t-1}[i] for
    every i. All H seeds go in one backward: the batch holds H copies of the step
    and copy j is seeded with e_j (the seed is the identity matrix).
    The cell's own weights (any other leaf that requires grad) keep the `.grad` they had.
    Returns (J_t in the gradient layout J[i, j] = ∂h_t[j]/∂h_{t-1}[i], h_t (H,)).
    """
    x_t, h_prev = np.asarray(x_t).reshape(1, -1), np.asarray(h_prev).reshape(1, -1)
    H = h_prev.shape[1]
    h = Tensor(np.repeat(h_prev, H, axis=0), requires_grad=True, name="h_{t-1}")   # (H, H)
    h_t = cell(Tensor(np.repeat(x_t, H, axis=0)), h)                             # (H, H)
    weights = [(w, w.grad) for w in walk(h_t) if w.op is None and w.requires_grad and w is not h]
    h_t.backward(np.eye(H, dtype=h_t.dtype))   # copy j seeded with e_j
    for w, g in weights:
        w.grad = g
    if h.grad is None:                         # h_t does not depend on h_{t-1} at all
        return np.zeros((H, H), h_t.dtype), h_t.data[0]
    return h.grad.T, h_t.data[0]               # h.grad[j, i] = ∂h_t[j]/∂h_{t-1}[i]


def step_jacobians(cell, x, h0=None, name: str = "rnn") -> tuple[list[np.ndarray], np.ndarray]:
    """[J_1, ..., J_T] along one sequence x (T, D) (or (1, T, D)), and the states.

    Runs the cell forward from h0 (zeros by default), and at every step asks the
    engine for J_t = ∂h_t/∂h_{t-1} (see `step_jacobian`). Returns the list of
    (H, H) Jacobians in the gradient layout and the states h_0..h_T as (T + 1, H).
    """
    x = np.asarray(x.data if isinstance(x, Tensor) else x)
    x = x[0] if x.ndim == 3 else x                                            # (T, D)
    H = _hidden_size(cell, h0)
    h = np.zeros(H, dtype=x.dtype) if h0 is None else np.asarray(h0).reshape(-1)
    Js, hs = [], [h]
    for t in range(1, len(x) + 1):
        with scope(f"{name}/t={t}"):
            J, h = step_jacobian(cell, x[t - 1], h)
        Js.append(J)
        hs.append(h)
    return Js, np.stack(hs)


def _hidden_size(cell, h0) -> int:
    if h0 is not None:
        return int(np.asarray(h0).size)
    if hasattr(cell, "hidden_size"):
        return cell.hidden_size
    raise ValueError("step_jacobians: pass h0 (H,) when the cell has no `hidden_size` attribute")


def jacobian_products(Js) -> list[np.ndarray]:
    """[∂h_T/∂h_0, ∂h_T/∂h_1, ..., ∂h_T/∂h_T] from [J_1, ..., J_T].

    ∂h_T/∂h_k = J_{k+1} ... J_T, built from the end: P_T = I, P_{k-1} = J_k P_k
    (the same right-to-left sweep backward() makes, one matrix at a time).
    """
    P = np.eye(Js[-1].shape[0], dtype=Js[-1].dtype)
    out = [P]
    for J in reversed(Js):
        P = J @ P
        out.append(P)
    return out[::-1]


def jacobian_norms(Js, ord=2) -> np.ndarray:
    """‖∂h_T/∂h_k‖ for k = 0..T (spectral norm by default), from [J_1, ..., J_T]."""
    return np.array([np.linalg.norm(P, ord=ord) for P in jacobian_products(Js)])


# ---- the recurrent matrix ------------------------------------------------------
def eigenvalues(U) -> np.ndarray:
    """The eigenvalues λ of U (complex in general), largest |λ| first."""
    lam = np.linalg.eigvals(_matrix(U))
    return lam[np.argsort(-np.abs(lam), kind="stable")]


def spectral_radius(U) -> float:
    """ρ(U) = max |λ_i(U)|: the rate at which U^n grows or shrinks (‖U^n‖^(1/n) -> ρ)."""
    a = _matrix(U, "spectral_radius")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"spectral_radius: the matrix {a.shape} holds NaN or Inf")
    return float(np.abs(eigenvalues(a)[0])) if a.size else 0.0


def spectral_norm(U) -> float:
    """‖U‖_2, the largest singular value; ρ(U) <= ‖U‖_2, equal when U is normal (e.g. symmetric)."""
    return float(np.linalg.norm(_matrix(U), ord=2))


def _matrix(U, fn: str = "analysis") -> np.ndarray:
    a = np.asarray(U.data if isinstance(U, Tensor) else U, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        if fn == "spectral_radius":
            raise ValueError(f"spectral_radius: needs a square matrix, got shape {a.shape}; "
                             "only a recurrent matrix U (H, H) has eigenvalues")
        raise ValueError(f"analysis: a recurrent matrix must be square (H, H), got shape {a.shape}")
    return a


def gradient_bound(U, distances, nonlinearity: str = "tanh", scale: float = 1.0) -> np.ndarray:
    """The course's bound scale · (γ ‖U‖_2)^(T-k) at each distance T - k.

    With scale = ‖∂E_T/∂h_T‖ it bounds ‖∂E_T/∂h_k‖; with scale = 1, ‖∂h_T/∂h_k‖_2.
    γ = max |f'| (`GAMMA`): 1 for tanh, relu and the identity, 1/4 for the sigmoid.
    """
    if nonlinearity not in GAMMA:
        raise ValueError(f"gradient_bound: unknown nonlinearity {nonlinearity!r}; "
                         f"choose one of {', '.join(map(repr, GAMMA))}")
    n = np.asarray(distances, dtype=np.float64)
    return scale * (GAMMA[nonlinearity] * spectral_norm(U)) ** n
