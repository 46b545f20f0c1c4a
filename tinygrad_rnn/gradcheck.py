"""gradcheck: compare backward() with central finite differences, and say where it breaks.

    ∂E/∂x[i] ≈ (E(x + ε e_i) - E(x - ε e_i)) / 2ε          (error O(ε²), in float64)

When the whole-graph check fails, an unrolled graph is too big to eyeball, so
the failure is localised three ways: the error per input (which parameter), the
check repeated on each edge into a shared parameter (which time step: the graph
is replayed with only that one use of the parameter perturbed), and each op's
VJP checked on its own (the first op, in forward order, whose rule is wrong).
"""

from __future__ import annotations

import numpy as np

from .autograd import walk
from .context import no_grad, record_edge_grads
from .ops import unbroadcast
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Analytic and numeric gradients disagree; the message says where."""


class GradcheckUndecidable(GradcheckError):
    """The check cannot decide: a gradient or a finite difference is NaN or Inf.

    A NaN compares False with everything, so one NaN would hide every disagreement
    and the check would report success; it reports that it could not check instead.
    """


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              seed: int = 0) -> bool:
    """True if backward() of `fn(*inputs)` matches finite differences, else raise.

    Inputs are copied to float64; those that require grad (every numpy array
    does) are checked. A non-scalar output is reduced as ``sum(R * fn(...))``
    with a fixed random ``R``, which checks a random projection of the Jacobian.
    """
    _check_settings(eps, atol, rtol)
    rng = np.random.default_rng(seed)
    xs = [Tensor(np.array(_array(x), dtype=np.float64),
                 requires_grad=not isinstance(x, Tensor) or x.requires_grad,
                 name=getattr(x, "name", f"input {k}")) for k, x in enumerate(inputs)]
    checked = [x for x in xs if x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad; nothing to check")
    if all(x.size == 0 for x in checked):
        raise GradcheckUndecidable(f"gradcheck cannot check: every input that requires grad is "
                                   f"empty ({', '.join(str(x.shape) for x in checked)}); there is "
                                   "no element to compare")
    with record_edge_grads(True):       # every value kept (memory.py): the diagnostics re-run each op
        out = fn(*xs)
    if not isinstance(out, Tensor) or out.dtype.kind != "f":
        raise TypeError(f"gradcheck: fn must return a float Tensor, got "
                        f"{type(out).__name__ if not isinstance(out, Tensor) else out.dtype}")
    R = rng.standard_normal(out.shape)
    loss = (out * R).sum() if out.size != 1 else out.sum()
    with record_edge_grads(True):
        loss.backward(retain_graph=True)

    def E():
        with no_grad():
            y = fn(*xs)
        return float(np.sum(y.data * R)) if y.size != 1 else float(y.data.sum())

    report, worst = [], None
    for k, x in enumerate(checked):
        numeric = np.zeros_like(x.data)
        for i in np.ndindex(x.shape):
            old = x.data[i]
            x.data[i] = old + eps
            up = E()
            x.data[i] = old - eps
            down = E()
            x.data[i] = old
            numeric[i] = (up - down) / (2 * eps)
        analytic = x.grad if x.grad is not None else np.zeros_like(x.data)
        _decidable(k, x, analytic, numeric)
        excess = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if excess.size and excess.max() > 0:
            i = np.unravel_index(np.argmax(excess), x.shape)
            report.append(f"  input {k} '{x.name}' {x.shape}: max |analytic - numeric| = "
                          f"{np.abs(analytic - numeric).max():.3e}")
            if worst is None or excess[i] > worst[0]:
                worst = (excess[i], k, x, i, analytic[i], numeric[i])
    if worst is None:
        return True
    _, k, x, i, a, n = worst
    lines = [f"gradcheck failed: input {k} '{x.name}' {x.shape} at index {tuple(map(int, i))}: "
             f"analytic {a:.6e} vs numeric {n:.6e}", "per input:", *report]
    lines += _per_step(loss, x, eps, rng)
    lines += _first_bad_vjp(loss, eps, atol, rtol, rng)
    raise GradcheckError("\n".join(lines))


def _check_settings(eps, atol, rtol) -> None:
    for name, value, low in (("eps", eps, "> 0"), ("atol", atol, ">= 0"), ("rtol", rtol, ">= 0")):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
            raise TypeError(f"gradcheck: {name} must be a number, got {type(value).__name__} {value!r}")
        if not (np.isfinite(value) and (value > 0 if name == "eps" else value >= 0)):
            raise ValueError(f"gradcheck: {name} must be finite and {low}, got {value!r}")


def _decidable(k, x, analytic, numeric) -> None:
    """Refuse to judge NaN or Inf: a comparison with NaN is False, so it would pass."""
    for what, values in (("input", x.data), ("analytic gradient (backward)", analytic),
                         ("finite difference", numeric)):
        bad = ~np.isfinite(values)
        if bad.any():
            i = tuple(int(j) for j in np.argwhere(bad)[0])
            raise GradcheckUndecidable(
                f"gradcheck cannot check input {k} '{x.name}' {x.shape}: the {what} holds "
                f"{int(bad.sum())} NaN/Inf (first at index {i}: analytic {analytic[i]:.6e}, numeric "
                f"{numeric[i]:.6e}). The function is not differentiable there (log or pow at 0, a "
                "division by 0, an overflow): move the inputs into its domain and check again")


def _array(x):
    return x.data if isinstance(x, Tensor) else x


def _replay(order, root, override=None):
    """Recompute the graph forward from its leaves; `override[(node, i)]` replaces
    the value node's i-th input sees, so one edge can be perturbed alone."""
    values = {}
    for node in order:
        if node._op is None:
            values[node] = node.data
            continue
        xs = [values.get(p, p.data) for p in node._parents]
        for (n, i), v in (override or {}).items():
            if n is node:
                xs[i] = v
        values[node] = node._op.forward(*xs, **node._params)
    return float(np.sum(values[root]))


def _forward_order(root):
    return walk(root, needs_grad=True)


def _per_step(root, x, eps, rng) -> list[str]:
    """Check each edge out of `x` (one per time step for a shared weight) on its own."""
    order = _forward_order(root)
    lines = []
    for node in order:
        for i, p in enumerate(node._parents):
            if p is not x or node.edge_grads is None:
                continue
            V = rng.standard_normal(x.shape)
            up = _replay(order, root, {(node, i): x.data + eps * V})
            down = _replay(order, root, {(node, i): x.data - eps * V})
            numeric, analytic = (up - down) / (2 * eps), float(np.sum(node.edge_grads[i] * V))
            ok = abs(analytic - numeric) <= 1e-5 + 1e-3 * abs(numeric)
            lines.append(f"  edge '{x.name}' -> {node.op} in scope '{node.scope or '-'}': "
                         f"analytic {analytic:.6e} vs numeric {numeric:.6e}"
                         f"{'' if ok else '   <-- disagrees'}")
    return ["per use of that input (one edge per time step for a shared weight):", *lines] \
        if lines else []


def _first_bad_vjp(root, eps, atol, rtol, rng) -> list[str]:
    """Dot-product test of each op's VJP alone: <G, J V> numerically vs <VJP(G), V>."""
    for node in _forward_order(root):
        if node._op is None:
            continue
        xs = [p.data for p in node._parents]
        G = rng.standard_normal(node.shape)
        for i, p in enumerate(node._parents):
            if not p.requires_grad:
                continue
            V = rng.standard_normal(p.shape)

            def f(xi):
                args = xs[:i] + [xi] + xs[i + 1:]
                return float(np.sum(G * node._op.forward(*args, **node._params)))
            numeric = (f(xs[i] + eps * V) - f(xs[i] - eps * V)) / (2 * eps)
            g = unbroadcast(np.asarray(node._op.vjp(i, G, node.data, xs, node._params)), p.shape)
            analytic = float(np.sum(g * V))
            if abs(analytic - numeric) > atol + rtol * abs(numeric):
                shapes = ", ".join(str(q.shape) for q in node._parents)
                return [f"first op whose VJP disagrees (forward order): {node.op} "
                        f"in scope '{node.scope or '-'}', input {i} of ({shapes}): "
                        f"<VJP(G), V> = {analytic:.6e} vs finite difference {numeric:.6e}"]
    return ["every op's VJP agrees on its own: look at how the ops are composed "
            "(a tensor changed in place, a gradient assigned instead of accumulated)"]
