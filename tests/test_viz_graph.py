"""The op-level picture: nodes, edges, labels = recorded gradient norms, clusters, determinism."""

import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import assert_printed_norms, printed_norm_after
from test_viz_nets import lstm_loss, node_by_label, parse_dot, rnn_loss

import tinygrad_rnn as tg
from tinygrad_rnn import viz
from tinygrad_rnn.viz.labels import fmt_norm


def nodes_of(g):
    return {i: a for i, a in parse_dot(g.source)[0].items() if i != "legend"}


def drawn(T=5, **kw):
    E, P, hs = rnn_loss(T=T, **kw)
    E.backward()
    g = viz.draw_graph(E)
    return E, P, hs, parse_dot(g.source), g


def test_shared_parameter_is_drawn_once_with_one_edge_per_step():
    T = 5
    _, P, _, (nodes, edges, _), _ = drawn(T)
    for name in ("W", "U", "b"):
        [pid] = node_by_label(nodes, name)
        assert sum(1 for s, _, _ in edges if s == pid) == T
    [vid] = node_by_label(nodes, "V")                       # the readout: used once
    assert sum(1 for s, _, _ in edges if s == vid) == 1


def test_node_and_edge_counts_follow_the_unrolled_graph():
    # per step: x_t, x_t W, h U, +, + b, tanh = 6 nodes; 2 + 2 + 2 + 2 + 1 = 9 edges.
    # outside: W U b V h_0, then h_T V, **2, sum, * 0.25 (the constant is folded) = 9 nodes.
    T = 4
    _, _, _, (nodes, edges, _), _ = drawn(T)
    assert len(nodes) - 1 == 6 * T + 9                      # minus the legend
    assert len(edges) == 9 * T + 2 + 1 + 1 + 1


def test_edge_labels_are_the_norms_of_the_gradients_that_flowed():
    E, P, hs, (nodes, edges, _), _ = drawn(4)
    U = P["U"]
    [uid] = node_by_label(nodes, "U")
    labels = sorted(a["label"] for s, _, a in edges if s == uid)
    # by hand: step t computes h_{t-1} U, so it sends h_{t-1}^T · ∂E/∂(h_{t-1} U) to U
    h_prev = [np.zeros_like(hs[0].data)] + [h.data for h in hs[:-1]]
    consumers = [h.parents[0].parents[0].parents[1] for h in hs]   # tanh <- +b <- + <- (x W, h U)
    by_hand = [hp.T @ c.grad for hp, c in zip(h_prev, consumers)]
    assert_printed_norms(labels, [np.linalg.norm(g) for g in by_hand])
    # the fan-in: the per-step contributions add up (as arrays) to U.grad
    np.testing.assert_allclose(np.sum(by_hand, axis=0), U.grad, rtol=1e-12, atol=1e-15)
    recorded = [c.edge_grads[1] for c in consumers]
    np.testing.assert_allclose(np.sum(recorded, axis=0), U.grad, rtol=1e-12, atol=1e-15)
    assert "= Σ over its 4 edges" in nodes[uid]["label"]
    assert_printed_norms([printed_norm_after(nodes[uid]["label"], "‖∂E/∂U‖ = ")], [np.linalg.norm(U.grad)])


def test_every_edge_label_matches_edge_grads_to_the_printed_precision():
    E, _, _, (nodes, edges, _), _ = drawn(3)
    numbers = [a["label"] for _, _, a in edges if "label" in a]
    recorded = [t for t in viz.graph.walk(E) if t.edge_grads]
    assert_printed_norms(numbers, [np.linalg.norm(g) for t in recorded for g in t.edge_grads
                                   if g is not None])


def test_time_steps_are_clusters_in_time_order():
    _, _, _, (_, _, clusters), g = drawn(5)
    assert clusters == [f"t = {t}" for t in range(1, 6)]
    assert g.engine == "neato" and g.fixed                 # positions computed, drawn by neato -n2
    assert all("pos" in a for a in nodes_of(g).values())


def test_node_kinds_and_names():
    _, _, _, (nodes, _, _), _ = drawn(2)
    for t in (1, 2):                                           # named tensors: name and step
        assert len(node_by_label(nodes, f"h_{t}")) == 1 and len(node_by_label(nodes, f"x_{t}")) == 1
    heads = [a["label"].split("\\n")[0] for a in nodes.values()]
    assert {"x_1·W", "h_0·U", "x_2·W", "h_1·U", "h_2·V"} <= set(heads)   # a matmul names its weight
    [loss] = node_by_label(nodes, "loss")
    assert nodes[loss]["shape"] == "doubleoctagon"
    shapes = {nodes[node_by_label(nodes, n)[0]]["fillcolor"] for n in ("W", "x_1", "h_1")}
    assert len(shapes) == 3                                    # parameter, input, tensor differ


def test_before_backward_there_are_no_numbers():
    E, _, _ = rnn_loss(T=3)
    nodes, edges, clusters = parse_dot(viz.draw_graph(E).source)
    assert all("label" not in a for _, _, a in edges)
    assert "no gradients yet" in nodes["legend"]["label"]
    assert len(clusters) == 3


def test_with_edges_unrecorded_the_legend_says_so_not_that_backward_is_missing():
    E, _, _ = rnn_loss(T=3)
    with tg.record_edge_grads(False):
        E.backward()
    nodes, edges, _ = parse_dot(viz.draw_graph(E).source)
    assert all("label" not in a for _, _, a in edges)           # no shares to draw
    legend = nodes["legend"]["label"]
    assert "not recorded" in legend and "no gradients yet" not in legend
    assert any("‖∂E/∂W‖" in a.get("label", "") for a in nodes.values())   # the totals kept are drawn


def test_legend_shows_the_range_of_the_colour_bar():
    E, _, _, (nodes, edges, _), _ = drawn(4)
    norms = [float(a["label"]) for _, _, a in edges if "label" in a and float(a["label"]) > 0]
    legend = nodes["legend"]["label"]
    assert fmt_norm(min(norms)) in legend and fmt_norm(max(norms)) in legend
    widths = {a["label"]: float(a["penwidth"]) for _, _, a in edges if "penwidth" in a}
    assert widths[fmt_norm(max(norms))] > widths[fmt_norm(min(norms))]   # log scale: wider = larger


def test_dot_source_is_deterministic_across_runs_and_processes():
    first = viz.draw_graph(rnn_loss(T=3, seed=7)[0]).source
    E, _, _ = rnn_loss(T=3, seed=7)
    assert viz.draw_graph(E).source == first                # new tensors, new id()s, same text
    E.backward()
    after = viz.draw_graph(E).source
    code = ("import sys; sys.path.insert(0, 'tests');\n"
            "from test_viz_nets import rnn_loss; from tinygrad_rnn import viz\n"
            "E = rnn_loss(T=3, seed=7)[0]; E.backward(); sys.stdout.write(viz.draw_graph(E).source)")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONHASHSEED="12345", PYTHONPATH=root)
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True,
                         text=True, check=True, encoding="utf-8").stdout
    assert out == after


def test_ids_come_from_graph_order_not_memory_addresses():
    _, _, _, (nodes, _, _), _ = drawn(2)
    ids = [i for i in nodes if i != "legend"]
    assert sorted(ids, key=lambda i: int(i[1:])) == [f"n{k}" for k in range(len(ids))]


def test_detach_is_drawn_as_a_cut_between_steps():
    E, _, hs = rnn_loss(T=4, loss_at="all", detach_at=3)
    E.backward()
    nodes, edges, _ = parse_dot(viz.draw_graph(E).source)
    [cut] = [(s, d, a) for s, d, a in edges if a.get("style") == "dashed" and "detach" in a.get("label", "")]
    assert nodes[cut[0]]["label"].startswith("h_2")          # from h_2 ...
    assert nodes[cut[1]]["label"].startswith("✂")            # ... to the detached leaf
    assert cut[2]["arrowhead"] == "tee"


def test_tooltips_carry_shape_and_statistics():
    _, _, _, (nodes, edges, _), _ = drawn(2)
    [h] = node_by_label(nodes, "h_1")
    for key in ("(2, 4)", "value: min", "max", "mean", "norm", "grad ∂E/∂h_t"):
        assert key in nodes[h]["tooltip"]
    assert any("gradient along it: min" in a["tooltip"] for _, _, a in edges)
    [u] = node_by_label(nodes, "U")
    assert "their sum (as arrays)" in nodes[u]["tooltip"]


def test_scalar_constants_are_folded_into_their_op():
    x = tg.Tensor(np.ones(3), requires_grad=True, name="x")
    y = (x * 0.5).sum()
    nodes, edges, _ = parse_dot(viz.draw_graph(y).source)
    assert len(nodes) - 1 == 3 and node_by_label(nodes, "x ∗ 0.5")


def test_lstm_op_level_names_its_gates():
    E, P, hs, Cs = lstm_loss(T=2)
    E.backward()
    nodes, edges, clusters = parse_dot(viz.draw_graph(E).source)
    for name in ("f", "i", "o", "C", "h", "C̃"):
        assert len(node_by_label(nodes, f"{name}_1")) == len(node_by_label(nodes, f"{name}_2")) == 1
    assert clusters == ["t = 1", "t = 2"]


def test_bad_arguments_are_explained():
    E = rnn_loss(T=2)[0]
    with pytest.raises(ValueError, match="level must be 'op' or 'cell'"):
        viz.draw_graph(E, level="cells")
    with pytest.raises(ValueError, match="elide must be a positive int"):
        viz.draw_graph(E, elide=0)


def test_bigger_graphs_get_every_edge_label_placed():
    E, _, _ = rnn_loss(T=20)
    E.backward()
    nodes, edges, _ = parse_dot(viz.draw_graph(E).source)
    assert len(nodes) > viz.dot.INLINE_LABELS_UP_TO
    numbers = [a["label"] for _, _, a in edges if "label" in a and "lp" in a]
    expected = [t.edge_grads[i] for t in viz.graph.walk(E) if t.edge_grads
                for i in range(len(t.parents)) if t.edge_grads[i] is not None]
    assert len(numbers) == len(expected)
