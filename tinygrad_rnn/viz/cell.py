"""The cell view (one box per time step) and elision (hide the middle of a long unroll).

Cell view: every tensor made inside scope `rnn/t=3` collapses into the box
`t = 3`; everything after the loop (readout, loss) collapses into the loss box.
An edge between two boxes carries a state, h_t into step t+1, and is labelled
like every edge of the op view: ‖the share of the gradient that flowed back
along it‖ (the sum of what the uses of h_t in step t+1 sent back). The box says
the total, ‖∂E/∂h_t‖ = ‖h_t.grad‖: with a loss at every step the two differ by
what the readout of step t sent back. An LSTM's C_t travels in a lane of its
own: side by side, the two lanes show why the cell state carries gradient
further back than the hidden state.
"""

from __future__ import annotations

import numpy as np

from ..autograd import kept_grad
from .graph import Edge, Node, Picture, cut_from, edge_id, reading_order, tensor_ids, time_steps
from .labels import fmt_norm, norm, shape_text, stats, step_title, value_stats

STATES = ("h_t", "C_t")   # the tensors a step hands to the next one, by name


def cell_picture(root) -> Picture:
    tensors = reading_order(root)
    step_at = time_steps(tensors)                # tensor -> (lane, t)
    steps = sorted(set(step_at.values()), key=_lane_order(tensors, step_at))
    cell = {s: f"c{i}" for i, s in enumerate(steps)}
    state = {}                                   # (step, "h_t") -> the last tensor so named
    for t in tensors:
        if t.name in STATES and t in step_at:
            state[step_at[t], t.name] = t

    def home(t):
        if t.op is None:
            return None                          # parameters and inputs are not drawn
        return cell[step_at[t]] if t in step_at else "loss"

    several_lanes = len({lane for lane, _ in steps}) > 1
    nodes = [_cell_node(s, cell[s], state, step_title(s, several_lanes)) for s in steps]
    nodes += [_loss_node(root, tensors, step_at), _param_table(tensors)]
    tids = tensor_ids(tensors)
    for n in nodes:                              # what each box stands for, for the viewer
        if n is not None:
            n.dom_id = "x" + n.id
            n.stands_for = tuple(tids[t] for t in tensors if home(t) == n.id)
    lanes = any(name == "C_t" for _, name in state)   # an LSTM: boxes with an h row and a C row
    edges = _state_edges(tensors, home, lanes, tids) + _cuts(tensors, home, nodes)
    return Picture([n for n in nodes if n is not None], edges)


def _lane_order(tensors, step_at):
    """Lanes (layers, chunks) in the order they first appear, then time."""
    first = {}
    for t in tensors:
        if t in step_at:
            first.setdefault(step_at[t][0], len(first))
    return lambda s: (first[s[0]], s[1])


def _cell_node(step, nid, state, title) -> Node:
    h, C = state.get((step, "h_t")), state.get((step, "C_t"))
    tip = [f"time step {step[1]} ({step[0] or 'no layer name'})"]
    h_grad, C_grad = (None if t is None else kept_grad(t) for t in (h, C))   # None if dropped too
    for t, grad in ((h, h_grad), (C, C_grad)):
        if t is not None:
            tip.append(f"{t.name} {shape_text(t.shape)} value: {value_stats(t)}")
            if grad is not None:
                tip.append(f"  ∂E/∂{t.name}: {stats(grad)}")
    ports = ("C", "h") if C is not None else ()
    hn = norm(h_grad) if h_grad is not None else None
    totals = [f"‖∂E/∂{t.name[0]}_{step[1]}‖ = {fmt_norm(norm(grad))}"
              for t, grad in ((C, C_grad), (h, h_grad)) if grad is not None]
    return Node(nid, "cell", "\n".join([title, *totals]), "\n".join(tip), step, hn, ports)


def _loss_node(root, tensors, step_at) -> Node:
    outside = [t for t in tensors if t.op is not None and t not in step_at]
    value = f"\nE = {root.item():.4g}" if root.size == 1 else ""
    what = "readout + loss" if len(outside) > 1 else "loss"
    ops = ", ".join(dict.fromkeys(t.op for t in outside))
    return Node("loss", "loss", f"{what}{value}", f"after the loop: {ops}\nE: {stats(root.data)}")


def _param_table(tensors) -> Node | None:
    """Parameters are not drawn at cell level; list them with ‖∂E/∂p‖ = ‖Σ_t ...‖ instead."""
    params = sorted((t for t in tensors if t.op is None and t.requires_grad), key=lambda p: p.name)
    if not params:
        return None
    rows = [f"{p.name} {shape_text(p.shape)}" + (f"  ‖∂E/∂{p.name}‖ = {fmt_norm(norm(p.grad))}"
                                                  if p.grad is not None else "") for p in params]
    return Node("params", "params", "parameters and ‖∂E/∂p‖\n" + "\n".join(rows),
                "a weight shared by the steps gets ∂E/∂p = the sum over the steps of what each sends back")


def _state_edges(tensors, home, lanes: bool, tids) -> list[Edge]:
    """One edge per (box, box, tensor) crossing, labelled with the share that flowed along it."""
    merged = {}                                   # (src box, dst box, tensor) -> (tensor, grads, ids)
    for c in tensors:
        for i, p in enumerate(c.parents):
            a, b = home(p), home(c)
            if a is None or b is None or a == b:
                continue
            g = c.edge_grads[i] if c.edge_grads is not None else None
            entry = merged.setdefault((a, b, p), (p, [], []))
            entry[1].append(g)
            entry[2].append(edge_id(tids[c], i))
    edges = []
    for (a, b, _), (p, grads, ids) in merged.items():
        port = p.name[0] if lanes and p.name in STATES else ""
        e = Edge(a, b, tailport=port, headport=port if b != "loss" else "",
                 dom_id=ids[0], stands_for=tuple(ids))
        if all(g is not None for g in grads):
            share = np.sum(grads, axis=0)
            e.norms = [norm(share)]
            e.tooltip = f"{p.name} of {p.scope or 'top level'} → {b}\ngradient along it: {stats(share)}"
            if p.grad is not None:
                e.tooltip += f"\n(all of ∂E/∂{p.name}, every use together: {stats(p.grad)})"
        edges.append(e)
    return edges


def _cuts(tensors, home, nodes) -> list[Edge]:
    """detach(): a dashed cut from the box that made the value to the box that uses it."""
    drawn = set(tensors)
    cuts = []
    for c in tensors:
        for p in c.parents:
            if p._detached_from is None or home(c) is None:
                continue
            src = cut_from(p)
            if src is None or src not in drawn or src.op is None or home(src) is None:
                nodes.append(Node(f"cut{len(cuts)}", "detached", f"✂ {p.name}.detach()\n"
                                  f"{shape_text(p.shape)}", "carried in from an earlier chunk",
                                  dom_id=f"xcutnode{len(cuts)}"))
                a = nodes[-1].id
            else:
                a = home(src)
            if a != home(c):
                cuts.append(Edge(a, home(c), kind="cut", text="✂ detach()",
                                 tooltip="truncated BPTT: no gradient flows back across this cut",
                                 dom_id=f"xcut{len(cuts)}"))
    return cuts


def elide_steps(pic: Picture, k: int) -> Picture:
    """Keep the first k and last k steps of each lane; the middle becomes one "… n steps …" node."""
    lanes = {}
    for n in pic.nodes:
        if n.step:
            lanes.setdefault(n.step[0], set()).add(n.step[1])
    new_id, keep, extra = {}, [], {}
    for lane, ts in lanes.items():
        ts = sorted(ts)
        if len(ts) > 2 * k + 1:
            hidden = set(ts[k:len(ts) - k])
            for n in pic.nodes:
                if n.step and n.step[0] == lane and n.step[1] in hidden:
                    new_id[n.id] = f"elided{len(extra)}"
            extra[lane] = _elided_node(f"elided{len(extra)}", sorted(hidden), pic.nodes, lane)
    if not extra:
        return pic
    for n in pic.nodes:
        if n.id not in new_id:
            keep.append(n)
        elif extra.get(n.step[0]) is not None:
            keep.append(extra.pop(n.step[0]))   # in place of the first hidden node
    return Picture(keep, _merge_edges(pic.edges, new_id))


def _elided_node(nid, hidden, nodes, lane) -> Node:
    inside = [n for n in nodes if n.step and n.step[0] == lane and n.step[1] in hidden]
    norms = [n.state_norm for n in inside if n.state_norm is not None]
    text = f"… {len(hidden)} steps …\nt = {hidden[0]} … {hidden[-1]}"
    if norms:
        text += f"\n‖∂E/∂h_t‖ from {fmt_norm(min(norms))}\nto {fmt_norm(max(norms))}"
    ports = tuple(sorted({p for n in inside for p in n.ports}))
    return Node(nid, "elided", text, f"{len(hidden)} time steps not drawn", None, None, ports,
                dom_id="x" + nid, stands_for=tuple(i for n in inside for i in n.stands_for),
                hides=(lane, hidden[0], hidden[-1]))


def _merge_edges(edges, new_id) -> list[Edge]:
    """Re-point edges at the elided node; edges that now coincide become one (norms kept)."""
    merged = {}
    for e in edges:
        src, dst = new_id.get(e.src, e.src), new_id.get(e.dst, e.dst)
        if src == dst:
            continue
        key = (src, dst, e.tailport, e.headport, e.kind)
        if key not in merged:
            merged[key] = Edge(src, dst, list(e.norms), e.kind, e.text, e.tooltip, e.tailport, e.headport,
                               e.dom_id, e.stands_for, e.grad)
        else:
            m = merged[key]
            m.norms += e.norms
            m.stands_for += e.stands_for
            m.grad = None if m.grad is None or e.grad is None else \
                np.asarray(m.grad, dtype=np.float64) + np.asarray(e.grad, dtype=np.float64)   # shares summed
            m.tooltip = f"{len(m.norms)} edges drawn as one: ‖·‖ from {fmt_norm(min(m.norms))} " \
                        f"to {fmt_norm(max(m.norms))}" if m.norms else m.tooltip
    return list(merged.values())
