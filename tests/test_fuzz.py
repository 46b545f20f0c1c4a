"""Fuzzing: random expression graphs, their gradients against finite differences and PyTorch.

Hypothesis writes small programs over the primitive ops: random shapes that broadcast
against each other, subexpressions used several times (the fan-in a shared RNN weight
makes), long chains (an unrolled sequence), matmuls, reductions over random axes,
reshapes, permutations, indexing with repeated integer arrays and masks, cat and
stack. Each program runs twice, as the engine and as torch (float64, the same inputs),
and is checked two ways:

* `tg.gradcheck`: backward() against central finite differences;
* torch.autograd: every input's gradient equal to 1e-9 relative.

Ops whose derivative needs a safe domain are composed so it always holds: log(x² + 1),
exp(tanh x), a / (b² + 1), (σ(a) + 0.5)^b. The default run checks 50 programs
(derandomized, so CI is stable); `pytest -m slow tests/test_fuzz.py` checks 1,000 more,
drawn afresh each time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor

try:                     # the second oracle; without torch, finite differences still run
    import torch
except ImportError:
    torch = None

MAX_SIZE = 36            # elements per tensor: keeps finite differences fast
BOUND = 1e4              # reject programs whose values leave [-BOUND, BOUND]

UNARY = ["neg", "exp", "log", "tanh", "sigmoid", "relu", "square"]
BINARY = ["add", "sub", "mul", "div", "pow"]
AXIS_OPS = ["sum", "mean", "max", "softmax", "log_softmax"]
SHAPE_OPS = ["reshape", "transpose", "getitem"]
MANY = ["matmul", "cat", "stack"]
OPS = UNARY + BINARY + AXIS_OPS + SHAPE_OPS + MANY
CHAIN_EXTRA = ["sum", "softmax", "reshape", "transpose"]      # a long chain stays mostly elementwise


# ---- the ops, written once for the engine and once for torch -------------------------------------
def engine_ops():
    return {
        "neg": lambda x: -x,
        "exp": lambda x: x.tanh().exp(),
        "log": lambda x: (x * x + 1.0).log(),
        "tanh": lambda x: x.tanh(),
        "sigmoid": lambda x: x.sigmoid(),
        "relu": lambda x: x.relu(),
        "square": lambda x: x ** 2,
        "add": lambda a, b: a + b,
        "sub": lambda a, b: a - b,
        "mul": lambda a, b: a * b,
        "div": lambda a, b: a / (b * b + 1.0),
        "pow": lambda a, b: (a.sigmoid() + 0.5) ** b if not isinstance(a, float) else a ** b,
        "matmul": lambda a, b: a @ b,
        "sum": lambda x, axis, keepdims: x.sum(axis, keepdims),
        "mean": lambda x, axis, keepdims: x.mean(axis, keepdims),
        "max": lambda x, axis, keepdims: x.max(axis=axis, keepdims=keepdims),
        "softmax": lambda x, axis: x.softmax(axis),
        "log_softmax": lambda x, axis: x.log_softmax(axis),
        "reshape": lambda x, shape: x.reshape(shape),
        "transpose": lambda x, axes: x.transpose(axes),
        "getitem": lambda x, index: x[index],
        "cat": lambda *xs, axis: tg.cat(list(xs), axis),
        "stack": lambda *xs, axis: tg.stack(list(xs), axis),
    }


def torch_ops():
    def dims(x, axis):
        return tuple(range(x.ndim)) if axis is None else axis

    def tindex(index):
        return tuple(torch.from_numpy(k) if isinstance(k, np.ndarray) else k for k in index)

    ours = engine_ops()
    theirs = {name: ours[name] for name in ["neg", "exp", "log", "tanh", "sigmoid", "relu", "square", "add",
                                              "sub", "mul", "div", "pow", "matmul"]}
    theirs.update({
        "sum": lambda x, axis, keepdims: x.sum(dim=dims(x, axis), keepdim=keepdims),
        "mean": lambda x, axis, keepdims: x.mean(dim=dims(x, axis), keepdim=keepdims),
        "max": lambda x, axis, keepdims: torch.amax(x, dim=dims(x, axis), keepdim=keepdims),
        "softmax": lambda x, axis: torch.softmax(x, dim=axis),
        "log_softmax": lambda x, axis: torch.log_softmax(x, dim=axis),
        "reshape": lambda x, shape: x.reshape(shape),
        "transpose": lambda x, axes: x.permute(axes),
        "getitem": lambda x, index: x[tindex(index)],
        "cat": lambda *xs, axis: torch.cat(xs, dim=axis),
        "stack": lambda *xs, axis: torch.stack(xs, dim=axis),
    })
    return theirs


# ---- a program: leaves (inputs) and op nodes, in creation order -----------------------------------
@dataclass
class Node:
    op: str
    args: tuple            # an int is an earlier entry, a float a Python-number operand
    params: dict = field(default_factory=dict)

    def __repr__(self):
        args = ", ".join(f"v{a}" if isinstance(a, int) else repr(a) for a in self.args)
        params = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"{self.op}({args}{params})"


@dataclass
class Program:
    entries: list = field(default_factory=list)      # a shape tuple (a leaf) or a Node
    seed: int = 0

    @property
    def leaves(self) -> list[int]:
        return [i for i, e in enumerate(self.entries) if isinstance(e, tuple)]

    def inputs(self) -> list[np.ndarray]:
        """float64 inputs with |x| in [0.2, 1] and a random sign (away from relu's kink)."""
        rng = np.random.default_rng(self.seed)
        return [rng.uniform(0.2, 1.0, self.entries[i]) * rng.choice([-1.0, 1.0], self.entries[i])
                for i in self.leaves]

    def sinks(self) -> list[int]:
        """Nodes nothing else reads (the last one always): the loss sums all of them."""
        used = {a for e in self.entries if isinstance(e, Node) for a in e.args if isinstance(a, int)}
        nodes = [i for i, e in enumerate(self.entries) if isinstance(e, Node)]
        return [i for i in nodes if i not in used or i == nodes[-1]]

    def values(self, ops, inputs) -> list:
        values, leaf = [], iter(inputs)
        for e in self.entries:
            if isinstance(e, tuple):
                values.append(next(leaf))
            else:
                args = [values[a] if isinstance(a, int) else a for a in e.args]
                values.append(ops[e.op](*args, **e.params))
        return values

    def loss(self, ops, inputs, wrap=np.asarray):
        """E = Σ_sinks <C_s, v_s> with fixed random C_s: every sink's every entry matters."""
        values = self.values(ops, inputs)
        rng = np.random.default_rng(self.seed + 1)
        total = 0.0
        for s in self.sinks():
            total = total + (values[s] * wrap(rng.standard_normal(np.shape(values[s])))).sum()
        return total

    def __repr__(self):
        return "\n".join(f"v{i} = {'input' + str(e) if isinstance(e, tuple) else e}"
                         for i, e in enumerate(self.entries))


# ---- drawing programs ---------------------------------------------------------------------------
SIDES = st.integers(1, 3)


def shapes():
    """Mostly 1-3 axes of 1-3 entries; now and then a 0-d scalar."""
    return st.one_of(st.lists(SIDES, min_size=1, max_size=3).map(tuple), st.just(()))


@st.composite
def partner_shape(draw, shape):
    """A shape that broadcasts with `shape`: leading axes dropped, some axes set to 1,
    sometimes a new leading axis (the result is then bigger than either)."""
    keep = shape[draw(st.integers(0, len(shape))):]
    out = tuple(1 if n > 1 and draw(st.integers(0, 2)) == 0 else n for n in keep)
    if draw(st.integers(0, 4)) == 0:
        out = (draw(SIDES),) + out
    return out


@st.composite
def programs(draw, chain: bool):
    """A random program. chain=True: a long chain, each op reading the previous node,
    now and then together with an earlier one (a shared subexpression)."""
    prog = Program(seed=draw(st.integers(0, 2**31)))
    shape_of: list[tuple] = []

    def add_leaf(shape):
        prog.entries.append(tuple(shape))
        shape_of.append(tuple(shape))
        return len(prog.entries) - 1

    for _ in range(draw(st.integers(1, 2 if chain else 3))):
        add_leaf(draw(shapes()))
    n_ops = draw(st.integers(20, 40) if chain else st.integers(3, 14))
    made = 0
    for _ in range(3 * n_ops):                        # some draws are invalid and skipped
        if made == n_ops:
            break
        last = len(prog.entries) - 1
        if chain and made and draw(st.integers(0, 5)):
            a = last
        else:
            a = draw(st.integers(0, last))
        node = draw_node(draw, a, shape_of, add_leaf, chain)
        if node is None:
            continue
        try:                                          # its shape, from numpy itself
            out = np.shape(node_value(node, shape_of))
        except (ValueError, IndexError):
            continue
        if int(np.prod(out)) > MAX_SIZE:
            continue
        prog.entries.append(node)
        shape_of.append(out)
        made += 1
    assume(made > 0)
    return prog


def node_value(node, shape_of):
    """Evaluate one node on arrays of ones of the right shapes (to learn its shape)."""
    args = [np.ones(shape_of[a]) if isinstance(a, int) else a for a in node.args]
    return NUMPY[node.op](*args, **node.params)


NUMPY = {
    **dict.fromkeys(UNARY, lambda x: x),
    **dict.fromkeys(["add", "sub", "mul", "div", "pow"], lambda a, b: np.add(a, b)),
    "matmul": np.matmul,
    "sum": lambda x, axis, keepdims: np.sum(x, axis, keepdims=keepdims),
    "mean": lambda x, axis, keepdims: np.sum(x, axis, keepdims=keepdims),
    "max": lambda x, axis, keepdims: np.max(x, axis, keepdims=keepdims),
    "softmax": lambda x, axis: np.sum(x, axis, keepdims=True) * x,
    "log_softmax": lambda x, axis: np.sum(x, axis, keepdims=True) * x,
    "reshape": lambda x, shape: x.reshape(shape),
    "transpose": lambda x, axes: x.transpose(axes),
    "getitem": lambda x, index: x[index],
    "cat": lambda *xs, axis: np.concatenate(xs, axis),
    "stack": lambda *xs, axis: np.stack(xs, axis),
}


def draw_node(draw, a, shape_of, add_leaf, chain):
    shape = shape_of[a]
    ndim = len(shape)
    op = draw(st.sampled_from(UNARY + BINARY + (CHAIN_EXTRA if chain else AXIS_OPS + SHAPE_OPS + MANY)))
    if op in UNARY:
        return Node(op, (a,))
    if op in BINARY:
        kind = draw(st.sampled_from(["node", "leaf", "number"]))
        if kind == "number":
            number = draw(st.sampled_from([0.5, 1.5, 2.5]))
            return Node(op, (a, number) if draw(st.booleans()) else (number, a))
        if kind == "node":
            fits = [b for b in range(len(shape_of)) if _broadcasts(shape, shape_of[b])]
            b = draw(st.sampled_from(fits))            # a itself always fits: x * x, x - x, ...
        else:
            b = add_leaf(draw(partner_shape(shape)))
        return Node(op, (a, b) if draw(st.booleans()) else (b, a))
    if op in ("softmax", "log_softmax", "sum", "mean", "max") and ndim == 0:
        return Node("tanh", (a,))
    if op in ("softmax", "log_softmax"):
        return Node(op, (a,), {"axis": draw(st.integers(-ndim, ndim - 1))})
    if op in ("sum", "mean", "max"):
        axis = draw(st.one_of(st.none(), st.integers(-ndim, ndim - 1),
                              st.lists(st.integers(0, ndim - 1), min_size=1, unique=True).map(tuple)))
        return Node(op, (a,), {"axis": axis, "keepdims": draw(st.booleans())})
    if op == "reshape":
        choices = [(-1,), tuple(reversed(shape)), (1,) + shape, shape + (1,)]
        return Node(op, (a,), {"shape": draw(st.sampled_from(choices))})
    if op == "transpose":
        return Node(op, (a,), {"axes": tuple(draw(st.permutations(range(ndim))))})
    if op == "getitem":
        if ndim == 0:
            return None
        axis = draw(st.integers(0, min(ndim, 2) - 1))        # index the first or the second axis
        n = shape[axis]
        kind = draw(st.sampled_from(["int", "slice", "repeat", "mask"]))
        if kind == "int":
            i = draw(st.integers(-n, n - 1))
        elif kind == "slice":
            i = slice(draw(st.integers(0, n - 1)), None, draw(st.sampled_from([1, 2])))
        elif kind == "repeat":                                # x[[0, 0, 2]]: the gradient must add up
            i = np.array(draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=4)))
        else:
            mask = draw(st.lists(st.booleans(), min_size=n, max_size=n).filter(any))
            i = np.array(mask)
        return Node(op, (a,), {"index": (slice(None),) * axis + (i,)})
    if op == "matmul":
        if ndim == 0:
            return None
        if ndim >= 2 and draw(st.booleans()):          # a new leaf on the left: L (n, rows) @ a
            return Node(op, (add_leaf((draw(SIDES), shape[-2])), a))
        same = [b for b in range(len(shape_of)) if len(shape_of[b]) in (1, 2) and shape_of[b][0] == shape[-1]]
        b = draw(st.sampled_from(same)) if same and draw(st.booleans()) else \
            add_leaf(draw(st.sampled_from([(shape[-1],), (shape[-1], draw(SIDES))])))
        return Node(op, (a, b))
    # cat and stack: 2 or 3 tensors of a's shape, a itself possibly repeated (a shared subexpression)
    if ndim == 0 and op == "cat":
        return None
    same = [b for b in range(len(shape_of)) if shape_of[b] == shape]
    others = draw(st.lists(st.sampled_from(same), min_size=1, max_size=2))
    axis = draw(st.integers(0, ndim - 1 if op == "cat" else ndim))
    return Node(op, (a, *others), {"axis": axis})


def _broadcasts(s, t):
    try:
        np.broadcast_shapes(s, t)
        return True
    except ValueError:
        return False


# ---- the checks ----------------------------------------------------------------------------------
def usable(prog: Program) -> bool:
    """Finite values in a modest range, and no relu input or max within 1e-4 of a kink."""
    with np.errstate(all="ignore"), tg.no_grad():
        values = prog.values(engine_ops(), [Tensor(x) for x in prog.inputs()])
    for v, e in zip(values, prog.entries):
        if not np.all(np.isfinite(v.data)) or np.abs(v.data).max(initial=0) > BOUND:
            return False
        if isinstance(e, Node) and e.op == "relu":
            x = values[e.args[0]].data
            if np.any((x != 0) & (np.abs(x) < 1e-4)):
                return False
        if isinstance(e, Node) and e.op == "max":
            x = values[e.args[0]].data
            top = np.max(x, e.params["axis"], keepdims=True)
            gap = np.where(x == top, np.inf, top - x)
            if np.any(gap < 1e-4):
                return False
    return True


def check(prog: Program) -> None:
    note(repr(prog))
    assume(usable(prog))
    inputs = prog.inputs()
    assert tg.gradcheck(lambda *xs: prog.loss(engine_ops(), xs, wrap=lambda c: c), inputs) is True
    if torch is None:
        return
    xs = [Tensor(x, requires_grad=True) for x in inputs]
    prog.loss(engine_ops(), xs).backward()
    ts = [torch.tensor(x, requires_grad=True) for x in inputs]
    torch_loss = prog.loss(torch_ops(), ts, wrap=torch.from_numpy)
    grads = torch.autograd.grad(torch_loss, ts, allow_unused=True)
    for i, (x, g) in enumerate(zip(xs, grads)):
        ours = x.grad if x.grad is not None else np.zeros_like(x.data)
        theirs = g.numpy() if g is not None else np.zeros_like(x.data)
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12, err_msg=f"input {i}")


COUNT = {"checked": 0}


def fuzz(n: int, derandomize: bool):
    """A hypothesis test over n programs (about a third of them long chains)."""
    @settings(max_examples=n, deadline=None, derandomize=derandomize, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                     HealthCheck.data_too_large])
    @given(prog=st.one_of(programs(chain=False), programs(chain=True), programs(chain=False)))
    def run(prog):
        check(prog)
        COUNT["checked"] += 1
    return run


def test_random_graphs_match_finite_differences_and_torch():
    COUNT["checked"] = 0
    fuzz(50, derandomize=True)()
    assert COUNT["checked"] >= 40, f"only {COUNT['checked']} programs were usable"


@pytest.mark.slow
def test_random_graphs_many():
    COUNT["checked"] = 0
    start = time.perf_counter()
    fuzz(1000, derandomize=False)()
    print(f"\nfuzz: {COUNT['checked']} programs checked in {time.perf_counter() - start:.1f} s")
    assert COUNT["checked"] >= 900


def test_the_generator_makes_what_it_promises():
    """Shared subexpressions, long chains, broadcasting and every op family show up."""
    seen, chains, shared, broadcast = set(), 0, 0, 0

    @settings(max_examples=150, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(prog=st.one_of(programs(chain=False), programs(chain=True)))
    def survey(prog):
        nonlocal chains, shared, broadcast
        nodes = [e for e in prog.entries if isinstance(e, Node)]
        seen.update(n.op for n in nodes)
        chains += len(nodes) >= 20
        reads = [a for n in nodes for a in n.args if isinstance(a, int)]
        shared += any(reads.count(a) >= 3 for a in set(reads))
        shape_of = {}
        for i, e in enumerate(prog.entries):
            earlier = [shape_of[j] for j in range(i)]
            shape_of[i] = e if isinstance(e, tuple) else np.shape(node_value(e, earlier))
        broadcast += any(n.op in BINARY and len({shape_of[a] for a in n.args if isinstance(a, int)}) == 2
                         for n in nodes)
    survey()
    assert seen == set(OPS)
    assert chains >= 20 and shared >= 20 and broadcast >= 20
