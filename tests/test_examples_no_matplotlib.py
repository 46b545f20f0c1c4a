"""Without matplotlib (an optional extra) every example still runs: it prints its numbers
and one line saying how to get the figures, never a traceback."""

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import env_without_matplotlib

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*.py") if p.stem != "__init__")
HINT = "(no figures: matplotlib is not installed; for the figures: pip install 'tinygrad-rnn[plot]'"


def run(args, tmp_path, timeout=300):
    return subprocess.run([sys.executable, *args], cwd=tmp_path, env=env_without_matplotlib(tmp_path, ROOT),
                          capture_output=True, text=True, timeout=timeout)


def test_the_hook_really_hides_matplotlib(tmp_path):
    r = run(["-c", "import matplotlib"], tmp_path)
    assert r.returncode == 1 and "ModuleNotFoundError: No module named 'matplotlib'" in r.stderr


def test_every_example_imports_and_says_once_how_to_get_the_figures(tmp_path):
    code = ("import importlib\n"
            f"for name in {EXAMPLES!r}: importlib.import_module('examples.' + name)\n"
            "from examples.figures import can_draw\n"
            "print(can_draw(), can_draw())\n")
    r = run(["-c", code], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(HINT) == 1 and r.stdout.endswith("False False\n"), r.stdout


@pytest.mark.parametrize("example, numbers, plot", [
    ("vanishing_exploding", "tanh", "gradient_norms.png"),     # its table of ‖∂E/∂h_k‖ ratios
    ("lstm_vs_rnn", "test MSE  LSTM", "lstm_vs_rnn_adding_loss.png"),
])
def test_an_example_without_matplotlib_prints_its_numbers(example, numbers, plot, tmp_path):
    r = run([str(ROOT / "examples" / f"{example}.py"), "--quick", "--out", str(tmp_path / "out")], tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert r.stdout.count(HINT) == 1 and numbers in r.stdout, r.stdout
    assert not (tmp_path / "out" / plot).exists()
