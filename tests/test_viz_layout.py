"""The op-level layout, measured on what Graphviz drew: a row of identical cells, buses, ids.

The three pictures of the render benchmark (RNN T=6, LSTM T=4, GRU T=4; B=2,
D=3, H=8, Linear readout, cross-entropy on the last step) are measured with
viz.measure from the `-Tjson` layout, and so is torchviz's make_dot of the same
PyTorch models (benchmarks/render_models.py).
"""

import itertools
import json
import re

import numpy as np
import pytest

import tinygrad_rnn as tg
from benchmarks.render_models import MODELS, ours, torchviz_graph
from tinygrad_rnn import viz
from tinygrad_rnn.viz.graph import op_picture
from tinygrad_rnn.viz.measure import crossings_between, measure, measure_graph, parse


@pytest.fixture(scope="module", params=MODELS, ids=[c for c, _ in MODELS])
def drawn(request):
    cell, T = request.param
    loss = ours(cell, T)
    g = viz.draw_graph(loss)
    return cell, T, loss, g, g.pipe(format="json")


def test_steps_stand_in_one_row_as_copies_of_one_cell(drawn):
    cell, T, loss, g, text = drawn
    report = measure(text)
    assert report.step_spread == 0 and report.step_sizes == 1      # one row, one size
    doc = json.loads(text)
    boxes = {o["label"]: [float(v) for v in o["bb"].split(",")] for o in doc["objects"]
             if o.get("name", "").startswith("cluster")}
    assert sorted(boxes) == [f"t = {t}" for t in range(1, T + 1)]
    lefts = [boxes[f"t = {t}"][0] for t in range(1, T + 1)]
    assert lefts == sorted(lefts)                                   # time reads left to right
    pos = {o["name"]: [float(v) for v in o["pos"].split(",")] for o in doc["objects"] if "pos" in o}
    pic = op_picture(loss)
    where = {}                                                      # (role, k) -> offsets in its box
    for n in pic.nodes:
        if n.step:
            x0, y0 = boxes[f"t = {n.step[1]}"][:2]
            seen = sum(1 for m in where if m[0] == (n.role, n.step[1]))
            where[(n.role, n.step[1]), seen] = (pos[n.id][0] - x0, pos[n.id][1] - y0)
    for ((role, t), k), offset in where.items():
        if t > 1:                                                   # step 1 lacks x_1 W's h_0 parts
            np.testing.assert_allclose(offset, where[(role, 2), k], atol=0.5, err_msg=f"{role} at t={t}")


def test_every_label_is_nearest_its_own_edge(drawn):
    cell, T, loss, g, text = drawn
    report = measure(text)
    assert report.labels > 0 and report.labels_misplaced == 0


def test_far_fewer_crossings_than_dot_on_its_own():
    loss = ours("rnn", 6)
    row, by_dot = measure_graph(viz.draw_graph(loss)), measure_graph(viz.draw_graph(loss, layout="dot"))
    assert row.crossings < by_dot.crossings / 4
    assert row.width * row.height < by_dot.width * by_dot.height


@pytest.mark.parametrize("cell, T", [m for m in MODELS if m[0] != "gru"])   # the GRU: 134 against 120,
def test_fewer_crossings_than_torchviz_of_the_same_pytorch_model(cell, T):    # see docs/rendering.md
    pytest.importorskip("torchviz", reason="torchviz==0.0.3 is in the bench extra")
    ours_ = measure_graph(viz.draw_graph(ours(cell, T)))
    theirs = measure_graph(torchviz_graph(cell, T))
    assert ours_.crossings < theirs.crossings


def test_a_shared_weight_is_one_bus_whose_taps_are_its_real_edges(drawn):
    cell, T, loss, g, text = drawn
    doc = json.loads(text)
    names = {o["_gvid"]: o for o in doc["objects"]}
    edges = doc["edges"]
    pic = op_picture(loss)
    for n in pic.nodes:
        if n.kind != "param" or n.step or n.label.split("\n")[0] in ("V", "c"):
            continue
        real = {e.dom_id for e in pic.edges if e.src == n.id}
        taps = [e for e in edges if names[e["tail"]]["name"] == n.id]
        assert {e["id"] for e in taps} == real and len(real) == T   # one tap per step, real ids
        bus = [e for e in edges if e["id"].startswith(f"xbus{n.dom_id}_")]
        assert len(bus) == T and names[bus[-1]["head"]]["name"] == n.id   # it ends at the weight
        sums = [float(re.search(r"(\d\.\d\de[-+]\d\d)", e["label"]).group(1)) for e in bus]
        w = loss_param(loss, n.label.split("\n")[0])
        np.testing.assert_allclose(sums[-1], np.linalg.norm(w.grad), rtol=5e-3)   # the total


def test_buses_on_one_side_cross_no_more_than_they_must(drawn):
    """Two weights' buses on one side of the row cross at least T - 1 times, however they are
    drawn: every box is the same cell, so along that side their taps alternate, a_1 b_1 ... a_T
    b_T; the nearer weight's bus and its T taps then cut the side into T regions, one tap of
    the farther weight in each, and the farther weight's tree must pass T - 1 times from one
    region into the next. The layout meets that floor exactly, and its buses cross nothing else."""
    cell, T, loss, g, text = drawn
    layout, doc = parse(text), json.loads(text)
    names = {o["_gvid"]: o["name"] for o in doc["objects"]}
    buses = [e for e in layout.edges if e["id"].startswith("xbus")]
    weights = {names[e["head"]] for e in buses if names[e["head"]] in {n.id for n in op_picture(loss).nodes}}
    taps = [e for e in layout.edges if names[e["tail"]] in weights]
    middle = np.mean([(b[1] + b[3]) / 2 for _, b in layout.boxes])
    above = [w for w in weights if next(e for e in buses if names[e["head"]] == w)["line"][0][1] > middle]
    below = [w for w in weights if w not in above]                 # (-Tjson's y points up)
    where = {w: sorted(t["line"][0][0] for t in taps if names[t["tail"]] == w) for w in weights}
    for side in (above, below):
        for a, b in itertools.combinations(side, 2):               # the taps alternate along the row
            order = [w for _, w in sorted([(x, a) for x in where[a]] + [(x, b) for x in where[b]])]
            assert all(u != v for u, v in zip(order, order[1:])), (a, b, order)
    floor = (T - 1) * (len(above) * (len(above) - 1) + len(below) * (len(below) - 1)) // 2
    assert sum(crossings_between(t["line"], b["line"]) for t in taps for b in buses) == floor
    others = [e for e in layout.edges if e not in buses and e not in taps]
    assert sum(crossings_between(o["line"], b["line"]) for o in others for b in buses) == 0


def test_the_cell_search_counts_a_cell_as_it_is_drawn():
    """benchmarks/cell_search.py (docs/rendering.md quotes what it found for the GRU) counts a
    grid cell's crossings at T steps; drawn through the real pipeline, the picture has that many."""
    from benchmarks.cell_search import drawn, search
    T = 4
    loss, lane, first, found = search("gru", T, iters=3000, seed=1)
    inside, passed, buses = found.parts()
    assert passed == 0 and buses == (T - 1) * 30                    # six buses on each side
    report = measure_graph(drawn(loss, lane, found))
    assert report.crossings == T * inside + buses and report.labels_misplaced == 0
    assert report.step_spread == 0 and report.step_sizes == 1


def loss_param(loss, name):
    return next(t for t in viz.graph.walk(loss) if t.op is None and t.name == name)


def test_ids_follow_the_viewer_contract(drawn):
    cell, T, loss, g, text = drawn
    doc = json.loads(text)
    for o in doc["objects"]:
        if "pos" in o:
            assert re.fullmatch(r"t\d+|x\w+", o["id"]), o["name"]
    ids = [e["id"] for e in doc["edges"]]
    assert all(re.fullmatch(r"e\d+_\d+|x\w+", i) for i in ids) and len(set(ids)) == len(ids)
    assert sum(1 for i in ids if i.startswith("e")) == sum(1 for e in op_picture(loss).edges)


def backward_lane(T):
    """E = ‖h_1‖² of an RNN cell run from t = T down to t = 1 (the reverse direction of a
    bidirectional layer), after backward(), and the cell."""
    tg.manual_seed(0)
    cell = tg.nn.RNNCell(3, 4)
    x = np.random.default_rng(0).standard_normal((2, T, 3))
    h = None
    for t in range(T, 0, -1):
        with tg.scope(f"back/t={t}"):
            h = cell(x[:, t - 1], h)
            h.name = "h_t"
    E = (h * h).sum()
    E.backward()
    return E, cell


def boxes_and_states(E, doc):
    """The step boxes {label: bb}, after checking that each h_t leaves its box on the side of
    the box it feeds next (the right, since the boxes stand t = T first)."""
    boxes = {o["label"]: [float(v) for v in o["bb"].split(",")] for o in doc["objects"]
             if o.get("name", "").startswith("cluster")}
    pos = {o["name"]: float(o["pos"].split(",")[0]) for o in doc["objects"] if "pos" in o}
    for n in op_picture(E).nodes:
        if n.step and n.id in pos and re.fullmatch(r"h_[1-9]\d*", n.label.split("\n")[0]):
            x0, _, x1, _ = boxes[f"t = {n.step[1]}"]
            assert pos[n.id] > (x0 + x1) / 2, n.label
    return boxes


def test_a_lane_running_backwards_in_time_has_its_boxes_in_that_order():
    E, _ = backward_lane(4)
    report = measure_graph(viz.draw_graph(E))
    boxes = boxes_and_states(E, json.loads(viz.draw_graph(E).pipe(format="json")))
    assert boxes["t = 4"][0] < boxes["t = 3"][0] < boxes["t = 2"][0] < boxes["t = 1"][0]
    assert report.step_spread == 0 and report.labels_misplaced == 0


def test_a_backward_lane_with_elided_steps_keeps_its_order_and_its_sums_run_over_later_steps():
    """T = 10 from t = 10 down to 1, elide=2: boxes 10, 9, the marker for 3…8, boxes 2, 1, and
    each bus has summed the later steps, so its labels read Σ_{k≥t} and it ends at ‖∂E/∂W‖."""
    T, k = 10, 2
    E, cell = backward_lane(T)
    text = viz.draw_graph(E, elide=k).pipe(format="json")
    report, doc = measure(text), json.loads(text)
    assert report.step_spread == 0 and report.step_sizes == 1 and report.labels_misplaced == 0
    boxes = boxes_and_states(E, doc)
    [mark] = [o for o in doc["objects"] if o.get("name", "").startswith("elided")]
    x, y = (float(v) for v in mark["pos"].split(","))
    lefts = [boxes[f"t = {t}"][0] for t in (10, 9, 2, 1)]
    assert lefts == sorted(lefts) and boxes["t = 9"][2] < x < boxes["t = 2"][0]
    assert boxes["t = 2"][1] < y < boxes["t = 2"][3]
    full = op_picture(backward_lane(T)[0])                          # the same run, nothing elided
    step = {n.id: n.step for n in full.nodes}
    names = {o["_gvid"]: o["name"] for o in doc["objects"]}
    for w in op_picture(E).nodes:
        if w.kind != "param":
            continue
        shares = {step[e.dst][1]: np.asarray(e.grad, dtype=np.float64) for e in full.edges
                  if e.src == w.id}                                 # the shares, by step
        bus = [e for e in doc["edges"] if e["id"].startswith(f"xbus{w.dom_id}_")]
        assert len(bus) == 2 * k + 1 and names[bus[-1]["head"]] == w.id
        for seg, first in zip(bus, (10, 9, 3, 2, 1)):               # after box 10, 9, the marker, 2, 1
            assert f"k≥{first}" in seg["label"], seg["label"]
            value = float(re.search(r"(\d\.\d\de[-+]\d\d)", seg["label"]).group(1))
            np.testing.assert_allclose(value, np.linalg.norm(sum(shares[t] for t in range(first, T + 1))),
                                       rtol=5e-3)
        total = getattr(cell, w.label.split("\n")[0]).grad                # the last sum is ‖∂E/∂W‖
        np.testing.assert_allclose(value, np.linalg.norm(total), rtol=5e-3)


def test_a_shared_scale_colours_alike_and_says_so():
    a, b = ours("rnn", 6), ours("lstm", 4)
    scale = viz.shared_scale(a, b)
    ga, gb = viz.draw_graph(a, scale=scale), viz.draw_graph(b, scale=scale)
    for g in (ga, gb):
        assert "a scale shared with other pictures" in g.source
        assert viz.fmt_norm(scale.lo) in g.source and viz.fmt_norm(scale.hi) in g.source
    assert "this picture's own range" in viz.draw_graph(a).source
    fixed = viz.dot.LogScale.between(1e-3, 1.0)
    assert fixed(1e-3) == 0.0 and fixed(1.0) == 1.0 and fixed(1e-6) == 0.0
    with pytest.raises(ValueError, match="0 < lo <= hi"):
        viz.dot.LogScale.between(0.0, 1.0)


def test_in_jupyter_a_wide_graph_scrolls_inside_its_cell():
    bundle = viz.draw_graph(ours("rnn", 6))._repr_mimebundle_()
    assert bundle["text/html"].startswith('<div style="max-width:100%;max-height:80vh;overflow:auto')
    assert "<svg" in bundle["text/html"] and bundle["image/svg+xml"].lstrip().startswith("<?xml")


def test_labels_use_subscripts_and_say_which_weight_a_matmul_applies():
    source = viz.draw_graph(ours("rnn", 6)).source
    for text in ("h<SUB>2</SUB>·U", "x<SUB>3</SUB>·W", "h<SUB>6</SUB>·V", "‖∂E/∂h<SUB>4</SUB>‖"):
        assert text in source
    assert "h_t" not in re.sub(r'tooltip="[^"]*"', "", source)     # no raw underscores drawn


def test_two_chunks_of_one_layer_continue_its_row():
    tg.manual_seed(0)
    rnn = tg.nn.RNN(3, 4)
    x = np.random.default_rng(0).standard_normal((2, 4, 3))
    out1, h1 = rnn(x[:, :2])
    out2, h2 = rnn(x[:, 2:], h1.detach())                     # truncated BPTT: a second call
    E = (out1 * out1).sum() + (h2 * h2).sum()
    E.backward()
    g = viz.draw_graph(E)
    report = measure_graph(g)
    assert report.step_spread == 0 and report.step_sizes == 1
    doc = json.loads(g.pipe(format="json"))
    lefts = [float(o["bb"].split(",")[0]) for o in doc["objects"] if o.get("name", "").startswith("cluster")]
    assert lefts == sorted(lefts) and len(lefts) == 4        # rnn t=1, t=2, then rnn (2) t=1, t=2


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_an_elided_unroll_stays_one_row_and_its_marker_takes_the_hidden_shares_summed(cell):
    T, k = 10, 2
    loss = ours(cell, T)
    g = viz.draw_graph(loss, elide=k)
    text = g.pipe(format="json")
    report = measure(text)
    assert report.step_spread == 0 and report.step_sizes == 1 and report.labels_misplaced == 0
    doc = json.loads(text)
    names = {o["_gvid"]: o for o in doc["objects"]}
    boxes = {o["label"]: [float(v) for v in o["bb"].split(",")] for o in doc["objects"]
             if o.get("name", "").startswith("cluster")}
    assert list(boxes) == ["t = 1", "t = 2", "t = 9", "t = 10"]
    [mark] = [o for o in doc["objects"] if o.get("name", "").startswith("elided")]
    x, y = (float(v) for v in mark["pos"].split(","))
    assert boxes["t = 2"][2] < x < boxes["t = 9"][0] and boxes["t = 2"][1] < y < boxes["t = 2"][3]
    full = op_picture(ours(cell, T))                                # the same task, nothing elided
    step = {n.id: n.step for n in full.nodes}
    for n in op_picture(loss).nodes:
        if n.kind != "param" or n.label.split("\n")[0] in ("V", "c"):
            continue
        taps = [e for e in doc["edges"] if names[e["tail"]]["name"] == n.id]
        assert len(taps) == 2 * k + 1                               # steps 1, 2, the marker, 9, 10
        [into] = [e for e in taps if names[e["head"]]["name"] == mark["name"]]
        hidden = sum(np.asarray(e.grad, dtype=np.float64) for e in full.edges
                     if e.src == n.id and k < step[e.dst][1] <= T - k)
        assert "k=3…8" in into["label"]
        np.testing.assert_allclose(float(re.search(r"(\d\.\d\de[-+]\d\d)", into["label"]).group(1)),
                                   np.linalg.norm(hidden), rtol=5e-3)
        bus = [e for e in doc["edges"] if e["id"].startswith(f"xbus{n.dom_id}_")]
        assert len(bus) == 2 * k + 1 and names[bus[-1]["head"]]["name"] == n.id
        np.testing.assert_allclose(float(re.search(r"(\d\.\d\de[-+]\d\d)", bus[-1]["label"]).group(1)),
                                   np.linalg.norm(loss_param(loss, n.label.split("\n")[0]).grad), rtol=5e-3)
    assert report.crossings < measure_graph(viz.draw_graph(loss, elide=k, layout="dot")).crossings
