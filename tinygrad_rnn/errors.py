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


class ValuesFreedError(RuntimeError):
    """The values of a tensor were read after the recurrent layers freed them (memory.py)."""


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


# ---- backward()'s refusals ----------------------------------------------------
def check_graph_usable(node) -> None:
    """Refuse a VJP that would read stale values: the graph was already used by a
    backward() without retain_graph, or an input (or the output) was written in
    place after the op ran."""
    if node._graph_used:
        raise GraphError(graph_reused(node._op.name, node.scope))
    for p in (*node._parents, node):            # its VJP reads its inputs and its output y
        if p._written_at > node._tick:
            raise InplaceModificationError(
                written_in_place(node._op.name, node.scope, p.name, p.shape, p is node))


def no_graph(name: str, shape) -> str:
    return (f"backward(): this tensor ({name}, shape {shape}) does not require grad and has no "
            "graph; create the inputs with requires_grad=True (and not under no_grad())")


def nonscalar_root(name: str, scope: str, shape) -> str:
    return (f"backward(): the root '{name}'{where(scope)} has shape {shape}; an implicit gradient "
            "exists only for a scalar. Reduce it first (.sum(), .mean()) or pass grad= of the same shape")


def seed_shape(grad_shape, shape) -> str:
    return f"backward(): grad has shape {grad_shape} but the tensor has shape {shape}; they must be equal"


def graph_reused(op: str, scope: str) -> str:
    return (f"backward(): the graph through {op}{where(scope)} was already used by a previous "
            "backward() and freed. Run the forward pass again, pass retain_graph=True to the first "
            "backward(), or, for truncated BPTT, carry h.detach() into the next chunk")


def written_in_place(op: str, scope: str, name: str, shape, is_output: bool) -> str:
    return (f"backward of {op}{where(scope)}: its {'output' if is_output else 'input'} '{name}' "
            f"(shape {shape}) was modified in place after the forward pass (through it, or a tensor "
            "sharing its memory: a view such as x.T or x[:, t], or x.detach()), so the gradient would "
            "be wrong. Update parameters after backward() (optimizer.step()), or run the forward pass again")


def grad_shape(name: str, old, new) -> str:
    """backward() would add a gradient to a `.grad` of another shape (set by hand)."""
    return (f"backward(): '{name}'.grad has shape {old}, but its gradient has shape {new}; "
            "adding them would broadcast into a wrong sum. Set .grad = None (zero_grad()) "
            "or to an array of the tensor's shape")


def grad_dropped(name: str, scope: str, shape) -> str:
    """The warning of `.grad` read on a non-leaf whose gradient backward() did not keep."""
    return (f".grad of '{name}' (shape {shape}){where(scope)} is None: it is not a leaf, and "
            "backward() under record_edge_grads(False) keeps the gradients of leaves and of "
            "tensors marked with retain_grad() only (as PyTorch). Call .retain_grad() on it before "
            "backward(), or run backward() with record_edge_grads(True) to keep every gradient")


def values_freed(name: str | None, scope: str | None, shape, dtype, use: str = "") -> str:
    """The ValuesFreedError of a tensor whose values memory.free_unread let go."""
    who = f"'{name}' (shape {shape}, {dtype}){where(scope)}" if name is not None else \
        f"a tensor of shape {shape} ({dtype})"
    return (f"the values of {who} were freed{use}: no backward rule reads them, and under "
            "record_edge_grads(False) a recurrent layer keeps only what backward() needs, as PyTorch "
            "keeps only what its backward saved. Its shape, dtype and place in the graph stay. "
            "Run the forward pass under record_edge_grads(True) to keep every value, or compute it "
            "yourself from what is kept (the inputs, the weights and the states h_t, C_t)")


def edges_not_recorded(param: str, shape, op: str, scope: str) -> str:
    """A reader of the edge records (analysis.param_edge_grads) met an edge with none."""
    return (f"param_edge_grads: the {op}{where(scope)} that reads '{param}' (shape {shape}) holds no "
            "record of what it sent back: backward() has not run through it, or ran under "
            "record_edge_grads(False). Run backward() with record_edge_grads(True) (the default) first")


def cannot_retain_grad(name: str, shape, scope: str) -> str:
    return (f"retain_grad: '{name}' (shape {shape}){where(scope)} does not require grad, so "
            "backward() gives it no gradient to keep (as PyTorch, this is refused)")


def non_leaf_requires_grad(name: str, op: str, shape, scope: str) -> str:
    """requires_grad_(False) (or .requires_grad = False) on a tensor an op made."""
    return (f"requires_grad_: '{name}' (shape {shape}){where(scope)} is the result of {op}, not a "
            "leaf; only a leaf's requires_grad can change (switching it off here would silently "
            "cut the gradient behind it). Use .detach() for a tensor cut from the graph")


def dtypes_do_not_fit(op: str, shapes, dtypes, error, scope: str) -> str:
    """The TypeError/ValueError of an elementwise op numpy refuses for these dtypes."""
    return (f"{op}: not defined for dtypes {' and '.join(map(str, dtypes))} (shapes "
            f"{' and '.join(map(str, shapes))}) ({error}){where(scope)}; convert with "
            ".astype(np.float64) (for a mask: use it as a 0/1 float array)")


def inputs_do_not_fit(op: str, shapes, params, error, scope: str) -> str:
    """The ShapeError of an op whose forward refused its inputs."""
    extra = "".join(f", {k}={v!r}" for k, v in params.items() if k != "index")
    return (f"{op}: inputs of shapes {' and '.join(map(str, shapes))}{extra} do not fit "
            f"({error}){where(scope)}; {fit_hint(op)}")
