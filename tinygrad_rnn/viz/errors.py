"""The renderer's two errors: a graph too big to lay out, and a missing Graphviz program."""

INSTALL_HELP = (
    "Graphviz's `dot` program was not found on PATH, so the graph cannot be laid out. Install "
    "Graphviz (the program, not only the Python package): `apt-get install graphviz` (Debian/Ubuntu), "
    "`brew install graphviz` (macOS), `conda install graphviz`, or `choco install graphviz` (Windows), "
    "then open a new shell. The DOT source does not need it: use graph.source, or "
    "tinygrad_rnn.viz.write(graph, 'graph.dot')."
)


class GraphTooLargeError(ValueError):
    """The picture has more nodes than Graphviz lays out in reasonable time."""


class GraphvizNotFoundError(RuntimeError):
    """The Graphviz `dot` executable is missing; the message says how to install it."""
