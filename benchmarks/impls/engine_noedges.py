"""The engine with `tg.record_edge_grads(False)`: the cost of keeping per-edge gradients.

Same step as `engine`; the difference between the two rows of the table is what
the renderer's edge labels cost.
"""

from benchmarks.impls import engine

NAME = "engine_noedges"
LABEL = "tinygrad_rnn, record_edge_grads(False)"
PACKAGE = ("tinygrad_rnn",)
SIZES = None


def build(model, problem, lr=None):
    return engine.Step(model, problem, lr, record_edges=False)
