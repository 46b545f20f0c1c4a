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

import functools

import numpy as np

from . import ops

_INLINE = {                       # VJPs so simple that a call would cost more than the op
    (ops.add, 0): "{g}", (ops.add, 1): "{g}",
    (ops.sub, 0): "{g}", (ops.sub, 1): "-{g}",
    (ops.neg, 0): "-{g}",
}


def generate(program) -> tuple[str, dict]:
    """Python source of `replay(args)` for a built program, and the names it uses."""
    ns = {"np": np, "asarray": np.asarray, "ones_like": np.ones_like, "concatenate": np.concatenate,
          "unbroadcast": ops.unbroadcast, "dense": _dense, "add_reduce": np.add.reduce}
    lines = ["def replay(args):"]
    emit = lines.append
    tensors = program.tensors
    # -- sources: arguments, live parameters, constants --
    for s, kind, payload in program.sources:
        name = tensors[s].name
        if kind == "live":
            ns[f"t{s}"] = payload
            emit(f"    v{s} = t{s}._data                  # {name} {tensors[s].shape}")
        elif kind == "const":
            ns[f"c{s}"] = payload
            emit(f"    v{s} = c{s}                        # constant {name} {tensors[s].shape}")
        elif kind == "tensor_arg":
            emit(f"    v{s} = args[{payload}]._data       # argument {payload}")
        else:
            i, dtype = payload
            ns[f"d{s}"] = dtype
            emit(f"    v{s} = asarray(args[{i}], dtype=d{s})  # argument {i} as {dtype}")
    # -- forward --
    emit("    # forward: one line per op of the tape")
    for k, (f, ins, dyn, o) in enumerate(program.forward_code):
        op = program.ops_of[o]
        fname = op.name if f is op.forward else f"{op.name}{k}"
        ns[fname] = f
        call = f"{fname}({', '.join(f'v{i}' for i in ins)}{_index_kwarg(dyn, ns, f'i{k}')})"
        if program.scalar_out[o]:
            call = f"asarray({call})"
        t = tensors[o]
        emit(f"    v{o} = {call}".ljust(44) + f"  # {t.name} {t.shape} {t.scope}".rstrip())
    # -- backward --
    emit("    # backward: one line per edge; g<k> sums the shares reaching v<k>")
    root = program.slot_of[id(program.root)]
    emit(f"    g{root} = ones_like(v{root})")
    arrived, deferred = {root}, {}
    for o, ins, shares, params, dyn in program.backward_code:
        if program.needs_dense.get(o):
            emit(f"    g{o} = dense(g{o})")
        idx = _index_kwarg(dyn, ns, f"j{o}")
        args = ", ".join(f"v{i}" for i in ins)
        op = program.ops_of[o]
        sent = []
        for i, _, s, shape, cast, defer in shares:
            if defer is not None:
                deferred.setdefault(s, []).append((defer, ins[0], o))
                continue
            if (op, i) in _INLINE and not params:
                expr = _INLINE[op, i].format(g=f"g{o}")
            else:
                rule = op.vjps[0] if op.variadic else op.vjps[i]
                bname = f"{op.name}_vjp{'' if op.variadic else i}" + (f"_{o}" if params else "")
                ns[bname] = rule if not params or dyn else functools.partial(rule, **params)
                if op.variadic:                   # cat, stack: the rule takes the inputs as one tuple
                    expr = f"{bname}(g{o}, v{o}, ({args},), {i}{idx})"
                else:
                    expr = f"{bname}(g{o}, v{o}, {args}{idx})"
            if program.needs_unbroadcast.get((o, i)):
                ns[f"shape{s}"] = shape
                expr = f"unbroadcast({expr}, shape{s})"
            if cast is not None:
                ns[f"dt{s}"] = cast
                expr = f"({expr}).astype(dt{s})"
            if program.record:                    # keep the share: it is the edge's record
                emit(f"    s{o}_{i} = {expr}")
                expr = f"s{o}_{i}"
                sent.append(i)
            emit(f"    g{s} = g{s} + {expr}" if s in arrived else f"    g{s} = {expr}")
            arrived.add(s)
        if program.record:
            emit(f"    e{o} = ({''.join(f's{o}_{i}, ' if i in sent else 'None, ' for i in range(len(ins)))})")
    for s, uses in deferred.items():    # each shared weight's shares, as one matmul or one sum
        mm = [(a, o) for kind, a, o in uses if kind == "matmul"]
        bias = [o for kind, a, o in uses if kind == "bias"]
        terms = []
        if mm:
            A = _stacked([_rows(f"v{a}", tensors[a].ndim) for a, _ in mm])
            G = _stacked([_rows(f"g{o}", tensors[o].ndim) for _, o in mm])
            emit(f"    # ∂E/∂{tensors[s].name} = Σ_t A_tᵀ G_t over its {len(mm)} uses: one matmul AᵀG")
            terms.append(f"{A}.T @ {G}")
        if bias:
            emit(f"    # ∂E/∂{tensors[s].name} = Σ_t g_t over its {len(bias)} uses: one sum")
            terms.append(f"add_reduce({_stacked([_rows(f'g{o}', tensors[o].ndim) for o in bias])}, axis=0)")
        total = " + ".join(terms)
        emit(f"    g{s} = g{s} + {total}" if s in arrived else f"    g{s} = {total}")
        arrived.add(s)
    for s in program.leaf_slots:
        if s in arrived and program.needs_dense.get(s):
            emit(f"    g{s} = dense(g{s})")
    n = len(tensors)
    has_grad = arrived
    emit(f"    return ({''.join(f'v{s}, ' for s in range(n))}), "
         f"({''.join(f'g{s}, ' if s in has_grad else 'None, ' for s in range(n))}), "
         + ("{" + "".join(f"{o}: e{o}, " for o, *_ in program.backward_code) + "}"
            if program.record else "{}"))
    return "\n".join(lines) + "\n", ns


def build(program):
    """Compile the generated source into the replay function."""
    source, ns = generate(program)
    exec(compile(source, "<tg.compile replay>", "exec"), ns)   # noqa: S102 - our own source
    return ns["replay"], source


def _stacked(rows: list[str]) -> str:
    return rows[0] if len(rows) == 1 else f"concatenate(({', '.join(rows)}))"


def _rows(var: str, ndim: int) -> str:
    """A factor as a matrix of rows: (B, T, H) -> (B·T, H); a (B, H) factor as it is."""
    return var if ndim == 2 else f"{var}.reshape(-1, {var}.shape[-1])"


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
