"""The ids the picture gives its elements: the contract the interactive viewer relies on."""

import re

from test_viz_nets import lstm_loss, parse_dot, rnn_loss

from tinygrad_rnn import viz
from tinygrad_rnn.viz.graph import reading_order, tensor_ids, tick_of


def test_op_level_nodes_and_edges_carry_tick_ids():
    E, _, _ = rnn_loss(T=3)
    E.backward()
    nodes, edges, _ = parse_dot(viz.draw_graph(E).source)
    tensors = reading_order(E)
    tids = tensor_ids(tensors)
    base = min(tick_of(t) for t in tensors)
    drawn = {a["id"] for i, a in nodes.items() if i != "legend"}
    assert drawn == {f"t{tick_of(t) - base}" for t in tensors}
    expected = {f"e{tids[t][1:]}_{i}" for t in tensors for i, p in enumerate(t.parents) if p in tids}
    assert {a["id"] for _, _, a in edges} == expected
    assert nodes["legend"]["id"].startswith("x")


def test_cell_level_boxes_are_synthetic_and_edges_name_a_real_edge():
    E, _, _, _ = lstm_loss(T=4)
    E.backward()
    nodes, edges, _ = parse_dot(viz.draw_graph(E, level="cell").source)
    assert all(a["id"].startswith("x") for a in nodes.values())
    assert edges and all(re.fullmatch(r"e\d+_\d+", a["id"]) for _, _, a in edges)


def test_ids_are_the_same_in_a_second_run():
    first = parse_dot(viz.draw_graph(rnn_loss(T=2, seed=3)[0]).source)[0]
    second = parse_dot(viz.draw_graph(rnn_loss(T=2, seed=3)[0]).source)[0]
    assert [a["id"] for a in first.values()] == [a["id"] for a in second.values()]
