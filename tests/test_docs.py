"""The documentation runs: every ```python block of README.md and docs/, and the site builds.

Each page's python blocks run in order in one namespace (a page is one session),
inside a fresh temporary directory. A block fenced as ```output right after a
python block is what that block prints. Other fences (```text for equations and
shell commands) are not run.

How an output block is compared (`same_output`): both texts are cut into numbers
and the text between them. The text must match exactly; a whole number (no point,
no exponent: a count, a shape, a time step) must match exactly; a decimal number
must match within a stated tolerance, |printed - expected| <= atol + rtol·|expected|.
The default, rtol=1e-9 and atol=0, makes a short printed float exact (0.2029 must
print as 0.2029) while a full repr may differ in its last bits between CPUs (numpy
picks different SIMD kernels on different machines). A block whose numbers come
from a long float computation states its own tolerance in the info string,
```output {rtol=0.02} (or atol=...; the braces are attr_list syntax, so mkdocs
renders the fence as usual), chosen from the dtype and the length of the
computation, never from one machine's output.

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
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)([^\n]*)$")
NUMBER = re.compile(r"([-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)")
DEFAULT_TOLERANCE = {"rtol": 1e-9, "atol": 0.0}


def blocks(path: Path) -> list[tuple[str, int, str, str]]:
    """(language, first line number, code, rest of the info string) of every fenced block,
    dedented to its fence."""
    out, lines, i = [], path.read_text(encoding="utf-8").splitlines(), 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info, rest = m.group(1), m.group(2), m.group(3), m.group(4).strip()
        body, j = [], i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        out.append((info, i + 2, "\n".join(body) + "\n", rest))
        i = j + 1
    return out


def closing_fences_with_text(path: Path) -> list[int]:
    """Line numbers where a block seems to close on a fence followed by text (```` ``` The GRU````).
    blocks() closes a block there, but Markdown does not: a closing fence is the fence alone,
    so the site would show the rest of the page as code, while every test still passed."""
    bad, lines, i = [], path.read_text(encoding="utf-8").splitlines(), 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, j = m.group(2), i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            j += 1
        if j < len(lines) and lines[j].strip().strip(fence[0]):
            bad.append(j + 1)
        i = j + 1
    return bad


def runnable(path: Path) -> list[tuple[int, str, tuple[str, dict] | None]]:
    """(line, python code, (expected output, tolerance) or None) for each python block of a page."""
    found, bs = [], blocks(path)
    for k, (info, line, code, _) in enumerate(bs):
        if info == "python":
            nxt = bs[k + 1] if k + 1 < len(bs) else None
            is_output = nxt is not None and nxt[0] == "output"
            expected = (nxt[2], tolerance(nxt[3], f"{path.name}:{nxt[1] - 1}")) if is_output else None
            found.append((line, code, expected))
    return found


def tolerance(info: str, where: str) -> dict:
    """The tolerance of an output block: DEFAULT_TOLERANCE, overridden by `{rtol=… atol=…}`."""
    tol = dict(DEFAULT_TOLERANCE)
    for word in info.strip().removeprefix("{").removesuffix("}").split():
        key, _, value = word.partition("=")
        if key not in tol or not value:
            raise ValueError(f"{where}: unknown output-block option {word!r} (known: {{rtol=R atol=A}})")
        tol[key] = float(value)
    return tol


def same_output(printed: str, expected: str, rtol: float, atol: float) -> str | None:
    """None if printed matches expected (see the module docstring), else what differs."""
    got, want = NUMBER.split(printed), NUMBER.split(expected)
    if len(got) != len(want):
        return f"expected\n{expected}\nprinted\n{printed}"
    for k, (g, w) in enumerate(zip(got, want)):
        if k % 2 == 0 or not any(c in w + g for c in ".eE"):     # text, or two whole numbers
            if g != w:
                return f"expected {w!r}, printed {g!r} in\n{printed}"
        elif not abs(float(g) - float(w)) <= atol + rtol * abs(float(w)):
            return (f"expected {w}, printed {g}: beyond rtol={rtol:g}, atol={atol:g} "
                    f"(|difference| = {abs(float(g) - float(w)):.3g}) in\n{printed}")
    return None


def test_the_extractor_finds_blocks_and_outputs(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("text\n```python\nprint(1)\n```\n\n```output\n1\n```\n"
                    "!!! note\n    ```python\n    x = 2\n    ```\n```text\nE = Σ_t E_t\n```\n"
                    "```python\nprint(0.5)\n```\n```output {rtol=0.01}\n0.5\n```\n")
    assert runnable(page) == [(3, "print(1)\n", ("1\n", DEFAULT_TOLERANCE)), (11, "x = 2\n", None),
                              (17, "print(0.5)\n", ("0.5\n", {"rtol": 0.01, "atol": 0.0}))]
    page.write_text("```python\nprint(1)\n```\n```output {rtl=0.1}\n1\n```\n")
    with pytest.raises(ValueError, match="unknown output-block option 'rtl=0.1'"):
        runnable(page)


def test_output_numbers_match_within_the_tolerance_and_nothing_else_does():
    default = DEFAULT_TOLERANCE
    assert same_output("norm 0.0028419750816729753\n", "norm 0.0028419750816729757\n", **default) is None
    assert same_output("E = 1e-12: True\n", "E = 1e-12: True\n", **default) is None
    assert same_output("chunks 86.3\n", "chunks 86.5\n", rtol=0.01, atol=0) is None
    # it still fails when a number really changes, when text changes, and on counts
    assert "beyond rtol=1e-09" in same_output("0.2030\n", "0.2029\n", **default)
    assert "beyond rtol=0.01" in same_output("chunks 88.5\n", "chunks 86.5\n", rtol=0.01, atol=0)
    assert "beyond" in same_output("[5. 5. 6.]\n", "[5. 5. 5.]\n", rtol=0.01, atol=0)
    assert same_output("chunk 86.5\n", "chunks 86.5\n", rtol=0.01, atol=0) is not None
    assert same_output("False\n", "True\n", rtol=1.0, atol=1.0) is not None
    assert same_output("201 steps\n", "200 steps\n", rtol=0.1, atol=5) is not None   # whole numbers exact
    assert same_output("1 2\n", "1 2 3\n", rtol=1.0, atol=1.0) is not None
    assert same_output("0.1\n", "nan\n", rtol=1.0, atol=1.0) is not None


def test_a_changed_number_in_a_page_fails_the_page(tmp_path):
    good = "```python\nprint(f'{2 / 3:.4f}')\n```\n```output\n0.6667\n```\n"
    page = tmp_path / "p.md"
    page.write_text(good)
    [(_, code, (expected, tol))] = runnable(page)
    assert same_output(printed_by(code), expected, **tol) is None
    page.write_text(good.replace("0.6667", "0.6668"))
    [(_, code, (expected, tol))] = runnable(page)
    assert "expected 0.6668, printed 0.6667" in same_output(printed_by(code), expected, **tol)


def printed_by(code: str, namespace: dict | None = None, where: str = "<block>") -> str:
    """What code prints on stdout when run in namespace."""
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        exec(compile(code, where, "exec"), {} if namespace is None else namespace)
    return stdout.getvalue()


def test_every_block_closes_on_a_bare_fence(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("```text\nrun it\n``` The GRU\nis checked\n```python\nx = 1\n```\n")
    assert closing_fences_with_text(page) == [3]
    page.write_text("````markdown\n```python\n```\n````\n```text\nok\n```  \n")
    assert closing_fences_with_text(page) == []
    bad = {str(p.relative_to(ROOT)): lines for p in PAGES if (lines := closing_fences_with_text(p))}
    assert not bad, f"a closing fence followed by text (Markdown keeps the block open): {bad}"


def test_the_core_the_pages_promise_is_under_540_lines():
    # docs/engine.md's reading guide and docs/index.md: ops.py, autograd.py and Tensor's `apply`.
    # (500 until backward called each rule directly and tested the common cases inline: 520; 540 since
    # stack's forward is one concatenate, not np.stack's view per input: 16 lines, 0.6% of a tiny RNN step.)
    import ast
    lines = sum(len((ROOT / "tinygrad_rnn" / f).read_text(encoding="utf-8").splitlines())
                for f in ("ops.py", "autograd.py"))
    tree = ast.parse((ROOT / "tinygrad_rnn" / "tensor.py").read_text(encoding="utf-8"))
    [apply] = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "apply"]
    lines += apply.end_lineno - apply.lineno + 1
    assert lines < 540, f"ops.py + autograd.py + apply are {lines} lines: update engine.md and index.md"


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
        try:
            printed = printed_by(code, namespace, where)
        except Exception as e:
            pytest.fail(f"the python block at {where} raised {type(e).__name__}: {e}")
        if expected is not None:
            text, tol = expected
            differs = same_output(printed, text, **tol)
            assert differs is None, f"the output of the block at {where} changed: {differs}"


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
    site_is_offline_with_executed_notebooks(tmp_path / "site")


def site_is_offline_with_executed_notebooks(site: Path) -> None:
    """No page loads a script or stylesheet from the network (KaTeX, notebooks' maths included),
    and every notebook page shows its executed outputs (text, and a figure or a graph)."""
    remote = re.compile(r'<(?:script|link)\b[^>]*\b(?:src|href)="(?:https?:)?//', re.I)
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert not remote.search(text), f"{page.relative_to(site)} loads from the network"
    notebooks = sorted((site / "notebooks").glob("*/index.html"))
    assert len(notebooks) == len(list((ROOT / "docs" / "notebooks").glob("*.py")))
    for page in notebooks:
        text = page.read_text(encoding="utf-8")
        assert "jp-OutputArea-output" in text and ("data:image/png" in text or "<svg" in text), page
        assert not re.search(r'href="[^"]*\.md"', text), f"{page}: a link to a .md file (use ../../page/)"
