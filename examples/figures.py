"""The examples' figures need matplotlib, an optional dependency; without it every
example still runs and prints its numbers. This module is the one place that decides:

    if figures.can_draw():          # prints one line on how to get the figures if not
        plot(...)

and `figures.Figure(...)` builds a matplotlib Figure without pyplot (no global state,
no GUI backend), imported only when a figure is really drawn.
"""

from __future__ import annotations

from tinygrad_rnn.viz.plot import INSTALL

_told = False


def can_draw() -> bool:
    """True if matplotlib is installed; otherwise say once how to get the figures."""
    global _told
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        if not _told:
            print(f"(no figures: matplotlib is not installed; for the figures: {INSTALL})")
            _told = True
        return False
    return True


def Figure(**kwargs):
    """matplotlib.figure.Figure(**kwargs), imported on first use."""
    from matplotlib.figure import Figure
    return Figure(**kwargs)


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (for the examples that use subplots)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt
