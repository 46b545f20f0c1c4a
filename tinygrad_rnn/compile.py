"""tg.compile: capture one training step's tape once, replay it as flat numpy.

Why frameworks compile. In eager mode every op pays for bookkeeping: a Tensor
object, its scope and name, a heap entry in backward(), a lookup of its VJP. At
min-char-rnn scale (B=1, H=100) that Python costs more than the arithmetic.
But the graph of a training step is the same every step; only the numbers change.

1. Capture. The first call runs ``fn`` eagerly while the engine writes every op
   it applies onto a tape. Creation order is a topological order, so the tape
   is already the forward program, and read backwards it is the backward one.
2. Replay. Later calls with the same shapes and dtypes run the tape's forward
   functions and VJPs (the very rows of ``ops.py``) on numpy arrays: no Tensor,
   no heap, no names.
3. Deferral. A weight used by T matmuls (x_t W, h_{t-1} U) receives T shares
   A_tᵀ G_t. The replay stacks the factors and forms the sum as one matmul,
   Σ_t A_tᵀ G_t = [A_1; …; A_T]ᵀ [G_1; …; G_T] — the course's
   ∂E/∂U = Σ_t h_{t-1}ᵀ δ_t, computed as a hand-written BPTT does. (Only with
   edge recording off: with it on, every per-step share is kept for the picture.)

Safety. A replay must never be silently different from the eager step, so the
capture checks what it cannot follow and refuses it with a `CompileError`: an
array argument that never enters the graph as it is, random numbers drawn
inside ``fn`` (dropout), parameters updated inside ``fn``, a Tensor made from
the values of a tensor computed inside ``fn``. It also replays the captured
step once and compares every gradient with the eager one before trusting it, and
it captures the second call again and refuses a tape that changed (``fn`` read a
batch or a weight from state a replay cannot see: see `_same_tape`).
"""

from __future__ import annotations

import builtins
import dis
import functools
import threading
import warnings

import numpy as np

from . import codegen, ops
from .autograd import DROPPED, kept_grad
from .context import _ANOMALY, _GRAD_ENABLED, _RECORD_EDGES, capturing, get_default_dtype
from .nn.module import CHANGES
from .rng import generator
from .sparse import LazyGrad
from .tensor import Tensor

_REPLAYING = threading.Lock()
MAX_PROGRAMS = 8          # shapes seen before a compiled step falls back to eager, as torch's limit

# detach() is an op to the tape: forward the identity, and no gradient flows back.
DETACH = ops.Op("detach", lambda x: x, (None,))


class CompileError(RuntimeError):
    """tg.compile met a step it cannot replay faithfully."""


def compile(fn):  # noqa: A001 - the public name, as torch.compile
    """Return a callable with fn's signature that replays fn's recorded step.

    ``fn(*args)`` runs one training step's forward pass and ``backward()`` and
    returns the loss (a scalar Tensor). Array arguments (the batch: inputs and
    integer targets) may change from call to call; a call whose shapes, dtypes
    or other arguments differ from every capture so far is captured anew. The
    first two calls of each run eagerly; replays start at the third.
    Zeroing gradients, clipping and ``optimizer.step()`` belong outside ``fn``.
    """
    return CompiledStep(fn)


class CompiledStep:
    """The compiled step: a cache of programs keyed by the arguments' shapes."""

    def __init__(self, fn):
        self.fn = fn
        self.programs: dict = {}
        self.captures = 0                 # how many times fn ran eagerly to record (twice a program)
        self.replays = 0
        self._warned = False
        self._free = _free_names(fn)

    def __call__(self, *args):
        if _ANOMALY.get():                # anomaly mode checks every op: run eagerly
            return self.fn(*args)
        free = _free_values(*self._free)
        key = _key(args) + free
        program = self.programs.get(key)
        if program is None and len(self.programs) >= MAX_PROGRAMS:
            if not self._warned:
                warnings.warn(f"tg.compile: {len(self.programs)} different argument shapes "
                              "(or values of the numbers fn reads from its globals and closure) "
                              "captured; running the rest eagerly", stacklevel=2)
                self._warned = True
            return self.fn(*args)
        full = args + tuple(k.obj for _, k in free if type(k) is _Same and type(k.obj) is np.ndarray) \
            if free else args             # arrays from fn's globals and closure: read as arguments
        if program is not None and not program.guards_hold(full):
            return self.fn(*args)         # e.g. a target out of range: eager says what is wrong
        if program is None or not program.can_replay() or not program.confirmed:
            self.captures += 1
            first = program if program is not None and program.as_captured() else None
            program = self.programs[key] = _Program.capture(self.fn, args, program, full[len(args):])
            if first is not None:             # the second call, captured again: the same tape?
                _same_tape(first, program)
                program.confirmed = True
            return program.results(full, [t._data for t in program.tensors], program.root._grad)
        self.replays += 1
        return program.replay(full)

    @property
    def code(self) -> str:
        """The latest program as Python: the training step, one numpy call a line."""
        return next(reversed(self.programs.values())).code if self.programs else ""

    def graph_tensors(self) -> list[Tensor]:
        """Every tensor of the latest program's recorded graph."""
        return list(next(reversed(self.programs.values())).tensors) if self.programs else []

    @property
    def graph(self) -> Tensor | None:
        """The captured loss of the latest program: its graph holds the latest replay's values."""
        return next(reversed(self.programs.values())).root if self.programs else None


def _key(args) -> tuple:
    """What a program depends on besides the numbers: shapes, dtypes, modes, other args."""
    parts = [_GRAD_ENABLED.get(), _RECORD_EDGES.get(), get_default_dtype()]
    for i, a in enumerate(args):
        if isinstance(a, (list, tuple, dict)) and any(
                isinstance(v, (np.ndarray, Tensor)) for v in (a.values() if isinstance(a, dict) else a)):
            raise CompileError(f"tg.compile: argument {i} is a {type(a).__name__} holding arrays or "
                               "Tensors; a replay reads array arguments only, and would keep the "
                               "first call's values of these. Pass them as separate arguments: step(x, y)")
        if isinstance(a, Tensor):
            parts.append(("T", a.shape, a.dtype, a.requires_grad))
        elif isinstance(a, np.ndarray):
            parts.append(("A", a.shape, a.dtype))
        else:                                  # a Python value is part of the program
            try:
                parts.append(("V", type(a), hash(a), a))
            except TypeError:                  # a list, a module: the same object
                parts.append(("id", id(a)))
    return tuple(parts)


_NUMBERS = (int, float, str, np.number, np.bool_)


class _Same:
    """A key part equal only to itself's object (an array or Tensor fn reads from its globals or
    closure). It holds the object, so no later array can take its id while the program lives."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __hash__(self):
        return id(self.obj)

    def __eq__(self, other):
        return isinstance(other, _Same) and other.obj is self.obj


def _free_names(fn) -> tuple:
    """(globals, names, closure cells) fn's own code reads (not its callees'). A replay runs no
    Python, so a number among them (a loss weight beta, min-char-rnn's data pointer p) would keep
    its captured value, and an array or Tensor rebound there (`X, Y = next_batch()`) would stay
    the captured one: `_free_values` makes them part of the key instead."""
    fn = getattr(fn, "__func__", fn)                 # a bound method: its function
    code = getattr(fn, "__code__", None)
    if code is None:                                 # a callable object (a Module): no names to read
        return {}, (), ()
    g = fn.__globals__        # names bound now to a module, function or class (tg, model) are skipped
    read = dict.fromkeys(i.argval for i in dis.get_instructions(code) if i.opname == "LOAD_GLOBAL")
    names = tuple(n for n in read if _keyed(g.get(n)) is not None
                  or (g.get(n) is None and n not in vars(builtins)))
    return g, names, tuple(zip(code.co_freevars, fn.__closure__ or ()))


def _keyed(v):
    """What of a free variable's value a program depends on: a number's value, an array's or
    Tensor's identity (in-place writes to an array fn copies are not seen), or None (nothing)."""
    if isinstance(v, _NUMBERS):
        return v
    if isinstance(v, (np.ndarray, Tensor)):
        return _Same(v)
    return None


def _free_values(globals_, names, cells) -> tuple:
    out = [(n, k) for n in names if (k := _keyed(globals_.get(n))) is not None]
    for n, cell in cells:
        try:
            k = _keyed(cell.cell_contents)
        except ValueError:                           # a closure variable not assigned yet
            continue
        if k is not None:
            out.append((n, k))
    return tuple(out)


# ---- capture ---------------------------------------------------------------
class _Tape:
    """What the engine writes while ``fn`` runs under capture (see tensor.py's hooks)."""

    def __init__(self, args):
        self.entries = []                 # (out, op, inputs, params) in creation order
        self.effects = []                 # (object, {attribute: value}) to set again at each replay
        self.arg_of = {}                  # id(array) -> argument index, for every array argument
        self.made_from = {}               # id(leaf data) -> argument index (Tensor(arg) copies)
        self.copied_from = {}             # id(leaf data) -> id(the array Tensor(...) copied)
        self.keep = []                    # keeps those arrays alive, so their ids stay unique
        self.arg_buffers = {}             # (address, size, dtype) -> argument index
        for i, a in enumerate(args):
            arr = a._data if isinstance(a, Tensor) else a
            if isinstance(arr, np.ndarray):
                self.arg_of.setdefault(id(arr), i)         # an argument before a global
                if arr.flags.c_contiguous:
                    self.arg_buffers.setdefault(_buffer(arr), i)

    def op(self, out, op, inputs, params):
        """`apply` ran `op` (None: detach()) and made `out`."""
        self.entries.append((out, op or DETACH, inputs, params))

    def effect(self, obj, attrs):
        self.effects.append((obj, {a: getattr(obj, a) for a in attrs}))

    def array(self, src, arr):
        """Tensor(src) made the array `arr` (a copy): remember it if src is an argument,
        and which array it copied (a tensor computed inside fn cannot be followed)."""
        if isinstance(src, np.ndarray):
            self.copied_from[id(arr)] = id(src)
            self.keep += [arr, src]
        i = self.arg_of.get(id(src))
        if i is not None:
            self.made_from[id(arr)] = i
            self.keep.append(arr)


def _same_tape(first: _Program, second: _Program) -> None:
    """Refuse a step whose second capture differs from its first (same argument shapes, same
    numbers read from fn's globals and closure): fn then reads something a replay cannot
    see, and the replay would keep the first call's value for ever. Examples: a batch drawn
    inside fn (`next(batches)`), a global read in a helper fn calls, an attribute of a config
    object, a weight replaced inside a list. Only changes between the first two calls are
    seen this way; docs/compile.md says what to pass as arguments instead."""
    hint = ("fn reads something a replay cannot see (next(iterator) inside fn, a global read in "
            "a helper function, an attribute of an object): pass it to the step as an argument")
    ops1, ops2 = [(t.op, t.shape) for t in first.tensors], [(t.op, t.shape) for t in second.tensors]
    if ops1 != ops2:
        k = next((i for i, (a, b) in enumerate(zip(ops1, ops2)) if a != b), min(len(ops1), len(ops2)))
        t = second.tensors[min(k, len(second.tensors) - 1)]
        raise CompileError(f"tg.compile: the second call recorded another graph than the first "
                           f"(from '{t.name}'{_where(t)} on), with arguments of the same shapes; {hint}")
    for (s, kind, a), (_, kind2, b) in zip(first.sources, second.sources):
        if kind != kind2 or (a is not b if kind == "live" else not _same(a, b)):
            t = second.tensors[s]
            raise CompileError(f"tg.compile: '{t.name}' (shape {t.shape}){_where(t)} held other "
                               f"values at the second call than at the first, with arguments of "
                               f"the same shapes; {hint}")
    for (f, *_, o), (g, *_rest) in zip(first.forward_code, second.forward_code):
        if not _same(getattr(f, "keywords", None), getattr(g, "keywords", None)):
            t = second.tensors[o]
            raise CompileError(f"tg.compile: the op making '{t.name}'{_where(t)} took other "
                               f"parameters at the second call than at the first (an index or a "
                               f"number); {hint}")


def _same(a, b) -> bool:
    """Equal values (arrays bit for bit, NaN equal to NaN), through tuples, lists and dicts."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape \
            and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    if isinstance(a, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    try:
        return bool(a == b) or (a != a and b != b)
    except (TypeError, ValueError):
        return a is b


class _Program:
    """One captured step: its tape as slots and instructions, forward and backward."""

    confirmed = False                     # captured twice alike (see _same_tape): replays from now

    @classmethod
    def capture(cls, fn, args, previous: _Program | None = None, extra=()) -> _Program:
        """Run fn eagerly, writing the tape. `previous` (the program this one replaces)
        names parameters whose gradients are looked at before fn runs (see _verify).
        `extra`: the arrays fn reads from its globals and closure, which the program reads
        at each replay as it reads its arguments (after them), so an in-place refill is seen."""
        before = {id(t): t.grad for t, *_ in previous.live_params} if previous else {}
        tape = _Tape(args + extra)
        tape.start = Tensor(np.zeros(()))._tick     # the clock now: leaves older than this are live
        rng_before = generator().bit_generator.state
        CHANGES[1] = None
        with capturing(tape):
            result = fn(*args)
        if CHANGES[1] is not None:
            raise CompileError(f"tg.compile: fn sets {CHANGES[1]} during the step (in a forward?), "
                               "which a replay would not do: the attribute would keep this call's "
                               "value. Return such values from fn, or set them outside it")
        if generator().bit_generator.state != rng_before:
            raise CompileError("tg.compile: fn drew random numbers from the library's generator "
                               "(dropout in training mode?); a replay would repeat the same draws. "
                               "Call model.eval() or run this step eagerly")
        return cls(tape, args + extra, result, before, len(args))

    def __init__(self, tape: _Tape, args, result, before, n_args: int):
        self.many = isinstance(result, (tuple, list))   # (loss, h_T.detach(), ...) for truncated BPTT
        outputs = tuple(result) if self.many else (result,)
        loss = outputs[0] if outputs else None
        if not isinstance(loss, Tensor) or loss.size != 1:
            raise CompileError(f"tg.compile: fn must return the scalar loss Tensor it called "
                               f"backward() on (first, if it returns several), got "
                               f"{type(loss).__name__}"
                               f"{' of shape ' + str(loss.shape) if isinstance(loss, Tensor) else ''}")
        if loss._grad is None:                # (DROPPED: backward() ran, and kept no .grad)
            raise CompileError("tg.compile: fn returned a loss without calling loss.backward(); "
                               "compile the whole training step (forward and backward)")
        if not all(isinstance(t, Tensor) for t in outputs):
            raise CompileError("tg.compile: fn may return the loss and other Tensors, got "
                               f"{', '.join(type(t).__name__ for t in outputs)}")
        self.root, self.outputs = loss, outputs
        self.modules_at = CHANGES[0]         # the modules as fn left them (see can_replay)
        self.effects = tape.effects
        self._build(tape, args, n_args)
        self._verify(args, before)

    # -- the tape as a program --
    def _build(self, tape: _Tape, args, n_args: int):
        produced = {id(out): k for k, (out, *_rest) in enumerate(tape.entries)}
        made_here = {id(out._data) for out, *_ in tape.entries}
        # Walk back from the root: the entries the loss depends on.
        needed, stack = set(), list(self.outputs)
        leaves = {}
        while stack:
            t = stack.pop()
            k = produced.get(id(t))
            if k is None:
                leaves[id(t)] = t
                continue
            if k in needed:
                continue
            needed.add(k)
            stack.extend(tape.entries[k][2])
        order = sorted(needed)
        self.slot_of, self.tensors = {}, []

        def slot(t):
            s = self.slot_of.get(id(t))
            if s is None:
                s = self.slot_of[id(t)] = len(self.tensors)
                self.tensors.append(t)
            return s

        # Leaves: an argument, a live tensor made before fn (a parameter), or a constant.
        self.sources = []                 # (slot, kind, payload)
        used_args = set()
        arg_tensor = {id(a): i for i, a in enumerate(args) if isinstance(a, Tensor)}
        for t in sorted(leaves.values(), key=lambda t: t._tick):
            s = slot(t)
            if id(t) in arg_tensor:
                i = arg_tensor[id(t)]
                self.sources.append((s, "tensor_arg", i))
                used_args.add(i)
            elif id(t._data) in tape.made_from:
                i = tape.made_from[id(t._data)]
                self.sources.append((s, "array_arg", (i, t.dtype)))
                used_args.add(i)
            elif t._tick < tape.start:
                if t._written_at > tape.start:
                    raise CompileError(f"tg.compile: fn wrote the data of '{t.name}' (shape {t.shape}) "
                                       "after using it (optimizer.step() inside fn?); compile forward "
                                       "and backward only, and update the parameters outside")
                self.sources.append((s, "live", t))
            else:
                if id(t._data) in made_here or tape.copied_from.get(id(t._data)) in made_here:
                    raise CompileError(f"tg.compile: a Tensor '{t.name}' (shape {t.shape}) was made "
                                       "from the values of a tensor computed inside fn; a replay "
                                       "cannot follow that. Use .detach() or ops on the tensor itself")
                self.sources.append((s, "const", t._data))
        # Instructions, in creation order.
        self.forward_code = []
        self.index_args = []              # (argument index, axis length) guards for index arrays
        for k in order:
            out, op, inputs, params = tape.entries[k]
            params, dyn = self._params(params, tape, used_args, inputs)
            f = functools.partial(op.forward, **params) if params and not dyn else op.forward
            self.forward_code.append((f, tuple(slot(t) for t in inputs), dyn, slot(out)))
        for i, a in enumerate(args[:n_args]):            # fn's own arguments must enter the graph
            if isinstance(a, (np.ndarray, Tensor)) and i not in used_args:
                raise CompileError(f"tg.compile: argument {i} (shape {np.shape(a)}) never entered "
                                   "the graph as it is; fn must pass array arguments to Tensor(...) "
                                   "or use them as integer indices (numpy work on them before that "
                                   "is invisible to the tape and would be frozen in the replay)")
        self._build_backward(tape, produced, order)

    def _params(self, params, tape, used_args, inputs):
        """Split an op's parameters into fixed ones and index arrays read from an argument."""
        if "index" not in params:
            return params, None
        index, dyn = list(params["index"]), []
        for j, a in enumerate(index):
            if not isinstance(a, np.ndarray):
                continue
            i = tape.arg_of.get(id(a))
            if i is None:                           # a reshape of an argument: targets.reshape(-1)
                i = tape.arg_buffers.get(_buffer(a))
            if i is not None:
                if any(b is Ellipsis or b is None for b in index):
                    raise CompileError("tg.compile: an index argument used beside ... or None; "
                                       "index with plain positions so the replay can check its range")
                used_args.add(i)
                dyn.append((j, i, a.shape))
                self.index_args.append((i, inputs[0].shape[j]))
        return params, (dyn, tuple(index)) if dyn else None

    def _build_backward(self, tape, produced, order):
        visited, stack = {id(self.root)}, [self.root]
        while stack:                                  # what backward() reached from the root
            t = stack.pop()
            k = produced.get(id(t))
            if k is None:
                continue
            for p in tape.entries[k][2]:
                if p.requires_grad and id(p) not in visited:
                    visited.add(id(p))
                    stack.append(p)
        self.record = _RECORD_EDGES.get()
        live = {s for s, kind, _ in self.sources if kind == "live"}
        dyn_of = {o: dyn for _, _, dyn, o in self.forward_code}
        self.backward_code = []
        for k in reversed(order):
            out, op, inputs, params = tape.entries[k]
            if id(out) not in visited or op is DETACH:
                continue
            shares = []               # (parent position, vjp, parent slot, shape, dtype or None, deferral)
            for i, p in enumerate(inputs):
                if not p.requires_grad:
                    continue
                s = self.slot_of[id(p)]
                defer = None
                if not self.record and s in live:
                    if op is ops.matmul and i == 1 and p.ndim == 2 and inputs[0].ndim >= 1:
                        defer = "matmul"      # x_t W: keep (x_t, g_t), one matmul at the end
                    elif op is ops.add and p.ndim == 1 and out.ndim >= 1 and out.shape[-1] == p.size:
                        defer = "bias"        # + b: keep g_t, one sum at the end
                cast = p.dtype if p.dtype != out.dtype else None
                shares.append((i, op, s, p.shape, cast, defer))
            o = self.slot_of[id(out)]
            ins = tuple(self.slot_of[id(t)] for t in inputs)
            self.backward_code.append((o, ins, shares, params, dyn_of.get(o)))
        self.leaf_slots = [s for s, kind, _ in self.sources
                           if self.tensors[s].requires_grad and id(self.tensors[s]) in visited]
        self.persistent = {s for s, kind, _ in self.sources if kind in ("live", "tensor_arg")}
        self.live_params = [(t, t.shape, t.dtype, t.requires_grad)
                            for t in (self.tensors[s] for s, kind, _ in self.sources if kind == "live")]
        self.tensor_args = [(s, i) for s, kind, i in self.sources if kind == "tensor_arg"]
        self.write_back = [(t, s) for s, t in enumerate(self.tensors) if s not in self.persistent]
        self.accumulate = {}            # slot -> True/False once known (see _verify)
        self.ops_of = {o: tape.entries[k][1] for k, o in zip(order, (c[3] for c in self.forward_code))}
        # What the interpreter sees on its first run, for the generated code (codegen.py):
        self.scalar_out, self.needs_dense, self.needs_unbroadcast = {}, {}, {}

    # -- the replay --
    def run(self, args):
        """Forward and backward on numpy arrays; returns (values, grads, edges)."""
        vals = [None] * len(self.tensors)
        for s, kind, payload in self.sources:
            if kind == "live":
                vals[s] = payload._data
            elif kind == "const":
                vals[s] = payload
            elif kind == "tensor_arg":
                vals[s] = args[payload]._data
            else:
                i, dtype = payload
                vals[s] = np.array(args[i], dtype=dtype)   # a copy, as eager's Tensor(x) makes
        for f, ins, dyn, o in self.forward_code:
            y = f(*[vals[i] for i in ins], **self._index(dyn, args)) if dyn else f(*[vals[i] for i in ins])
            self.scalar_out[o] = type(y) is not np.ndarray
            vals[o] = np.asarray(y)
        return vals, *self._backward(vals, args)

    def _index(self, dyn, args):
        pieces, index = dyn
        index = list(index)
        for j, i, shape in pieces:
            a = args[i]._data if isinstance(args[i], Tensor) else args[i]
            index[j] = a.reshape(shape)
        return {"index": tuple(index)}

    def _backward(self, vals, args):
        ndarray, unbroadcast = np.ndarray, ops.unbroadcast
        pending = [None] * len(self.tensors)
        grads = [None] * len(self.tensors)
        edges, matmuls, biases = {}, {}, {}
        root = self.slot_of[id(self.root)]
        pending[root] = np.ones_like(vals[root])
        record = self.record
        for o, ins, shares, params, dyn in self.backward_code:
            g, pending[o] = pending[o], None
            if type(g) is not ndarray or not g.flags.writeable:
                self.needs_dense[o] = "lazy" if isinstance(g, LazyGrad) else "view"   # or a scalar
                g = np.array(g)
            grads[o] = g
            if dyn:
                params = self._index(dyn, args)
            xs = [vals[i] for i in ins]
            y = vals[o]
            sent = [None] * len(ins) if record else None
            for i, op, s, shape, cast, defer in shares:
                if defer == "matmul":
                    a = xs[0]
                    matmuls.setdefault(s, []).append((a.reshape(-1, a.shape[-1]), g.reshape(-1, g.shape[-1])))
                    continue
                if defer == "bias":
                    biases.setdefault(s, []).append(g.reshape(-1, g.shape[-1]))
                    continue
                gp = op.vjp(i, g, y, xs, params)
                if gp.shape != shape:
                    gp = unbroadcast(gp, shape)
                    self.needs_unbroadcast[o, i] = True
                if cast is not None:
                    gp = gp.astype(cast)
                if record:
                    sent[i] = gp
                q = pending[s]
                pending[s] = gp if q is None else q + gp
            if record:
                edges[o] = tuple(sent)
        for s, factors in matmuls.items():   # Σ_t A_tᵀ G_t as one matmul over the stacked steps
            A = np.concatenate([a for a, _ in factors])
            G = np.concatenate([g for _, g in factors])
            pending[s] = _plus(pending[s], A.T @ G)
        for s, gs in biases.items():          # Σ_t Σ_b g_t as one sum over the stacked steps
            pending[s] = _plus(pending[s], np.add.reduce(np.concatenate(gs), axis=0))
        for s in self.leaf_slots:
            g = pending[s]
            if g is not None and (type(g) is not ndarray or not g.flags.writeable):
                g = np.array(g)
                self.needs_dense[s] = True
            grads[s] = g
        return grads, edges

    def guards_hold(self, args) -> bool:
        """Index arguments in range: otherwise the eager step's own checks must speak."""
        for i, n in self.index_args:
            a = args[i]._data if isinstance(args[i], Tensor) else args[i]
            if a.size and not _in_range(a, n):
                return False
        return True

    def replay(self, args):
        with _REPLAYING:                  # the reused stacks (codegen._stacked): one replay at a time
            vals, grads, edges = self.replay_fn(args)
            self.write_graph(vals, grads, edges)
        self._write_back(grads, args)
        for obj, attrs in self.effects:          # e.g. rnn.states: this replay's h_t, not a stale pass's
            for name, value in attrs.items():
                setattr(obj, name, value)
        root = self.root_slot
        return self.results(args, vals, DROPPED if root in self.dropped else grads[root])

    def results(self, args, vals, loss_grad):
        """What fn returned, as new Tensors holding copies of this step's values (no graph: see
        .graph), as Tensor(value, name=...) makes them without its checks (each call's are its
        own, so a list of earlier losses keeps their values)."""
        out = tuple(Tensor._from_array(np.array(vals[s]), False, name) for s, name in self.output_slots)
        for t in out:
            t._named = True
        out[0]._grad, out[0]._shared = loss_grad, True         # the graph's loss holds it too
        return out if self.many else out[0]

    def _write_back(self, grads, args):
        """Gradients into the parameters and tensor arguments, as backward() would leave them."""
        for s, i in self.tensor_args:
            t, g = args[i], grads[s]
            if g is not None and t.requires_grad:
                g = g.copy() if s in self.shared_grads else g
                t.grad = g if t.grad is None else t.grad + g
        for t, s in self.live_slots:
            g = grads[s]
            if g is not None:
                g = g.copy() if s in self.shared_grads else g
                old = t._grad                     # (not .grad: reading a shared one copies it)
                t.grad = g if old is None or not self.accumulate[s] else old + g

    def _verify(self, args, before):
        """Replay the captured step once and compare it with what eager computed.

        It also learns what fn does to a parameter's existing gradient: eager
        backward() adds to it, unless fn zeroes it first. Seen with a gradient
        before fn (`before`), the two are told apart (after = before + g, or g);
        anything else (clipping inside fn) cannot be replayed.
        """
        # what eager backward() did not keep (record_edge_grads(False)): a replay keeps it neither
        self.dropped = {s for s, t in enumerate(self.tensors) if t._grad is DROPPED}
        self.run(args)                             # the interpreter: learns what codegen needs
        self.replay_fn, self.code = codegen.build(self)
        vals, grads, edges = self.replay_fn(args)
        self.shared_grads = _sharing(grads, self.slot_of[id(self.root)])
        self.write_graph, writer = codegen.build(self, self.shared_grads)
        self.code += "\n" + writer
        self.live_slots = [(t, self.slot_of[id(t)]) for t, *_ in self.live_params]
        self.root_slot = self.slot_of[id(self.root)]
        self.output_slots = [(self.slot_of[id(t)], t.name) for t in self.outputs]
        # the coarsest float dtype of the step: float32 weights on float64 inputs (numpy
        # promotes) give float32 gradients, which float64's 1e-9 would refuse as if fn clipped
        tol = max(_tolerance(t.dtype) for t in self.tensors if t.dtype.kind == "f")
        for s, g in enumerate(grads):
            t = self.tensors[s]
            if g is not None and s not in self.persistent and kept_grad(t) is not None \
                    and not _close(g, t.grad, tol):
                raise CompileError(f"tg.compile: replaying the captured step gives a different "
                                   f"gradient at '{t.name}'{_where(t)}; run this step eagerly")
        self.trusted, fresh = True, {}
        for t, *_ in self.live_params:
            s = self.slot_of[id(t)]
            g = grads[s]
            if g is None or t.grad is None:
                continue
            if id(t) not in before:                # first sight: fresh (after = g) or unknown
                fresh[s] = _close(g, t.grad, tol)
                self.trusted &= fresh[s]
                continue
            b = before[id(t)]
            if b is None:
                ok = fresh[s] = _close(g, t.grad, tol)
            elif _close(b + g, t.grad, tol):
                ok, self.accumulate[s] = True, True
            else:
                ok = fresh[s] = _close(g, t.grad, tol)
                self.accumulate[s] = False
            if not ok:
                raise CompileError(f"tg.compile: fn changes the gradient of '{t.name}' after "
                                   "backward() (clipping inside fn?); a replay cannot follow that. "
                                   "Clip outside the compiled step")
        # From now on every step's numbers come from the generated code, this one too, so a
        # run gives the same bits whichever step was captured (a resumed run equals a long one).
        if self.trusted:
            for t, *_ in self.live_params:
                s = self.slot_of[id(t)]
                g = grads[s].copy() if s in self.shared_grads else grads[s]
                if g is not None:
                    t.grad = g if fresh.get(s) else before[id(t)] + g
            self.write_graph(vals, grads, edges)

    def can_replay(self) -> bool:
        """The step as captured (see `as_captured`), and nothing about the parameters'
        gradients unknown (add to one or replace it? the next capture sees). One loop, run
        before every replay: it reads `_grad`, since `.grad` would copy a shared gradient."""
        if not self.as_captured():
            return False
        for t, s in self.live_slots:
            if t._grad is not None and s not in self.accumulate:
                return False
        return True

    def as_captured(self) -> bool:
        """The modules as captured (no parameter replaced, no train()/eval() since), and the
        parameters' shapes, dtypes and requires_grad as captured (a weight frozen between
        calls gets no gradient): a new capture should then record the same tape."""
        if not self.trusted or self.modules_at != CHANGES[0]:
            return False
        for t, shape, dtype, requires_grad in self.live_params:
            a = t._data
            if a.shape != shape or a.dtype != dtype or t._requires_grad != requires_grad:
                return False
        return True


_UNSIGNED = {np.dtype(t): np.dtype(t.replace("int", "uint")) for t in ("int8", "int16", "int32", "int64")}


def _in_range(a: np.ndarray, n: int) -> bool:
    """0 <= a < n everywhere, in one pass: read as unsigned, a negative index is huge."""
    u = _UNSIGNED.get(a.dtype)
    if u is not None:
        return bool(np.maximum.reduce(a.view(u), axis=None) < n)
    return bool(a.min() >= 0 and a.max() < n)


def _buffer(a: np.ndarray):
    """Where a contiguous array's numbers live: two arrays with the same are reshapes of each other."""
    return (a.ctypes.data, a.size, a.dtype.str) if a.flags.c_contiguous else None


def _sharing(grads, root: int) -> set:
    """Slots whose gradient array is also another slot's, or a view of one, or viewed
    by one (add's VJP passes g on, a stack's share is a slice of g), and the loss's
    (the returned loss holds it too): their tensors copy it when first read."""
    count, bases = {}, set()
    for g in grads:
        if isinstance(g, np.ndarray):
            count[id(g)] = count.get(id(g), 0) + 1
            if g.base is not None:
                bases.add(id(g.base))
    return {s for s, g in enumerate(grads) if isinstance(g, np.ndarray)
            and (count[id(g)] > 1 or g.base is not None or id(g) in bases)} | {root}


def _plus(a, b):
    return b if a is None else a + b


def _tolerance(dtype) -> float:
    return 1e-9 if np.dtype(dtype) == np.float64 else 1e-4


def _close(a, b, tol) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and np.allclose(a, b, rtol=tol, atol=tol * max(1.0, np.abs(b).max(initial=0)))


def _where(t) -> str:
    return f" (scope {t.scope})" if t.scope else ""
