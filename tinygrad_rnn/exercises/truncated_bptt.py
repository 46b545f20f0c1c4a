"""Truncated BPTT: chunks of k steps, the state carried over, the graph cut between chunks.

    h_t = tanh(x_t W + h_{t-1} U + b)        E_t = ‖h_t - y_t‖²  (summed over the batch)

Split the T steps into chunks of k (the last one may be shorter) and return one loss
per chunk, L_j = Σ_{t in chunk j} E_t. The first chunk starts from h_0 = 0; every
later chunk starts from the last state of the chunk before, with its value carried
over but its graph cut (`h.detach()`), so the gradient of L_j stops at the start of
chunk j: at most k steps back, however long the sequence.

Write `chunk_losses(x, y, p, k)`: x (B, T, D) and y (B, T, H) numpy arrays, p a dict
of float64 Tensors W (D, H), U (H, H), b (H,) that require grad. Return the list of
chunk losses (scalar Tensors; do not call backward). The checker calls backward() on
each chunk's loss by itself and compares its value and ∂L_j/∂W, ∂L_j/∂U, ∂L_j/∂b
with the reference, chunk by chunk.
"""

import numpy as np

from ..tensor import Tensor
from .checking import ExerciseFailure, close, compare

NAME, PAGE, FUNCTION = "truncated_bptt", "remedies.md", "chunk_losses"
TEMPLATE = '''import numpy as np
import tinygrad_rnn as tg


def chunk_losses(x, y, p, k):
    """One loss per chunk of k steps, the state carried over with its graph cut."""
    B, T, D = x.shape
    h = tg.Tensor(np.zeros((B, p["U"].shape[0])))
    losses = []
    # your code: for each chunk, run its steps from h, sum ((h_t - y_t) ** 2).sum(),
    # append the chunk's loss, and carry h over to the next chunk
    return losses
'''
B, T, D, H, K = 2, 10, 3, 4, 4           # chunks of 4, 4 and 2 steps


def reference(x, y, p, k, carry: bool = True, cut: bool = True) -> list:
    """The chunk losses; carry=False restarts every chunk from 0, cut=False keeps the graph (full BPTT)."""
    h, losses = Tensor(np.zeros((x.shape[0], H))), []
    for start in range(0, x.shape[1], k):
        if not carry:
            h = Tensor(np.zeros((x.shape[0], H)))
        loss = Tensor(0.0)
        for t in range(start, min(start + k, x.shape[1])):
            h = (Tensor(x[:, t]) @ p["W"] + h @ p["U"] + p["b"]).tanh()          # (B, H)
            loss = loss + ((h - Tensor(y[:, t])) ** 2).sum()
        losses.append(loss)
        h = h.detach() if cut else h
    return losses


def params(seed: int = 5) -> dict:
    rng = np.random.default_rng(seed)
    return {"W": rng.normal(size=(D, H)), "U": rng.normal(size=(H, H)), "b": rng.normal(size=H) * 0.1}


def chunk_grads(losses, leaves: dict) -> list[dict]:
    """∂L_j/∂p for each chunk loss by itself (grads zeroed between chunks)."""
    out = []
    for loss in losses:
        for t in leaves.values():
            t.grad = None
        loss.backward(retain_graph=True)      # an uncut graph is walked again by the next chunk
        out.append({k: None if t.grad is None else t.grad.copy() for k, t in leaves.items()})
    return out


def fresh(values: dict) -> dict:
    return {k: Tensor(v.copy(), requires_grad=True, name=k) for k, v in values.items()}


def check(fn) -> str:
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(B, T, D)), rng.normal(size=(B, T, H)) * 0.5
    values = params()
    starts = list(range(0, T, K))
    where = [f"chunk {j + 1} (steps {s + 1}..{min(s + K, T)})" for j, s in enumerate(starts)]
    leaves_got = fresh(values)
    got = fn(x.copy(), y.copy(), leaves_got, K)
    if not isinstance(got, (list, tuple)) or len(got) != len(starts):
        raise ExerciseFailure(f"chunk_losses must return a list of {len(starts)} losses (T = {T}, k = {K}: "
                              f"chunks of 4, 4 and 2 steps), got {type(got).__name__}"
                              + (f" of length {len(got)}" if isinstance(got, (list, tuple)) else ""))
    if not all(isinstance(v, Tensor) for v in got):
        raise ExerciseFailure("every chunk loss must be a Tensor (so that backward() can run on it)")
    expected = reference(x, y, leaves_ref := fresh(values), K)
    restarted = reference(x, y, fresh(values), K, carry=False)
    for j, (e, g, r) in enumerate(zip(expected, got, restarted)):
        hint = ""
        if j > 0 and close(g.data, r.data):
            hint = "this chunk started from h = 0: carry the last state of the previous chunk over"
        compare(f"{where[j]}: L_{j + 1} (the value)", e.data, g.data, hint=hint)
    ref_grads = chunk_grads(expected, leaves_ref)
    got_grads = chunk_grads(got, leaves_got)
    full = chunk_grads(reference(x, y, leaves_full := fresh(values), K, cut=False), leaves_full)
    for j in range(len(starts)):
        for name in ("W", "U", "b"):
            g = got_grads[j][name]
            if g is None:
                raise ExerciseFailure(f"{where[j]}: ∂L_{j + 1}/∂{name} is None: {name} does not reach the "
                                      "chunk's loss through Tensor ops")
            hint = ""
            if j > 0 and close(g, full[j][name]):
                hint = (f"the gradient of L_{j + 1} flowed back into the chunks before it (full BPTT): "
                        "cut the graph between chunks with h = h.detach()")
            compare(f"{where[j]}: ∂L_{j + 1}/∂{name}", ref_grads[j][name], g, hint=hint)
    return (f"{len(starts)} chunks of at most {K} steps: the state carried over, the graph cut, "
            "each chunk's gradient matches")
