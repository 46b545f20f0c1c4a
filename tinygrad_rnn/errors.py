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
