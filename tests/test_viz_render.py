"""Rendering with the real `dot`: SVG with tooltips, PNG, PDF; a missing `dot`; the plot."""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from test_viz_nets import lstm_loss, rnn_loss

from tinygrad_rnn import viz

XLINK = "{http://www.w3.org/1999/xlink}title"


@pytest.fixture(scope="module")
def graph():
    E, _, _ = rnn_loss(T=3)
    E.backward()
    return viz.draw_graph(E, title="RNN, T = 3")


def test_svg_is_well_formed_and_has_tooltips_on_nodes_and_edges(graph, tmp_path):
    path = viz.write(graph, tmp_path / "g.svg")
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    groups = list(root.iter("{http://www.w3.org/2000/svg}g"))     # class "node" / "edge"
    tips = {kind: [a.get(XLINK) for g in groups if g.get("class") == kind
                   for a in g.iter("{http://www.w3.org/2000/svg}a") if a.get(XLINK)]
            for kind in ("node", "edge")}
    assert any("value: min" in t and "mean" in t and "norm" in t for t in tips["node"])
    assert any("gradient along it: min" in t and "max" in t for t in tips["edge"])
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "t = 1" in texts and "t = 3" in texts


def test_png_and_pdf_have_their_signatures(graph, tmp_path):
    assert viz.write(graph, tmp_path / "g.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert viz.write(graph, tmp_path / "g.pdf").read_bytes().startswith(b"%PDF")


def test_cell_level_lstm_renders(tmp_path):
    E, _, _, _ = lstm_loss(T=6)
    E.backward()
    path = viz.write(viz.draw_graph(E, level="cell", elide=2), tmp_path / "lstm.svg")
    assert ET.parse(path).getroot().tag.endswith("svg")


def test_dot_source_and_unknown_extensions(graph, tmp_path):
    assert viz.write(graph, tmp_path / "g.dot").read_text(encoding="utf-8") == graph.source
    with pytest.raises(ValueError, match=r"\.svg, \.png, \.pdf"):
        viz.write(graph, tmp_path / "g.jpeg")


def test_missing_dot_says_how_to_install_graphviz(graph, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))               # no `dot` anywhere on PATH
    for attempt in (lambda: graph.pipe(format="svg"),
                    lambda: graph.render(outfile=tmp_path / "r.svg"),
                    lambda: viz.write(graph, tmp_path / "w.png"),
                    lambda: graph._repr_mimebundle_()):       # what Jupyter calls
        with pytest.raises(viz.GraphvizNotFoundError) as err:
            attempt()
        for how in ("apt-get install graphviz", "brew install graphviz", "conda install graphviz",
                    "choco install graphviz"):
            assert how in str(err.value)
    assert viz.write(graph, tmp_path / "still.dot").read_text(encoding="utf-8") == graph.source


def test_gradient_flow_plot(tmp_path):
    runs = {"ρ = 0.5": [1e-6, 1e-4, 1e-2, 1.0], "ρ = 1.5": [0.0, 3.0, 2.0, 1.0]}
    fig = viz.plot_gradient_flow(runs, tmp_path / "flow.png")
    assert (tmp_path / "flow.png").read_bytes().startswith(b"\x89PNG")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and len(ax.lines) == 2
    assert list(ax.lines[1].get_xdata()) == [2, 3, 4]         # the zero is left out of a log plot
    assert "left out" in ax.get_legend().get_texts()[1].get_text()
    with pytest.raises(ValueError, match="empty"):
        viz.plot_gradient_flow({})


def test_plot_without_matplotlib_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install 'tinygrad-rnn\[plot\]'"):
        viz.plot_gradient_flow({"a": [1.0]})


def test_importing_viz_does_not_need_graphviz():
    code = ("import sys; sys.modules['graphviz'] = None\n"
            "import tinygrad_rnn as tg, tinygrad_rnn.viz as viz, numpy as np\n"
            "x = tg.Tensor(np.ones(2), requires_grad=True)\n"
            "try:\n    viz.draw_graph(x.sum())\nexcept ImportError as e:\n    print(e)\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=root), encoding="utf-8")
    assert out.returncode == 0, out.stderr
    assert "pip install graphviz" in out.stdout
