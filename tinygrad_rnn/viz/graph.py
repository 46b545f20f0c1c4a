"""Walk the recorded graph into a Picture: nodes, edges and time steps, no Graphviz yet.

The walk is deterministic: the engine's walk (every tensor in creation order),
then a stable sort by time step numbers the nodes n0, n1, ... : leaves
from before the loop, step 1, step 2, ..., the readout. The same computation
therefore gives the same ids and the same DOT text on every run, unlike ids
made from `id()`.

One node per tensor. A tensor made by an op is drawn as that op (`matmul
(2, 8)`); if a layer named it (`h_t`, `f_t`, `C_t`) the name leads the label.
Each edge is one argument of one op, drawn in the forward direction (input ->
op), and carries the norm of the gradient that flowed back along it:
`child.edge_grads[i]`, recorded by `backward()`.

Element ids (the contract with the interactive viewer, viz/html.py): every
drawn tensor has the SVG id `t<k>`, k its creation tick counted from the
oldest tensor of the graph (`tensor_ids`), every edge `e<k>_<i>` (argument i
of the tensor t<k>), and what stands for several (a cell box, a merged edge)
lists them in `stands_for`. Synthetic elements (legend, cuts) start with `x`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..autograd import kept_grad
from ..autograd import walk as _engine_walk
from .labels import fmt_norm, norm, shape_text, stats, step_of, value_stats


@dataclass
class Node:
    id: str
    kind: str                               # param, input, tensor, op, loss, detached, cell, elided, ...
    label: str
    tooltip: str = ""
    step: tuple[str, int] | None = None     # (lane, t) if made inside a time step
    state_norm: float | None = None         # ‖∂E/∂h_t‖ if this node is (or holds) h_t
    ports: tuple[str, ...] = ()             # cell view: "h", "C" lanes
    dom_id: str = ""                        # SVG id: t<k> for a tensor, x... for a synthetic box
    stands_for: tuple[str, ...] = ()        # the tensor ids drawn in it (a cell box: its step's)
    role: str = ""                          # what it is in its step ("h_t", "matmul"): equal across steps
    hides: tuple = ()                       # an elided node: (lane, first t, last t) it stands for


@dataclass
class Edge:
    src: str
    dst: str
    norms: list[float] = field(default_factory=list)  # ‖gradient‖ along it; several once merged
    kind: str = "grad"                      # grad, nograd (no gradient flows), cut (detach)
    text: str | None = None                 # a label that replaces the numbers
    tooltip: str = ""
    tailport: str = ""
    headport: str = ""
    dom_id: str = ""                        # SVG id: e<k>_<i>, the first real edge it stands for
    stands_for: tuple[str, ...] = ()        # the real edges drawn as this one
    grad: object = field(default=None, repr=False, compare=False)   # the array behind norms[0]


@dataclass
class Picture:
    nodes: list[Node]
    edges: list[Edge]                       # before backward() they carry no norms


def walk(root) -> list:
    """Every tensor the root depends on, each after its inputs, in creation order
    (the engine's one walk, `autograd.walk`)."""
    return _engine_walk(root)


def tick_of(t) -> int:
    """A tensor's creation tick (the engine's clock): the one place the viewer's ids read it."""
    return t._tick


def tensor_ids(tensors) -> dict[int, str]:
    """{t: "t<k>"}, k = creation tick minus the oldest tensor's: the same computation
    gives the same ids in every run and process (raw ticks count every tensor ever made)."""
    base = min((tick_of(t) for t in tensors), default=0)
    return {t: f"t{tick_of(t) - base}" for t in tensors}


def edge_id(child_id: str, i: int) -> str:
    """Argument i of the tensor whose id is t<k>: e<k>_<i>."""
    return f"e{child_id[1:]}_{i}"


def is_folded(t) -> bool:
    """A scalar constant (`x * 0.5`) is written into its op's label, not drawn."""
    return t._constant and t.size == 1 and not t.requires_grad


def cut_from(t):
    """The tensor `t` was detach()ed from, if it is still alive (else None)."""
    return t._detached_from() if t._detached_from is not None else None


def kind_of(t, root) -> str:
    if t is root:
        return "loss"
    if t.op is None:
        if t._detached_from is not None:
            return "detached"
        return "param" if t.requires_grad else "input"
    return "tensor" if t._named else "op"


def step_name(name: str, t: int | None) -> str:
    """'h_t' inside step 3 reads 'h_3'; 'h_{t-1}' reads 'h_2'; other names are kept."""
    if t is None:
        return name
    if name.endswith("_{t-1}"):
        return f"{name[:-6]}_{t - 1}"
    return f"{name[:-2]}_{t}" if name.endswith("_t") else name


def _operand(p, t) -> str:
    """How an argument reads inside an expression: its name, or (…) for an unnamed result."""
    if is_folded(p):
        return f"{float(p.data):g}"
    if not p._named:
        return "(…)" if p.op is not None else "x"
    return step_name(p.name, _t_of(p) or t)


def _t_of(p):
    s = step_of(p.scope)
    return s[1] if s else None


SYMBOL = {"add": "+", "sub": "−", "mul": "∗", "div": "/"}


def expression(t) -> str:
    """An op as a student writes it: 'h_2·U' for a matmul, '(…) + b' for adding a bias."""
    step = _t_of(t)
    if t.op == "matmul" and len(t.parents) == 2:
        return "·".join(_operand(p, step) for p in t.parents)
    if t.op in SYMBOL and len(t.parents) == 2:
        return f" {SYMBOL[t.op]} ".join(_operand(p, step) for p in t.parents)
    consts = [f"{float(p.data):g}" for p in t.parents if is_folded(p)]
    return t.op + (" · " + ", ".join(consts) if consts else "")


def label_of(t, kind: str) -> str:
    """Lines of plain text: the name (with its step: h_3), the op and shape, and ‖∂E/∂·‖ (the total)."""
    shape = shape_text(t.shape)
    name, grad = step_name(t.name, _t_of(t)), kept_grad(t)    # None too where backward() dropped it
    total = f"\n‖∂E/∂{name}‖ = {fmt_norm(norm(grad))}" if grad is not None else ""
    if kind == "loss":
        value = f"\nE = {t.item():.4g}" if t.size == 1 else ""
        return f"{t.name if t._named else 'loss'}\n{t.op} {shape}{value}"
    if kind == "param":
        return f"{t.name}\n{shape}{total}"
    if kind == "detached":
        return f"✂ {name}.detach()\n{shape}"
    if kind == "input":
        return f"{name if t._named else 'input'}\n{shape}"
    if kind == "tensor":
        op = expression(t) if t.op == "getitem" and name.startswith("x_") else t.op
        return f"{name}\n{op} {shape}{total}"
    return f"{expression(t)}\n{shape}"


def tooltip_of(t) -> str:
    lines = [f"{t.name}: {t.op or 'leaf'} {shape_text(t.shape)} {t.dtype}",
             f"value: {value_stats(t)}"]
    if (grad := kept_grad(t)) is not None:
        lines.append(f"grad ∂E/∂{t.name}: {stats(grad)}")
    if t.scope:
        lines.append(f"scope: {t.scope}")
    return "\n".join(lines)


def op_picture(root) -> Picture:
    """The op-level view: every tensor a node, every argument an edge."""
    tensors = reading_order(root)
    ids = {t: f"n{i}" for i, t in enumerate(tensors)}
    tids = tensor_ids(tensors)
    edges = [_edge(p, t, i, ids, tids) for t in tensors for i, p in enumerate(t.parents) if p in ids]
    edges += _detach_cuts(tensors, ids)
    steps = time_steps(tensors)
    nodes = []
    for t in tensors:
        kind = kind_of(t, root)
        node = Node(ids[t], kind, label_of(t, kind), tooltip_of(t), steps.get(t),
                    dom_id=tids[t], stands_for=(tids[t],), role=t.name)
        if t.name == "h_t" and kept_grad(t) is not None:
            node.state_norm = norm(t.grad)
        if kind == "param" and t.grad is not None:
            _show_fan_in(node, t, tensors)
        nodes.append(node)
    return Picture(nodes, edges)


def reading_order(root) -> list:
    """The drawn tensors: leaves from before the loop, then the steps by t, then the rest.

    Python's sort is stable, so inside a step the walk's order (creation, inputs first) stays.
    """
    return sorted((t for t in walk(root) if not is_folded(t)), key=_time_key)


def states_in_graph(root, name: str = "h_t", lane: str | None = None) -> list:
    """h_1 .. h_T found in the graph: the last tensor called `name` in each time step
    of layer `lane` ("rnn", or "rnn (2)" for a second call; default: the first one)."""
    tensors = reading_order(root)
    steps = time_steps(tensors)
    found = {}
    for t in tensors:
        step = steps.get(t)
        if t.name == name and step and (lane is None or step[0] == lane):
            lane = step[0]
            found[step[1]] = t
    if not found:
        raise ValueError(f"state_grad_norms: no tensor named {name!r} inside a time-step scope "
                         "(e.g. tg.scope('rnn/t=1')) in this graph")
    return [found[k] for k in sorted(found)]


def time_steps(tensors) -> dict[int, tuple[str, int]]:
    """{tensor: (lane, t)} for every tensor made inside a time step.

    The lane is the layer's scope ("rnn"). A layer called twice in one graph
    (two truncated-BPTT chunks, each counting t = 1, 2, ...) gives two groups of
    steps that no edge joins; each later group becomes a lane of its own,
    "rnn (2)", "rnn (3)", so chunks are not drawn on top of each other.
    """
    raw = {t: s for t in tensors if (s := step_of(t.scope))}
    root = {k: k for k in raw}

    def find(k):
        while root[k] != k:
            root[k] = root[root[k]]
            k = root[k]
        return k

    for t in tensors:                       # join each op to its inputs of the same lane
        for p in t.parents:
            if t in raw and p in raw and raw[p][0] == raw[t][0]:
                root[find(p)] = find(t)
    group_no, count = {}, {}
    for t in tensors:                       # number the groups of each lane in reading order
        if t in raw and find(t) not in group_no:
            lane = raw[t][0]
            count[lane] = count.get(lane, 0) + 1
            group_no[find(t)] = count[lane]
    return {k: (lane if group_no[find(k)] == 1 else f"{lane} ({group_no[find(k)]})", t)
            for k, (lane, t) in raw.items()}


def _time_key(t) -> tuple:
    step = step_of(t.scope)
    if step:
        return (1, step[0], step[1])
    return (0, "", 0) if t.op is None else (2, "", 0)


def _edge(p, t, i, ids, tids) -> Edge:
    """Argument i of op t: the gradient sent back to p along it is t.edge_grads[i]."""
    g = t.edge_grads[i] if t.edge_grads is not None else None
    where = f"{p.name} → {t.name} (argument {i} of {t.op}{', ' + t.scope if t.scope else ''})"
    eid = edge_id(tids[t], i)
    if g is None:
        return Edge(ids[p], ids[t], kind="grad" if p.requires_grad else "nograd", tooltip=where,
                    dom_id=eid, stands_for=(eid,))
    return Edge(ids[p], ids[t], [norm(g)], tooltip=f"{where}\ngradient along it: {stats(g)}",
                dom_id=eid, stands_for=(eid,), grad=g)


def _show_fan_in(node: Node, param, tensors) -> None:
    """A shared weight: ∂E/∂U is the sum of what each use sends back (Σ_t, the `+=`)."""
    uses = [(t, g) for t in tensors if t.edge_grads is not None
            for p, g in zip(t.parents, t.edge_grads) if p is param and g is not None]
    if len(uses) > 1:
        node.label += f"\n= Σ over its {len(uses)} edges"
    lines = [f"  {t.op} in {t.scope or 'top level'}: {fmt_norm(norm(g))}" for t, g in uses]
    node.tooltip += "\ncontribution of each edge ‖·‖:\n" + "\n".join(lines)
    node.tooltip += f"\ntheir sum (as arrays): ‖∂E/∂{param.name}‖ = {fmt_norm(norm(param.grad))}"


def _detach_cuts(tensors, ids) -> list[Edge]:
    """A detach() leaf remembers the tensor it was cut from: draw that cut."""
    cuts = []
    for t in tensors:
        src = cut_from(t)
        if src is not None and src in ids:
            cuts.append(Edge(ids[src], ids[t], kind="cut", text="✂ detach()",
                             tooltip="truncated BPTT: no gradient flows back across this cut",
                             dom_id=f"xcut{len(cuts)}"))
    return cuts
