"""The cell view (one box per step, h_t and C_t lanes), elision, and the size guard."""

import re

import numpy as np
import pytest
from helpers import PRINTED, assert_printed_norms, printed_norm_after
from test_viz_nets import lstm_loss, node_by_label, parse_dot, rnn_loss

from tinygrad_rnn import analysis, viz


def cells(nodes):
    """{t: node id} of the step boxes."""
    found = {i: re.search(r"\bt = (\d+)", a.get("label", "")) for i, a in nodes.items()}
    return {int(m.group(1)): i for i, m in found.items() if m and " steps …" not in nodes[i]["label"]}


def bptt_by_hand(hs, P):
    """∂E/∂h_t for E = mean((h_T V)²): δ_T = 2 h_T V Vᵀ / N, δ_{t-1} = (δ_t ⊙ (1 - h_t²)) Uᵀ."""
    y = hs[-1].data @ P["V"].data
    deltas = [2 * y @ P["V"].data.T / y.size]
    for h in reversed(hs[1:]):
        deltas.insert(0, (deltas[0] * (1 - h.data ** 2)) @ P["U"].data.T)
    return deltas


def test_rnn_cell_edges_carry_the_norm_of_dE_dh_t():
    T = 6
    E, P, hs = rnn_loss(T=T, rho=0.5)
    E.backward()
    nodes, edges, _ = parse_dot(viz.draw_graph(E, level="cell").source)
    box = cells(nodes)
    assert sorted(box) == list(range(1, T + 1))
    chain = {s: a["label"] for s, d, a in edges if s in box.values()}
    by_hand = bptt_by_hand(hs, P)
    for t in range(1, T + 1):
        assert_printed_norms([chain[box[t]]], [np.linalg.norm(hs[t - 1].grad)])
        assert_printed_norms([chain[box[t]]], [np.linalg.norm(by_hand[t - 1])])
    norms = analysis.state_grad_norms(E)
    # float64, sqrt(Σ g²) against np.linalg.norm's own summation: equal to ~1e-16
    np.testing.assert_allclose(norms, [np.linalg.norm(h.grad) for h in hs], rtol=1e-12, atol=0)
    assert norms[0] < norms[-1] / 10                        # ρ = 0.5: it vanishes backwards


def test_lstm_has_a_separate_cell_state_lane():
    T = 4
    E, P, hs, Cs = lstm_loss(T=T)
    E.backward()
    nodes, edges, _ = parse_dot(viz.draw_graph(E, level="cell").source)
    box = cells(nodes)
    C_lane = {s: a["label"] for s, d, a in edges if a.get("tailport") == "C:e"}
    h_lane = {s: a["label"] for s, d, a in edges if a.get("tailport") == "h:e"}
    assert len(C_lane) == T - 1 and len(h_lane) == T       # h_T also feeds the loss
    for t in range(1, T):
        # C_t feeds f_{t+1} * C_t (this edge) and tanh(C_t) in its own step: the edge carries the
        # share that came back from step t+1, the box the total ∂E/∂C_t
        share = Cs[t].parents[0].edge_grads[1]
        assert_printed_norms([C_lane[box[t]]], [np.linalg.norm(share)])
        assert np.linalg.norm(share) != pytest.approx(np.linalg.norm(Cs[t - 1].grad), rel=1e-3)
        assert_printed_norms([printed_norm_after(nodes[box[t]]["label"], f"‖∂E/∂C<SUB>{t}</SUB>‖ = ")],
                             [np.linalg.norm(Cs[t - 1].grad)])
        assert_printed_norms([h_lane[box[t]]], [np.linalg.norm(hs[t - 1].grad)])   # h_t: its one use
    assert all('PORT="C"' in nodes[box[t]]["label"] for t in box)


def test_with_a_loss_at_every_step_the_edge_is_the_share_and_the_box_the_total():
    T = 4
    E, P, hs = rnn_loss(T=T, loss_at="all")
    E.backward()
    nodes, edges, _ = parse_dot(viz.draw_graph(E, level="cell").source)
    box = cells(nodes)
    chain = {s: a["label"] for s, d, a in edges if s in box.values() and d in box.values()}
    for t in range(1, T):
        nxt = hs[t]                                           # h_{t+1} = tanh(x W + h_t U + b)
        matmul = nxt.parents[0].parents[0].parents[1]         # h_t U
        share = matmul.edge_grads[0]
        assert_printed_norms([chain[box[t]]], [np.linalg.norm(share)])
        assert_printed_norms([printed_norm_after(nodes[box[t]]["label"], f"‖∂E/∂h_{t}‖ = ")],
                             [np.linalg.norm(hs[t - 1].grad)])
        assert np.linalg.norm(share) != pytest.approx(np.linalg.norm(hs[t - 1].grad), rel=1e-3)


def test_parameters_are_listed_with_their_gradient_norms():
    E, P, _ = rnn_loss(T=3)
    E.backward()
    nodes, _, _ = parse_dot(viz.draw_graph(E, level="cell").source)
    table = nodes["params"]["label"]
    for name, p in P.items():
        assert_printed_norms([printed_norm_after(table, f"‖∂E/∂{name}‖ = ")], [np.linalg.norm(p.grad)])


def test_detach_is_a_cut_between_boxes():
    E, _, _ = rnn_loss(T=4, loss_at="all", detach_at=3)
    E.backward()
    nodes, edges, _ = parse_dot(viz.draw_graph(E, level="cell").source)
    box = cells(nodes)
    cuts = [(s, d) for s, d, a in edges if "detach" in a.get("label", "")]
    assert cuts == [(box[2], box[3])]
    assert not any(s == box[2] and d == box[3] and "detach" not in a.get("label", "") for s, d, a in edges)


def test_elision_keeps_both_ends_and_names_what_it_hides():
    T, k = 20, 2
    E, _, hs = rnn_loss(T=T, rho=0.5)
    E.backward()
    nodes, edges, _ = parse_dot(viz.draw_graph(E, level="cell", elide=k).source)
    assert sorted(cells(nodes)) == [1, 2, 19, 20]
    [elided] = [a["label"] for a in nodes.values() if " steps …" in a.get("label", "")]
    hidden = [np.linalg.norm(h.grad) for h in hs[k:T - k]]
    assert "… 16 steps …" in elided and "t = 3 … 18" in elided
    printed = PRINTED.findall(elided)                        # the range of the hidden steps' norms
    assert_printed_norms([min(printed, key=float), max(printed, key=float)], [min(hidden), max(hidden)])


def test_elision_at_op_level_merges_the_hidden_steps():
    E, _, _ = rnn_loss(T=12)
    E.backward()
    nodes, edges, clusters = parse_dot(viz.draw_graph(E, elide=2).source)
    assert clusters == ["t = 1", "t = 2", "t = 11", "t = 12"]
    [uid] = node_by_label(nodes, "U")
    labels = [a["label"] for s, _, a in edges if s == uid]
    assert len(labels) == 5 and sum("k=3…10" in x for x in labels) == 1     # the 8 hidden shares, summed


def test_a_too_big_op_graph_says_what_to_do_instead():
    E, _, _ = rnn_loss(T=120, H=2, D=1, B=1)
    E.backward()
    with pytest.raises(viz.GraphTooLargeError, match=r"level='cell'.*elide=k"):
        viz.draw_graph(E)
    assert viz.draw_graph(E, level="cell").source          # the cell view fits
    assert viz.draw_graph(E, elide=3).source                # and so does an elided op view
    with pytest.raises(viz.GraphTooLargeError, match="elide"):
        viz.draw_graph(E, level="cell", max_nodes=50)


def test_state_grad_norms_needs_named_states():
    import tinygrad_rnn as tg
    x = tg.Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match="no tensor named 'h_t'"):
        analysis.state_grad_norms((x * 2).sum())


def test_two_truncated_bptt_chunks_of_one_layer_are_two_lanes_joined_by_a_cut():
    # Each call of the layer counts t = 1, 2 again; the chunks must not be drawn merged.
    import tinygrad_rnn as tg
    tg.manual_seed(0)
    rnn = tg.nn.RNN(3, 4)
    x = np.random.default_rng(0).standard_normal((2, 4, 3))
    out1, h1 = rnn(x[:, :2])
    out2, h2 = rnn(x[:, 2:], h1.detach())
    E = (out1 * out1).sum() + (h2 * h2).sum()
    E.backward()
    _, _, clusters = parse_dot(viz.draw_graph(E).source)
    assert clusters == ["rnn · t = 1", "rnn · t = 2", "rnn (2) · t = 1", "rnn (2) · t = 2"]
    nodes, edges, _ = parse_dot(viz.draw_graph(E, level="cell").source)
    box = {a["label"].split("\\n")[0]: i for i, a in nodes.items() if i.startswith("c")}
    cuts = [(s, d) for s, d, a in edges if "detach" in a.get("label", "")]
    assert cuts == [(box["rnn · t = 2"], box["rnn (2) · t = 1"])]
    chunk2 = rnn.states                                   # h_1, h_2 of the last call
    np.testing.assert_allclose(analysis.state_grad_norms(E, lane="rnn (2)"),    # float32 grads: norms of
                               [np.linalg.norm(h.grad) for h in chunk2], rtol=1e-6, atol=0)  # ~10 terms


def test_the_printed_norm_check_tolerates_rounding_and_nothing_more():
    assert_printed_norms(["2.84e-03"], [0.0028419750816729757])
    assert_printed_norms(["2.84e-03", "1.00e-02"], [0.009996, 0.002835])      # sorted; at the boundaries
    for label, value in [("2.85e-03", 0.0028419750816729757), ("2.84e-02", 0.00284197), ("0.00284", 0.00284)]:
        with pytest.raises(AssertionError):
            assert_printed_norms([label], [value])
