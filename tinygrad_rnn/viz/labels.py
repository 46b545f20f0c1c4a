"""Small text helpers shared by the op and cell views: numbers, stats, time steps.

Every number the picture shows goes through `fmt_norm`, so a label reads the
same everywhere: three significant digits in scientific notation (`1.23e-04`).
"""

from __future__ import annotations

import re

import numpy as np

from ..analysis import norm  # noqa: F401  (the one norm; viz labels its edges with it)
from ..memory import kept_values

_STEP = re.compile(r"t=(\d+)")


def fmt_norm(x: float) -> str:
    """‖g‖ as printed on an edge: 3 significant digits, scientific notation."""
    return f"{x:.2e}"


def stats(arr) -> str:
    """'min … max … mean … norm …' of an array, for tooltips (no arrays printed)."""
    a = np.asarray(arr, dtype=np.float64)
    if a.size == 0:
        return "empty"
    return (f"min {a.min():.3g}  max {a.max():.3g}  mean {a.mean():.3g}  "
            f"norm {fmt_norm(norm(a))}")


def value_stats(t) -> str:
    """`stats` of a tensor's values, or what became of them (record_edge_grads(False), memory.py)."""
    values = kept_values(t)
    return "freed (backward() does not read it)" if values is None else stats(values)


def shape_text(shape) -> str:
    """(2, 8) -> '(2, 8)'; a scalar -> '()'."""
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def step_of(scope: str) -> tuple[str, int] | None:
    """The time step a scope belongs to: 'rnn/t=3/forget_gate' -> ('rnn', 3).

    The first path segment of the form 't=N' marks the step; what comes before
    it names the lane (the layer). Scopes without such a segment are outside
    any time step (parameters, the readout, the loss) and return None.
    """
    parts = scope.split("/") if scope else []
    for j, part in enumerate(parts):
        m = _STEP.fullmatch(part)
        if m:
            return "/".join(parts[:j]), int(m.group(1))
    return None


def step_title(step: tuple[str, int], several_lanes: bool) -> str:
    """A cluster's label: 't = 3', or 'lstm · t = 3' when several layers are drawn."""
    lane, t = step
    return f"{lane} · t = {t}" if several_lanes and lane else f"t = {t}"


_SUB = re.compile(r"(?<![A-Za-z])([A-Za-zα-ωΑ-ΩΣ∂][\u0300-\u036f]?)_(\{[^}]*\}|[A-Za-z0-9]{1,3}\b|k≤\d+)")


def html_text(s: str) -> str:
    """One line for a Graphviz HTML-like label: escaped, and h_3, W_f, C̃_t, h_{t-1} subscripted.

    A plain label draws `x_t` with its underscore clashing with the line under
    it; <SUB> is how the notes write it.
    """
    escaped = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SUB.sub(lambda m: f"{m.group(1)}<SUB>{m.group(2).strip('{}')}</SUB>", escaped)


def plain_width(s: str) -> int:
    """Characters a line takes on screen (a subscript counts as its characters, combining marks not)."""
    return sum(1 for c in s if not 0x300 <= ord(c) <= 0x36f and c not in "{}")
