"""The replay page without a browser: the recorded visit order and the numbers the page embeds."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from test_viz_nets import lstm_loss, rnn_loss

import tinygrad_rnn as tg
from tinygrad_rnn import Tensor, autograd, viz
from tinygrad_rnn.viz import html as page
from tinygrad_rnn.viz.graph import reading_order, tensor_ids, tick_of
from tinygrad_rnn.viz.labels import norm


def embedded(text):
    """The JSON payload of a page."""
    m = re.search(r'<script type="application/json" id="payload">(.*?)</script>', text, re.S)
    return json.loads(m.group(1).replace("<\\/", "</"))


def test_backward_records_the_order_it_visited_consumers_before_inputs():
    E, P, _ = rnn_loss(T=4)
    E.backward()
    order = autograd.visit_order(E)
    assert order[0] == tick_of(E)
    visited = [t for t in reading_order(E) if t.requires_grad]
    assert sorted(order) == sorted(tick_of(t) for t in visited)     # each once, nothing else
    at = {k: i for i, k in enumerate(order)}
    for t in visited:                                               # every consumer before its inputs
        for p in t.parents:
            if p.requires_grad:
                assert at[tick_of(t)] < at[tick_of(p)]
    assert at[tick_of(P["U"])] > max(at[tick_of(t)] for t in visited if P["U"] in t.parents)


def test_no_order_is_recorded_when_edge_recording_is_off():
    E, _, _ = rnn_loss(T=2)
    with tg.record_edge_grads(False):
        E.backward()
    assert autograd.visit_order(E) is None
    with pytest.raises(ValueError, match="no recorded backward order"):
        viz.to_html(E)


def test_payload_values_equal_edge_grads():
    E, P, _ = rnn_loss(T=3)
    E.backward()
    data = embedded(viz.to_html(E))
    tensors = reading_order(E)
    tids = tensor_ids(tensors)
    assert data["order"] == [tids[t] for t in page.visit_order(E)]
    checked = 0
    for c in tensors:
        for i, p in enumerate(c.parents):
            if p not in tids:
                continue
            rec = data["edges"][f"e{tids[c][1:]}_{i}"]
            g = c.edge_grads[i]
            if g is None:
                assert rec["grad"] is None
                continue
            np.testing.assert_allclose(rec["grad"]["norm"], norm(g), rtol=1e-12)
            np.testing.assert_allclose(rec["grad"]["mean"], np.mean(g), rtol=1e-6, atol=1e-12)
            rows = np.array(rec["grad"]["rows"]).reshape(g.shape)
            np.testing.assert_allclose(rows, g, rtol=1e-3, atol=1e-12)   # 4 significant digits
            checked += 1
    assert checked > 10


def test_running_sum_of_a_shared_weight_grows_to_its_gradient():
    E, P, _ = rnn_loss(T=4)
    E.backward()
    data = embedded(viz.to_html(E))
    tids = tensor_ids(reading_order(E))
    U = data["sums"][tids[P["U"]]]
    assert len(U["shares"]) == 4 and [k for k, _ in U["shares"]] == sorted(k for k, _ in U["shares"])
    pos = {t: k for k, t in enumerate(data["order"])}
    shares = sorted((pos[tids[c]], c.edge_grads[c.parents.index(P["U"])])
                    for c in reading_order(E) if P["U"] in c.parents)
    partial = np.cumsum([g for _, g in shares], axis=0)
    np.testing.assert_allclose([n for _, n in U["shares"]], [norm(s) for s in partial], rtol=1e-12)
    np.testing.assert_allclose(U["shares"][-1][1], norm(P["U"].grad), rtol=1e-9)


def test_large_gradients_are_summarised_not_embedded():
    x = Tensor(np.random.default_rng(0).standard_normal((80, 80)), requires_grad=True)   # 6,400 > 4,096
    y = (x.tanh() * 2.0).sum()
    y.backward()
    g = embedded(viz.to_html(y))["tensors"]
    big = [r["grad"] for r in g.values() if r["grad"] and r["grad"]["shape"] == [80, 80]]
    assert big and all("rows" not in b and sum(b["hist"]["counts"]) == 6400 for b in big)
    np.testing.assert_allclose(big[0]["norm"], norm(x.grad), rtol=1e-12)


def test_the_page_is_self_contained():
    E, _, _, _ = lstm_loss(T=3)
    E.backward()
    text = viz.to_html(E, level="cell")
    assert "default-src 'none'" in text                                     # a CSP: nothing may load
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text)
    assert "<script src" not in text and "<link" not in text
    assert 'id="xc0"' in text and embedded(text)["level"] == "cell"
    assert "4,096 entries" in text                                          # says what is capped


def test_cell_payload_lights_boxes_by_their_members_and_shows_states():
    E, _, hs, Cs = lstm_loss(T=3)
    E.backward()
    data = embedded(viz.to_html(E, level="cell"))
    tids = tensor_ids(reading_order(E))
    box = data["elements"]["xc1"]
    assert tids[hs[1]] in box["m"] and tids[Cs[1]] in box["show"]
    states = {(s["name"], s["t"]): s["norm"] for s in data["states"]}
    np.testing.assert_allclose(states["h_t", 2], norm(hs[1].grad), rtol=1e-12)
    np.testing.assert_allclose(states["C_t", 3], norm(Cs[2].grad), rtol=1e-12)


def test_jupyter_shows_a_sandboxed_iframe_and_draw_graph_stays_svg():
    E, _, _ = rnn_loss(T=2)
    E.backward()
    shown = viz.interactive(E)._repr_html_()
    assert shown.startswith('<iframe sandbox="allow-scripts" srcdoc="')
    assert "allow-same-origin" not in shown and "<script" not in shown    # all of it escaped in srcdoc
    assert "image/svg+xml" in viz.draw_graph(E)._repr_mimebundle_()


def test_cli_writes_the_page(tmp_path):
    out = tmp_path / "graph.html"
    r = subprocess.run([sys.executable, "-m", "tinygrad_rnn", "render", "--steps", "3", "-o", str(out)],
                       capture_output=True, text=True, encoding="utf-8")
    assert r.returncode == 0, r.stderr
    data = embedded(out.read_text(encoding="utf-8"))
    assert data["level"] == "op" and len(data["order"]) > 10 and data["sums"]


@pytest.mark.parametrize("name", ["rnn_T8_rho0.5.html", "rnn_T8_rho3.html"])
def test_the_docs_pages_replay_what_the_engine_computes_today(name):
    """docs/interactive/*.html are written by scripts/interactive_pages.py; re-run it if this fails."""
    from pathlib import Path

    from scripts.interactive_pages import DOCS
    from tinygrad_rnn.demo import run_task
    spec = DOCS[name]
    committed = embedded((Path(__file__).parent.parent / "docs" / "interactive" / name).read_text("utf-8"))
    loss, _ = run_task(spec["cell"], spec["steps"], rho=spec["rho"])
    fresh = embedded(viz.to_html(loss, level=spec["level"]))
    assert committed["order"] == fresh["order"] and committed["level"] == fresh["level"]
    # float32 through 8 steps (at ρ = 3 growing) after an eigenvalue rescaling of U: other CPUs' kernels
    # move these norms by ~2e-6 (measured with numpy's baseline SIMD); any change of the task moves them O(1)
    np.testing.assert_allclose([s["norm"] for s in committed["states"]], [s["norm"] for s in fresh["states"]],
                               rtol=1e-4)
    assert set(committed["elements"]) == set(fresh["elements"])      # the same drawn ids
