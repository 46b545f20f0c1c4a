"""The documentation runs: every ```python block of README.md and docs/, and the site builds.

Each page's python blocks run in order in one namespace (a page is one session),
inside a fresh temporary directory. A block fenced as ```output right after a
python block is what that block prints, and must match exactly. Other fences
(```text for equations and shell commands) are not run.

`mkdocs build --strict` runs here too (when mkdocs is installed, as with the dev
extra), so a broken link, a missing page or a bad docstring reference fails CI.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)[^\n]*$")


def blocks(path: Path) -> list[tuple[str, int, str]]:
    """(info string, first line number, code) of every fenced block, dedented to its fence."""
    out, lines, i = [], path.read_text(encoding="utf-8").splitlines(), 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info = m.group(1), m.group(2), m.group(3)
        body, j = [], i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        out.append((info, i + 2, "\n".join(body) + "\n"))
        i = j + 1
    return out


def runnable(path: Path) -> list[tuple[int, str, str | None]]:
    """(line, python code, expected output or None) for each python block of a page."""
    found, bs = [], blocks(path)
    for k, (info, line, code) in enumerate(bs):
        if info == "python":
            nxt = bs[k + 1] if k + 1 < len(bs) else None
            found.append((line, code, nxt[2] if nxt and nxt[0] == "output" else None))
    return found


def test_the_extractor_finds_blocks_and_outputs(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("text\n```python\nprint(1)\n```\n\n```output\n1\n```\n"
                    "!!! note\n    ```python\n    x = 2\n    ```\n```text\nE = Σ_t E_t\n```\n")
    assert runnable(page) == [(3, "print(1)\n", "1\n"), (11, "x = 2\n", None)]


def test_every_page_with_code_has_python_blocks():
    # Guard against a fence the extractor misses: the pages that teach code have some.
    names = {p.name for p in PAGES if runnable(p)}
    assert {"index.md", "engine.md", "bptt.md", "char_rnn.md", "rendering.md"} <= names


@pytest.mark.parametrize("page", [p for p in PAGES if runnable(p)],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_page_snippets_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": f"docs_{page.stem}"}
    for line, code, expected in runnable(page):
        where = f"{page.relative_to(ROOT)}:{line}"
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            try:
                exec(compile(code, where, "exec"), namespace)
            except Exception as e:
                pytest.fail(f"the python block at {where} raised {type(e).__name__}: {e}")
        if expected is not None:
            assert stdout.getvalue() == expected, f"the output of the block at {where} changed"


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
                          "-f", str(ROOT / "mkdocs.yml"), "-d", str(tmp_path / "site")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"mkdocs build --strict failed:\n{run.stdout}\n{run.stderr}"
    assert (tmp_path / "site" / "index.html").exists()
    assert (tmp_path / "site" / "api" / "tensor" / "index.html").exists()
