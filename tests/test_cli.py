"""The `tinygrad-rnn` command: renders, prints ‖∂E/∂h_t‖, and rejects bad options clearly."""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
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
    err = bad(capsys, "-T", "120", "-H", "2", "--level", "op", "-o", str(tmp_path / "g.svg"))
    assert "the op-level graph of T = 120 steps has 735 nodes, more than --max-nodes 250" in err
    assert "--level cell (one box per step: 122 nodes)" in err and "--elide 3" in err
    assert "--max-nodes 735" in err
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


# ---- everything is checked before any work: argparse's message, exit status 2, nothing printed ----
def refused(capsys, *argv):
    """The error text of a refused command line, after checking that no work was done."""
    with pytest.raises(SystemExit) as exit_:
        cli.main(list(argv))
    out = capsys.readouterr()
    assert exit_.value.code == 2, out.err
    assert out.out == "", "the task ran before the options were checked"
    assert out.err.startswith("usage: tinygrad-rnn")
    return out.err


def test_the_output_path_is_checked_first(capsys, tmp_path):
    err = refused(capsys, "render", "-o", str(tmp_path / "nodir" / "x.svg"))
    assert f"argument --output/-o: the directory '{tmp_path / 'nodir'}' does not exist" in err
    (tmp_path / "pics.svg").mkdir()
    err = refused(capsys, "render", "-o", str(tmp_path / "pics.svg"))
    assert f"'{tmp_path / 'pics.svg'}' is a directory; name a file in it" in err
    (tmp_path / "file").write_text("")
    assert "is not a directory" in refused(capsys, "render", "-o", str(tmp_path / "file" / "x.svg"))
    assert "does not exist" in refused(capsys, "plot", "-o", str(tmp_path / "nodir" / "flow.png"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "pics.svg"]   # nothing written


def test_an_unwritable_output_is_refused_before_the_work(capsys, tmp_path):
    if sys.platform.startswith("linux"):
        target = "/sys/graph.svg"                   # sysfs: no new files, not even for root
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = str(locked / "graph.svg")
    err = refused(capsys, "render", "-o", target)
    assert f"argument --output/-o: cannot write '{target}': Permission denied" in err


def test_a_full_disk_is_a_clean_message(capsys, tmp_path):
    for name in ("g.dot", "g.svg"):
        full = tmp_path / name
        full.symlink_to("/dev/full")                # every write: ENOSPC, No space left on device
        code, out, err = run(capsys, "-T", "3", "-o", str(full))
        assert code == 1 and "E = " in out
        assert err == f"tinygrad-rnn render: error: cannot write {full}: No space left on device\n"


def test_numbers_out_of_range_are_refused_with_the_limit(capsys):
    assert "argument --seed: must be at least 0, got -1" in refused(capsys, "--seed", "-1")
    assert "argument --steps/-T: must be at most 10,000 (a longer unroll takes minutes), got 10,000,000" \
        in refused(capsys, "--steps", "10000000")
    assert "argument --max-nodes: must be at most 5,000" in refused(capsys, "--max-nodes", "100000")
    assert "argument --spectral-radius/-r: must be at most 1e+30" in refused(capsys, "-r", "1e39")
    assert "must be at most 1e+30" in refused(capsys, "plot", "-r", "0.5", "1e39")


def test_sizes_that_do_not_fit_in_memory_are_refused_up_front(capsys):
    err = refused(capsys, "--hidden", "1000000")
    assert "H = 1,000,000 would keep about" in err and "GB of activations and gradients" in err
    assert "lower --steps, --batch or --hidden" in err
    assert "B = 10,000,000" in refused(capsys, "--batch", "10000000", "--cell", "lstm")
    err = refused(capsys, "plot", "-T", "10000", "--batch", "64", "-H", "256")
    assert "T = 10,000, B = 64, H = 256" in err


def test_a_picture_too_big_at_cell_level_gets_the_hints_that_fit(capsys, tmp_path):
    err = refused(capsys, "--steps", "300", "-o", str(tmp_path / "g.svg"))
    assert "the cell-level graph of T = 300 steps has 302 nodes, more than --max-nodes 250" in err
    assert "--elide 3 (the first and last 3 steps: 9 nodes)" in err and "--max-nodes 302" in err
    assert "--level cell" not in err                 # it is already at cell level
    err = refused(capsys, "--steps", "6000", "--elide", "2", "--level", "op", "--max-nodes", "20")
    assert "elided to 2 steps at each end, has 40 nodes" in err and "--elide 3" not in err
    assert "--level cell (one box per step: 7 nodes), or --max-nodes 40" in err


def test_max_nodes_draws_what_the_default_refuses(capsys, tmp_path):
    code, out, _ = run(capsys, "--steps", "300", "--max-nodes", "302", "-o", str(tmp_path / "g.dot"))
    assert code == 0 and "(cell level)" in out
    assert (tmp_path / "g.dot").read_text(encoding="utf-8").count("t = ") >= 300
    assert "--max-nodes 303" in refused(capsys, "--steps", "301", "--max-nodes", "302")


def test_a_forward_pass_that_overflows_writes_nothing(capsys, tmp_path, monkeypatch):
    from tinygrad_rnn import demo

    def overflowing(layer, rho):                   # what a huge radius does to float32 weights
        layer.cells[0].U.data = layer.cells[0].U.data * np.float32(np.inf)
    monkeypatch.setattr(demo, "set_recurrent_radius", overflowing)
    with np.errstate(all="ignore"):
        code, _, err = run(capsys, "-T", "4", "-o", str(tmp_path / "nan.svg"))
        assert code == 1 and "overflowed" in err and "nothing was written" in err
        assert "--spectral-radius" in err and not (tmp_path / "nan.svg").exists()
        code, _, err = run(capsys, "plot", "-T", "4", "-r", "2", "-o", str(tmp_path / "nan.png"))
        assert code == 1 and "overflowed" in err and not (tmp_path / "nan.png").exists()


def test_plot_without_matplotlib_says_so_before_the_work(tmp_path):
    from helpers import env_without_matplotlib
    r = subprocess.run([sys.executable, "-m", "tinygrad_rnn", "plot", "-o", "flow.png"], cwd=tmp_path,
                       env=env_without_matplotlib(tmp_path, ROOT), capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and r.stdout == ""
    assert "needs matplotlib" in r.stderr and "pip install 'tinygrad-rnn[plot]'" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "flow.png").exists()


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_the_node_count_checked_up_front_is_the_one_drawn(cell):
    from argparse import Namespace

    from tinygrad_rnn import demo, viz
    cases = [(1, "last", "op", None), (7, "all", "op", None), (12, "last", "cell", None),
             (9, "all", "op", 2), (20, "last", "cell", 3), (4, "last", "op", 2)]
    for T, loss_at, level, elide in cases:
        args = Namespace(cell=cell, steps=T, loss=loss_at, elide=elide)
        loss, _ = demo.run_task(cell, T, 5, 0.5, loss_at, 1, 3)        # another H, B and seed
        pic = viz.picture(loss, level, elide, max_nodes=10**6)
        assert cli.drawn_nodes(args, level, elide) == len(pic.nodes), (T, loss_at, level, elide)
