"""The `tinygrad-rnn` command: renders, prints ‖∂E/∂h_t‖, and rejects bad options clearly."""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from tinygrad_rnn import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(capsys, *argv):
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def bad(capsys, *argv):
    with pytest.raises(SystemExit) as exit_:
        cli.main(list(argv))
    assert exit_.value.code == 2
    return capsys.readouterr().err


def norms_printed(out, sym="h"):
    block = out.split(f"‖∂E/∂{sym}_t‖")[1].split("‖")[0].split("\n")[1:]
    return [float(line.split()[3]) for line in block if line.strip().startswith("t =")]


def test_no_options_renders_the_default_vanishing_picture(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys)
    assert code == 0
    assert ET.parse(tmp_path / "graph.svg").getroot().tag.endswith("svg")
    norms = norms_printed(out)
    assert len(norms) == 6 and norms[0] < norms[-1] / 10    # loss on the last step: it vanishes
    assert "wrote graph.svg (op level)" in out


def test_render_lstm_at_cell_level(capsys, tmp_path):
    target = tmp_path / "lstm.png"
    code, out, _ = run(capsys, "render", "--cell", "lstm", "--steps", "12", "--hidden", "4",
                       "--spectral-radius", "0.8", "-o", str(target))
    assert code == 0 and target.read_bytes().startswith(b"\x89PNG")
    assert len(norms_printed(out, "h")) == 12 and len(norms_printed(out, "C")) == 12
    assert "(cell level)" in out                            # more than 10 steps: cell by default


def test_gru_dot_output_needs_no_graphviz(capsys, tmp_path):
    code, out, _ = run(capsys, "--cell", "gru", "-T", "3", "-o", str(tmp_path / "g.dot"))
    assert code == 0 and (tmp_path / "g.dot").read_text(encoding="utf-8").startswith("digraph")


def test_bad_options_give_clear_errors(capsys, tmp_path):
    assert "argument --steps/-T: must be at least 1, got -3" in bad(capsys, "render", "--steps", "-3")
    assert "invalid choice: 'elman'" in bad(capsys, "render", "--cell", "elman")
    assert "cannot tell the image format of 'out.jpg'" in bad(capsys, "render", "-o", "out.jpg")
    assert "positive finite number" in bad(capsys, "render", "--spectral-radius", "-1")
    assert "expected a whole number" in bad(capsys, "render", "--hidden", "eight")
    assert "invalid choice: 'nodes'" in bad(capsys, "render", "--level", "nodes")


def test_help_lists_every_option(capsys):
    with pytest.raises(SystemExit):
        cli.main(["render", "--help"])
    text = capsys.readouterr().out
    for option in ("--cell", "--steps", "--hidden", "--spectral-radius", "--level", "--elide",
                   "--loss", "--seed", "--output"):
        assert option in text


def test_too_big_for_the_op_level_suggests_cell_or_elide(capsys, tmp_path):
    code, _, err = run(capsys, "-T", "120", "-H", "2", "--level", "op", "-o", str(tmp_path / "g.svg"))
    assert code == 2 and "--level cell or --elide K" in err
    assert not (tmp_path / "g.svg").exists()


def test_missing_dot_writes_the_dot_source_instead(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    code, _, err = run(capsys, "-T", "3", "-o", str(tmp_path / "g.svg"))
    assert code == 1 and "apt-get install graphviz" in err
    assert (tmp_path / "g.dot").read_text(encoding="utf-8").startswith("digraph")


def test_plot_command(capsys, tmp_path):
    target = tmp_path / "flow.png"
    code, out, _ = run(capsys, "plot", "-T", "8", "-r", "0.5", "1.5", "-o", str(target))
    assert code == 0 and target.read_bytes().startswith(b"\x89PNG")
    assert "plot is written as .png" in bad(capsys, "plot", "-o", "flow.gif")


def test_python_dash_m_end_to_end(tmp_path):
    out = subprocess.run([sys.executable, "-m", "tinygrad_rnn", "render", "--steps", "3", "-o", "tmp.svg"],
                         cwd=tmp_path, capture_output=True, text=True, encoding="utf-8",
                         env=dict(os.environ, PYTHONPATH=ROOT))
    assert out.returncode == 0, out.stderr
    assert ET.parse(tmp_path / "tmp.svg").getroot().tag.endswith("svg")
    assert "‖∂E/∂h_t‖" in out.stdout and "tmp.svg" in out.stdout
