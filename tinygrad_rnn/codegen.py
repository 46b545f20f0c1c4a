"""Write a captured step as one flat Python function of numpy calls (tg.compile's last stage).

The interpreter in compile.py walks the tape as data: for each instruction it
looks up slots in a list, unpacks arguments, tests whether a share needs
unbroadcasting. All of that is known once the shapes are known, so here it is
decided once and written down as straight-line code:

    v9 = matmul(v8, v0)                  # forward: one line per op of the tape
    ...
    g19 = tanh_vjp0(g25, v25, v24)       # backward: one line per edge, the first
    g19 = g19 + matmul_vjp0(g22, v22, v19, v1)  # share to reach v19, then the next ones

Every function called is a row of ops.py (its forward, or its VJP for one
input), so the generated program computes exactly what eager backward() does.
`CompiledStep.code` shows it: the whole training step as numpy, one op a line.
"""

from __future__ import annotations

import collections
import functools
import re

import numpy as np

from . import ops

_INLINE = {                       # VJPs so simple that a call would cost more than the op:
    (ops.add, 0): "{g}", (ops.add, 1): "{g}",          # each is its ops.py row written out,
    (ops.sub, 0): "{g}", (ops.sub, 1): "-{g}",         # the same numpy calls in the same order
    (ops.neg, 0): "-{g}",                              # (tests/test_compile_inline.py checks it)
    (ops.mul, 0): "{g} * {x1}", (ops.mul, 1): "{g} * {x0}",
    (ops.exp, 0): "{g} * {y}",
    (ops.tanh, 0): "{g} - {g} * {y} * {y}",
    (ops.sigmoid, 0): "{g} * ({y} - {y} * {y})",
}


# Rows with parameters, written out with the parameters' values (`axis=-1`): the same calls.
_WRITTEN = {                      # forward rows
    ops.reshape: "{x0}.reshape({shape})",
    ops.sum: "{x0}.sum(axis={axis}, keepdims={keepdims})",
}
_WRITTEN_VJP = {                  # VJP rules (sum's only where it restores no axis: _sum_vjp)
    (ops.reshape, 0): "{g}.reshape({x0}.shape)",
    (ops.log_softmax, 0): "{g} - np.exp({y}) * {g}.sum(axis={axis}, keepdims=True)",
    (ops.sum, 0): "broadcast_to({g}, {x0}.shape)",
}


def _written(template: str | None, op, params: dict) -> bool:
    """Does this written-out row apply to an op with these parameters?"""
    if template is None or "index" in params:
        return False
    return op is not ops.sum or params.get("axis") is None or params.get("keepdims", False)


# The same rows writing into a given array (`out=`): the δ_t of a deferred sum go straight
# into the stack the matmul AᵀG reads, instead of T arrays concatenated at the end.
_INTO = {
    (ops.tanh, 0): "subtract({g}, {g} * {y} * {y}, out={out})",
    (ops.sigmoid, 0): "multiply({g}, {y} - {y} * {y}, out={out})",
}


def generate(program) -> tuple[str, dict]:
    """Python source of `replay(args)` for a built program, and the names it uses.

    Written twice: the first pass learns which stacks the deferred sums need, the
    second writes the rows that nobody else can see (gradients eager backward() does
    not keep) straight into them.
    """
    first = _Writer(program)
    first.write()
    w = _Writer(program, first.placements())
    w.write()
    return "\n".join(_freed(w.lines, w.frees)) + "\n", w.ns


class _Writer:
    """Writes the replay function section by section: sources, forward, backward,
    the deferred sums, the return. `v<k>` is slot k's value, `g<k>` its gradient."""

    def __init__(self, program, placed=None):
        self.p, self.tensors = program, program.tensors
        self.ns = {"np": np, "array": np.array, "asarray": np.asarray, "ones_like": np.ones_like,
                   "concatenate": np.concatenate, "unbroadcast": ops.unbroadcast, "dense": _dense,
                   "add_reduce": np.add.reduce, "multiply": np.multiply, "subtract": np.subtract,
                   "broadcast_to": np.broadcast_to}
        self.lines = ["def replay(args):"]
        self.arrived, self.waiting = set(), {}   # slots with a gradient; deferred shares per weight
        self.transposes = set()                  # weights whose transpose is already written
        self.alias = {}                          # g<s> is the array g<alias[s]> (add passes g on)
        self.stacks = {}                         # stacked factors already written, by their rows
        self.kind = {s: kind for s, kind, _ in program.sources}
        self.dropped = program.dropped           # gradients eager backward() does not keep
        self.placed = placed or {}               # slot -> the rows of a stack its gradient goes into
        self.summed, self.first = set(), {}      # slots with 2+ shares; the rule of each first share
        self.own_slice = set()                   # g<s> is a slice of a dropped gradient, s's alone
        self.frees = {}                          # line number -> names freed after it (see _freed)
        self.summed_weights = set()              # weights whose deferred shares are summed
        self.deferred_uses = collections.Counter(
            s for _, _, shares, _, _ in program.backward_code for _, _, s, _, _, defer in shares if defer)

    def write(self):
        self.sources()
        self.forward()
        self.backward()
        self.deferred()
        self.returns()
        self.free_points()

    def free_points(self):
        """For each step boundary (a line in `frees`), the dropped gradients last used before
        it. Views of a reused buffer (the rows written in place, and the names passed them
        unchanged) hold no memory of their own and are left alone."""
        in_buffer = set(self.placed) | {s for s, root in self.alias.items() if root in self.placed}
        names = {f"g{s}" for s in self.arrived & self.dropped} - {f"g{s}" for s in in_buffer}
        last = {}
        for k, line in enumerate(self.lines):
            for name in re.findall(r"\bg\d+\b", line):
                if name in names:
                    last[name] = k
        points = sorted(self.frees)
        for name, k in sorted(last.items(), key=lambda item: item[1]):
            later = [m for m in points if m > k]
            if later:
                self.frees[later[0]].append(name)

    def emit(self, line: str):
        self.lines.append("    " + line)

    def add(self, s: int, expr: str):
        """g<s> gets one more share: the first assigns, the next ones sum. A slice of a
        dropped gradient that is s's alone (a stack's share to h_t) sums in place."""
        if s in self.arrived:
            if s in self.own_slice:
                self.emit(f"g{s} += {expr}")
            else:
                self.emit(f"g{s} = g{s} + {expr}")
            self.alias.pop(s, None)
            self.summed.add(s)
        else:
            self.emit(f"g{s} = {expr}")
            if expr[:1] == "g" and expr[1:].isdigit():     # add's VJP: the very array g<o>
                self.alias[s] = self.alias.get(int(expr[1:]), int(expr[1:]))
        self.arrived.add(s)

    def placements(self) -> dict:
        """Rows of the deferred stacks that can be written in place: {slot: "bufS0[2:4]"}.

        A row qualifies when its gradient is dropped (no tensor will hold it, nor any
        tensor it is passed on to unchanged), it is one share written by a rule with an
        `_INTO` form, and it has the stack's row shape. The buffer is reused at every
        replay, so nothing anyone can reach may live in it."""
        groups = {}
        for s, root in self.alias.items():
            groups.setdefault(root, set()).add(s)
        placed = {}
        for key, name in self.stacks.items():
            if f"buf{name}" not in self.ns or not all(r[:1] == "g" and r[1:].isdigit() for r in key):
                continue
            rows = [int(r[1:]) for r in key]
            if not all(s in self.first and s not in self.summed and self.tensors[s].ndim == 2
                       and {s} | groups.get(s, set()) <= self.dropped for s in rows):
                continue
            start = 0
            for s in rows:
                n = self.tensors[s].shape[0]
                placed[s] = f"buf{name}[{start}:{start + n}]"
                start += n
        return placed

    def sources(self):
        """Arguments, live parameters (read each call: the optimizer replaces them), constants."""
        for s, kind, payload in self.p.sources:
            t = self.tensors[s]
            if kind == "live":
                self.ns[f"t{s}"] = payload
                self.emit(f"v{s} = t{s}._data".ljust(26) + f"# {t.name} {t.shape}")
            elif kind == "const":
                self.ns[f"c{s}"] = payload
                self.emit(f"v{s} = c{s}".ljust(26) + f"# constant {t.name} {t.shape}")
            elif kind == "tensor_arg":
                self.emit(f"v{s} = args[{payload}]._data".ljust(26) + f"# argument {payload}")
            else:
                i, dtype = payload
                self.ns[f"d{s}"] = dtype
                # a copy, as eager's Tensor(x) makes: refilling a batch buffer in place must
                # not change the graph the last replay left
                self.emit(f"v{s} = array(args[{i}], dtype=d{s})  # argument {i} as {dtype} (a copy)")

    def forward(self):
        self.emit("# forward: one line per op of the tape")
        hoisted, done = _input_projections(self.p), set()
        for k, (f, ins, dyn, o) in enumerate(self.p.forward_code):
            op = self.p.ops_of[o]
            if o in hoisted:                          # x_t W: a row block of X W, made once
                (x, w), t = hoisted[o]
                if (x, w) not in done:
                    done.add((x, w))
                    self.emit(f"XW{x}_{w} = matmul(v{x}, v{w})".ljust(40)
                              + f"  # one matmul: x_t {self.tensors[w].name} for every t at once")
                self.emit(f"v{o} = XW{x}_{w}[:, {t}]".ljust(40)
                          + f"  # {self.tensors[o].name} {self.tensors[o].shape} {self.tensors[o].scope}")
                continue
            fname = op.name if f is op.forward else f"{op.name}{k}"
            literal = _literal(f.keywords["index"]) if op is ops.getitem and not dyn else None
            joined = _stack_as_cat(op, f, [self.tensors[i] for i in ins])
            if literal is not None:                   # x[:, t]: the getitem row's forward, written out
                call = f"v{ins[0]}[{literal}]"
            elif joined is not None:                  # stack: one concatenate, its result reshaped
                call = f"concatenate({_tuple(ins)}, axis={joined}).reshape({self.tensors[o].shape})"
            elif not dyn and _written(_WRITTEN.get(op), op, getattr(f, "keywords", {})):
                call = _WRITTEN[op].format(x0=f"v{ins[0]}", **{k: repr(v) for k, v in f.keywords.items()})
            else:
                self.ns[fname] = f
                call = f"{fname}({', '.join(f'v{i}' for i in ins)}{_index_kwarg(dyn, self.ns, f'i{k}')})"
            if self.p.scalar_out[o]:
                call = f"asarray({call})"
            t = self.tensors[o]
            self.emit(f"v{o} = {call}".ljust(40) + f"  # {t.name} {t.shape} {t.scope}".rstrip())

    def backward(self):
        self.emit("# backward: one line per edge; g<k> sums the shares reaching v<k>")
        root = self.p.slot_of[id(self.p.root)]
        self.add(root, f"ones_like(v{root})")
        scope = None
        for o, ins, shares, params, dyn in self.p.backward_code:
            if self.tensors[o].scope != scope or "t=" not in scope:   # a new time step (or a node
                scope = self.tensors[o].scope                          # outside them, the big ones):
                self.frees[len(self.lines)] = []                       # free what came before
            kind = self.p.needs_dense.get(o)
            if kind == "lazy" or kind and o not in self.p.dropped:   # a dropped view stays one:
                self.emit(f"g{o} = dense(g{o})")                     # its rules read it as it is
                self.alias.pop(o, None)
            sent = []
            for i, _, s, shape, cast, defer in shares:
                if defer is not None:
                    self.waiting.setdefault(s, []).append((defer, ins[0], o))
                    if len(self.waiting[s]) == self.deferred_uses[s]:
                        self._sum_shares(s)
                    continue
                op = self.p.ops_of[o]
                if s in self.placed and s not in self.arrived:
                    expr = _INTO[op, i].format(g=f"g{o}", y=f"v{o}", out=self.placed[s])
                else:
                    expr = self._share(o, i, ins, params, dyn)
                if s not in self.arrived and (op, i) in _INTO and not params and not self.p.record \
                        and not self.p.needs_unbroadcast.get((o, i)) and cast is None:
                    self.first[s] = (op, i)
                if op in (ops.stack, ops.cat) and o in self.dropped and s not in self.arrived \
                        and expr.startswith(f"g{o}[") and cast is None:
                    self.own_slice.add(s)          # nobody reads g<o> but its slices, each once
                if self.p.needs_unbroadcast.get((o, i)):
                    self.ns[f"shape{s}"] = shape
                    expr = f"unbroadcast({expr}, shape{s})"
                if cast is not None:
                    self.ns[f"dt{s}"] = cast
                    expr = f"({expr}).astype(dt{s})"
                if self.p.record:                 # keep the share: it is the edge's record
                    self.emit(f"s{o}_{i} = {expr}")
                    expr = f"s{o}_{i}"
                    sent.append(i)
                self.add(s, expr)
            if self.p.record:
                records = "".join(f"s{o}_{i}, " if i in sent else "None, " for i in range(len(ins)))
                self.emit(f"e{o} = ({records})")

    def _share(self, o, i, ins, params, dyn) -> str:
        """The call of input i's VJP rule at node o (the rule from ops.py, or an inline -g / g)."""
        op = self.p.ops_of[o]
        names = {"g": f"g{o}", "y": f"v{o}", **{f"x{j}": f"v{s}" for j, s in enumerate(ins)}}
        if (op, i) in _INLINE and not params:
            return _INLINE[op, i].format(**names)
        if not dyn and _written(_WRITTEN_VJP.get((op, i)), op, params):
            return _WRITTEN_VJP[op, i].format(**names, **{k: repr(v) for k, v in params.items()})
        if op is ops.matmul and i == 0 and self.tensors[ins[1]].ndim == 2 and self.tensors[ins[0]].ndim >= 2:
            return f"g{o} @ {self._transposed(ins[1])}"    # _matmul_vjp_a: dA = G Bᵀ
        if op in (ops.stack, ops.cat) and not dyn:          # _stack_vjp, _cat_vjp: a slice of g
            xs = [self.tensors[j] for j in ins]
            return f"g{o}[{_slice_of(op, self.tensors[o].ndim, params['axis'], i, xs)}]"
        rule = op.vjps[0] if op.variadic else op.vjps[i]
        name = f"{op.name}_vjp{'' if op.variadic else i}" + (f"_{o}" if params else "")
        self.ns[name] = rule if not params or dyn else functools.partial(rule, **params)
        args, idx = ", ".join(f"v{j}" for j in ins), _index_kwarg(dyn, self.ns, f"j{o}")
        if op.variadic:                           # cat, stack: the rule takes the inputs as one tuple
            return f"{name}(g{o}, v{o}, ({args},), {i}{idx})"
        return f"{name}(g{o}, v{o}, {args}{idx})"

    def _transposed(self, s: int) -> str:
        """Bᵀ of a weight: for a parameter, written once before the first use, not once a step."""
        if self.kind.get(s) != "live":
            return f"v{s}.T"
        if s not in self.transposes:
            self.transposes.add(s)
            self.emit(f"v{s}T = v{s}.T".ljust(26) + f"# {self.tensors[s].name}ᵀ, once for every step")
        return f"v{s}T"

    def deferred(self):
        """The leaves' gradients as arrays (every shared weight's sum is written by now)."""
        self.frees[len(self.lines)] = []
        for s in self.waiting:
            if s not in self.summed_weights:
                self._sum_shares(s)
        for s in self.p.leaf_slots:
            if s in self.arrived and self.p.needs_dense.get(s):
                self.emit(f"g{s} = dense(g{s})")

    def _sum_shares(self, s: int):
        """A shared weight's shares at once, as soon as the last one is known: Σ_t A_tᵀ G_t
        as one matmul, Σ_t g_t as one sum (so the G_t can be freed from there on)."""
        self.summed_weights.add(s)
        uses = self.waiting[s]
        mm = [(a, o) for kind, a, o in uses if kind == "matmul"]
        bias = [o for kind, a, o in uses if kind == "bias"]
        name, terms = self.tensors[s].name, []
        if mm:
            self.emit(f"# ∂E/∂{name} = Σ_t A_tᵀ G_t over its {len(mm)} uses: one matmul AᵀG")
            A = self._stacked([(_rows(f"v{a}", self.tensors[a].ndim), a) for a, _ in mm])
            G = self._stacked([self._grad_rows(o) for _, o in mm])
            terms.append(f"{A}.T @ {G}")
        if bias:
            self.emit(f"# ∂E/∂{name} = Σ_t g_t over its {len(bias)} uses: one sum")
            terms.append(f"add_reduce({self._stacked([self._grad_rows(o) for o in bias])}, axis=0)")
        self.add(s, " + ".join(terms))

    def _grad_rows(self, o: int) -> tuple[str, int]:
        """g<o> as rows, named by the array it is: x_t W's, h_{t-1} U's and + b's g_t are one δ_t."""
        return _rows(f"g{self.alias.get(o, o)}", self.tensors[o].ndim), o

    def _stacked(self, rows: list[tuple[str, int]]) -> str:
        """The factors of T uses as one matrix; the same rows twice (U's and W's δ_t) stacked once.

        The stack is a temporary no one can reach (the matmul AᵀG consumes it and
        returns a new array), so it is written into a buffer the program keeps and
        reuses at every replay (`out=`): the only memory a replay reuses. What a user
        can hold (values, gradients, the loss) is always a new array.
        """
        if len(rows) == 1:
            return rows[0][0]
        key = tuple(r for r, _ in rows)
        name = self.stacks.get(key)
        if name is None:
            name = self.stacks[key] = f"S{len(self.stacks)}"
            ts = [self.tensors[s] for _, s in rows]
            out = ""
            if len({t.dtype for t in ts}) == 1 and len({t.shape[-1] for t in ts}) == 1:
                n = sum(t.size // t.shape[-1] for t in ts)
                self.ns[f"buf{name}"] = np.empty((n, ts[0].shape[-1]), ts[0].dtype)
                out = f", out=buf{name}"
            if out and all(r[:1] == "g" and r[1:].isdigit() and int(r[1:]) in self.placed for r in key):
                self.emit(f"{name} = buf{name}".ljust(26) + "# its rows were written there, step by step")
            else:
                self.emit(f"{name} = concatenate(({', '.join(key)}){out})")
        return name

    def returns(self):
        """Every slot's value and gradient (None where none arrived, or where eager backward()
        keeps none), and the edges' records."""
        n = range(len(self.tensors))
        values = "".join(f"v{s}, " for s in n)
        grads = "".join(f"g{s}, " if s in self.arrived and s not in self.p.dropped else "None, " for s in n)
        edges = "{" + "".join(f"{o}: e{o}, " for o, *_ in self.p.backward_code) + "}" \
            if self.p.record else "{}"
        self.emit(f"return ({values}), ({grads}), {edges}")


def _freed(lines: list[str], frees: dict) -> list[str]:
    """The lines with `del` where a step begins, for the dropped gradients the last steps used.

    A local name keeps its array alive until the function returns, so without these the
    replay would hold every gradient of the step at its end, the ones eager backward()
    lets go included. `frees` maps a line number to the names that may be freed there
    (filled in by `_Writer.free_points`)."""
    out = []
    for k, line in enumerate(lines):
        if frees.get(k):
            out.append("    del " + ", ".join(frees[k]) + "".ljust(4) + "# not kept: as eager backward()")
        out.append(line)
    return out


def graph_writer(program, shared) -> tuple[str, dict]:
    """Source of `write_graph(v, g, e)`: the captured graph's tensors take a replay's values.

    One line per tensor instead of a loop: at min-char-rnn scale the loop over the
    graph's ~170 tensors cost more than a tenth of the numpy step. `shared` are the
    slots whose gradient is also another's, or a view of another's (add's VJP passes
    g on, a stack's is a slice): as after eager backward(), such a tensor's `.grad`
    becomes its own copy when first read (Tensor.grad), so no copy is made for a
    gradient nobody looks at, and a write into one never changes another. A slot in
    `program.dropped` (an intermediate eager backward() kept no gradient for, under
    record_edge_grads(False)) keeps the mark the capture left (autograd.DROPPED): only
    its value is new. A constant (h_0) keeps its value too.
    """
    lines, ns = ["def write_graph(v, g, e):"], {}
    constant = {s for s, kind, _ in program.sources if kind == "const"}
    for t, s in program.write_back:
        if s in constant and not t.requires_grad:
            continue
        ns[f"n{s}"] = t
        if s in program.dropped:
            lines.append(f"    n{s}._data = v[{s}]")
        else:
            lines.append(f"    n{s}._data, n{s}._grad, n{s}._shared = v[{s}], g[{s}], {s in shared}")
    for o, *_ in program.backward_code if program.record else ():
        ns[f"n{o}"] = program.tensors[o]
        lines.append(f"    n{o}.edge_grads = e[{o}]")
    return "\n".join(lines + ["    return None"]) + "\n", ns


def build(program, shared=None):
    """Compile the generated source into the replay function (with `shared` known:
    the graph writer; see graph_writer)."""
    source, ns = generate(program) if shared is None else graph_writer(program, shared)
    exec(compile(source, "<tg.compile replay>", "exec"), ns)   # noqa: S102 - our own source
    return ns["replay" if shared is None else "write_graph"], source


def _rows(var: str, ndim: int) -> str:
    """A factor as a matrix of rows: (B, T, H) -> (B·T, H); a (B, H) factor as it is."""
    return var if ndim == 2 else f"{var}.reshape(-1, {var}.shape[-1])"


def _input_projections(program) -> dict:
    """The matmuls x_t W of one weight W with the steps x_t = X[:, t] of one input X.

    They do not depend on h_{t-1}, so all T of them are one matmul X W before the
    time loop, as a hand-written BPTT does (`xWb = x @ W + b`); step t reads its
    row block (X W)[:, t]. Returns {slot of x_t W: ((slot of X, slot of W), t)}.
    """
    kind = {s: kind for s, kind, _ in program.sources}
    read = {}                                       # slot of x_t -> (slot of X, t)
    for f, ins, dyn, o in program.forward_code:
        index = getattr(f, "keywords", {}).get("index") if not dyn else None
        if program.ops_of[o] is ops.getitem and program.tensors[ins[0]].ndim == 3 \
                and index is not None and len(index) == 2 and index[0] == slice(None) \
                and type(index[1]) is int:
            read[o] = (ins[0], index[1])
    groups = {}
    for _f, ins, _dyn, o in program.forward_code:
        if program.ops_of[o] is ops.matmul and ins[0] in read and kind.get(ins[1]) == "live" \
                and program.tensors[ins[1]].ndim == 2:
            x, t = read[ins[0]]
            groups.setdefault((x, ins[1]), []).append((o, t))
    return {o: (key, t) for key, uses in groups.items()
            if len(uses) > 1 and len({t for _, t in uses}) == len(uses) for o, t in uses}


def _stack_as_cat(op, f, xs) -> int | None:
    """The axis along which a stack is one concatenate reshaped (ops.stack_as_cat), or None:
    np.stack makes a view of each input first (25 of them for the h_t of T = 25: 17 µs at
    B = 1); one concatenate of the inputs as they are is a quarter of that, the same copies."""
    return ops.stack_as_cat(xs, f.keywords["axis"]) if op is ops.stack else None


def _tuple(slots) -> str:
    """`(v3, v8)` as source: the values of these slots as one tuple."""
    return f"({', '.join(f'v{s}' for s in slots)}{',' if len(slots) == 1 else ''})"


def _slice_of(op, ndim: int, axis: int, i: int, xs) -> str:
    """Where input i sits in a stack's or cat's result: `:, 3` (stack) or `:, 0:32` (cat)."""
    axis %= ndim
    if op is ops.stack:
        return ":, " * axis + str(i)
    start = sum(x.shape[axis] for x in xs[:i])
    return ":, " * axis + f"{start}:{start + xs[i].shape[axis]}"


def _literal(index) -> str | None:
    """A basic index as Python source (`:, 3`), or None when it holds arrays or odd slices."""
    parts = []
    for a in index:
        if type(a) is int:
            parts.append(str(a))
        elif type(a) is slice and all(b is None or type(b) is int for b in (a.start, a.stop, a.step)):
            part = f"{'' if a.start is None else a.start}:{'' if a.stop is None else a.stop}"
            parts.append(part + ("" if a.step is None else f":{a.step}"))
        else:
            return None
    return ", ".join(parts) or None


def _index_kwarg(dyn, ns, name) -> str:
    """index=... for a getitem that reads an argument (targets): rebuilt from args each step."""
    if not dyn:
        return ""
    pieces, index = dyn
    parts = []
    for j, a in enumerate(index):
        hit = next((p for p in pieces if p[0] == j), None)
        if hit is None:
            ns[f"{name}_{j}"] = a
            parts.append(f"{name}_{j}")
        else:
            _, i, shape = hit
            ns[f"{name}_s{j}"] = shape
            parts.append(f"_arr(args[{i}]).reshape({name}_s{j})")
    ns["_arr"] = _arr
    return f", index=({', '.join(parts)},)"


def _arr(a):
    return a if isinstance(a, np.ndarray) else a._data


def _dense(g):
    """A real, writeable array: a SparseGrad or a broadcast view becomes one."""
    return g if type(g) is np.ndarray and g.flags.writeable else np.array(g)
