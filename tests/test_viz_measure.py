"""The layout measure itself: crossings counted from drawn splines, labels, step boxes."""

import graphviz

from tinygrad_rnn.viz.measure import crossings_between, measure_graph, polyline


def fixed(edges, labels=()):
    """A graph with fixed node positions and straight edges (neato -n2 keeps them)."""
    g = graphviz.Digraph(engine="neato", graph_attr=dict(splines="line"))
    for name, (x, y) in dict(a=(0, 0), b=(100, 0), c=(0, 100), d=(100, 100), e=(200, 0)).items():
        g.node(name, pos=f"{x},{y}!", shape="point")
    for k, (s, t) in enumerate(edges):
        g.edge(s, t, **({"label": labels[k]} if k < len(labels) else {}))
    return g


def test_an_x_crosses_once_and_a_fan_does_not_cross():
    assert measure_graph(fixed([("a", "d"), ("b", "c")])).crossings == 1
    assert measure_graph(fixed([("a", "d"), ("a", "b"), ("a", "c")])).crossings == 0   # shared end
    assert measure_graph(fixed([("a", "b"), ("c", "d")])).crossings == 0                # parallel


def test_two_curves_crossing_twice_count_twice():
    a = polyline("0,0 30,100 70,100 100,0")               # an arch
    b = [(-10.0, 40.0), (110.0, 40.0)]                    # a line through both legs
    assert crossings_between(a, b) == 2
    assert crossings_between(a, [(0.0, 0.0), (50.0, -50.0)]) == 0   # meets at an end only


def test_a_label_is_misplaced_when_another_edge_is_nearer():
    report = measure_graph(fixed([("a", "b"), ("c", "d")], labels=["one", "two"]))
    assert report.labels == 2 and report.labels_misplaced == 0
    assert report.width >= 100 and report.height >= 100
    assert report.step_spread is None                     # no step boxes in this graph
