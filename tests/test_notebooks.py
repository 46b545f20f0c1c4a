"""Every notebook runs: docs/notebooks/*.py (jupytext percent format) executed in a Python 3 kernel.

The sources are plain Python files, so diffs stay readable; here each is converted with
jupytext and executed with nbclient, cell by cell, as a student would run it. A cell
that raises fails the test with the cell and its traceback. The notebooks assert the
claims they show (a gradient that vanished, a clip that kept the direction).
"""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbclient
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "docs" / "notebooks").glob("*.py"))
COURSE = ["conventions", "bptt", "vanishing", "remedies", "lstm", "gru", "sequences", "char_rnn"]


def test_one_notebook_per_course_page_and_a_lab():
    names = {p.stem for p in NOTEBOOKS}
    assert set(COURSE) <= names and "lab_rnn_gradients" in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path):
    nb = jupytext.read(path)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert outputs, f"{path.name}: no cell printed or drew anything"
    assert not [o for o in outputs if o.get("output_type") == "error"]
