"""The errors the engine raises. Each message names the op, the shapes and the scope."""

from __future__ import annotations


class ShapeError(ValueError):
    """An op got inputs whose shapes do not fit (do not broadcast, do not multiply, ...)."""


class GraphError(RuntimeError):
    """`backward()` cannot run: no graph, a freed graph, a non-scalar root, a bad seed."""


class InplaceModificationError(RuntimeError):
    """An input was changed in place after an op used it: its VJP would be wrong."""


class AnomalyError(FloatingPointError):
    """Raised under `detect_anomaly()` by the first op that makes a NaN or Inf."""


def where(scope: str) -> str:
    """' in scope rnn/t=3' for messages, or '' at top level."""
    return f" in scope '{scope}'" if scope else " (top level, no scope)"


# What to do when an op's inputs do not fit: the end of its ShapeError.
_BROADCAST = ("shapes broadcast when, compared from the last axis, each pair of sizes is equal "
              "or one of them is 1: reshape or transpose one input")
FIT_HINTS = {
    **dict.fromkeys(("add", "sub", "mul", "div", "pow"), _BROADCAST),
    "matmul": "(..., n, k) @ (..., k, m) needs the same k: transpose one input (.T) or check the layer sizes",
    "cat": "every input needs the same shape except along the cat axis",
    "stack": "every input needs the same shape",
    "reshape": "the new shape must hold as many elements as the old one (use -1 for one axis to infer it)",
    "getitem": "each index must lie in [-n, n) for an axis of size n",
}


def fit_hint(op: str) -> str:
    """The advice that ends a ShapeError from `op`."""
    return FIT_HINTS.get(op, "check `axis` against the input's shape (and that a reduced axis is not empty)")
