"""The site's formulas render offline: KaTeX is bundled, and the course pages write maths as maths.

`mkdocs build --strict` itself runs in tests/test_docs.py; here, what it cannot see:
that every script and stylesheet the site loads is a file in docs/ (no CDN), that the
fonts KaTeX asks for are there, and that no equation is left as Unicode in a code block.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
KATEX = ROOT / "docs" / "assets" / "katex"
COURSE = ["conventions", "bptt", "vanishing", "remedies", "lstm", "gru", "sequences", "char_rnn"]


def config() -> dict:
    class Loader(yaml.SafeLoader):             # mkdocs.yml may use !!python/name tags
        pass
    Loader.add_multi_constructor("", lambda loader, suffix, node: None)
    return yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=Loader)


def test_every_asset_is_local_and_present():
    cfg = config()
    assets = cfg["extra_javascript"] + cfg["extra_css"]
    assert any("katex.min.js" in a for a in assets) and any("katex.min.css" in a for a in assets)
    for a in assets:
        assert "://" not in a and not a.startswith("//"), f"{a}: the site must not load from the network"
        assert (ROOT / "docs" / a).is_file(), f"{a} is listed in mkdocs.yml but missing from docs/"
    assert "MIT License" in (KATEX / "LICENSE").read_text(encoding="utf-8")
    assert any(e == "pymdownx.arithmatex" or (isinstance(e, dict) and "pymdownx.arithmatex" in e)
               for e in cfg["markdown_extensions"])


def test_the_woff2_fonts_katex_asks_for_are_bundled():
    css = (KATEX / "katex.min.css").read_text(encoding="utf-8")
    fonts = set(re.findall(r"url\((fonts/[^)]+\.woff2)\)", css))
    assert len(fonts) >= 15
    missing = [f for f in fonts if not (KATEX / f).is_file()]
    assert not missing, f"run scripts/vendor-katex.sh: missing {missing}"


def test_course_pages_write_equations_as_maths_not_code():
    for name in COURSE:
        text = (ROOT / "docs" / f"{name}.md").read_text(encoding="utf-8")
        for block in re.findall(r"^```text\n(.*?)^```", text, flags=re.S | re.M):
            assert not re.search(r"[∂Σ∏Π‖]", block), f"docs/{name}.md: an equation in a text block:\n{block}"
        assert text.count("$$") % 2 == 0, f"docs/{name}.md: an unclosed $$ block"


# Every page writes its prose formulas as KaTeX, the course pages' equation blocks included.
PROSE_IN_MATHS = ["index", "engine", "errors", "rendering", "examples", "pytorch", "watch_backward",
                  "compile", *COURSE, "api/analysis", "api/nn", "api/optim", "api/tensor", "api/viz"]
FORMULA = r"[∂Σ∏‖ᵀ√ρστγλ∘]"
# Stricter: a subscript (h_t, W_{hz}) or a power, ≈, δ, θ... in prose is maths too. Not on the errors
# page, whose table rows are generated from tests/test_bad_inputs.py and name code variables there.
STRICT = r"\b[a-zA-Z]_(\{|[a-zA-Z0-9]\b)|[∂Σ∏‖ᵀ√ρστγλ∘≈²³⁻δθηΩε⊙]"


def prose(text: str) -> str:
    """A page without what may keep Unicode: code blocks and spans, maths, images' alt text."""
    text = re.sub(r"^(\s*)(`{3,}|~{3,}).*?^\1\2\s*$", "", text, flags=re.S | re.M)
    text = re.sub(r"\$\$.*?\$\$", "", text, flags=re.S)
    text = re.sub(r"``.+?``|`[^`\n]+`", "", text)
    text = re.sub(r"\$[^$\n]+\$", "", text)
    return re.sub(r"!\[[^\]]*\]", "", text)


def test_prose_formulas_are_maths_on_every_page():
    kept = prose("keep\n```text\n‖x‖\n```\n`‖y‖` $\\|z\\|$ ![‖w‖](a.png) $$\n‖v‖\n$$ end")
    assert "‖" not in kept and "keep" in kept and "end" in kept
    assert "‖" in prose("the norm ‖g‖ in prose")
    assert re.search(STRICT, "the state h_t in prose") and re.search(STRICT, "z_t ≈ 1")
    assert not re.search(STRICT, "a sum_vs_mean example")
    assert len(PROSE_IN_MATHS) == len({*PROSE_IN_MATHS}) == len(list((ROOT / "docs").rglob("*.md")))
    for name in PROSE_IN_MATHS:
        text = (ROOT / "docs" / f"{name}.md").read_text(encoding="utf-8")
        pattern = FORMULA if name == "errors" else STRICT
        left = [line for line in prose(text).splitlines() if re.search(pattern, line)]
        assert not left, f"docs/{name}.md: a Unicode formula in prose (write $...$):\n" + "\n".join(left)
        assert text.count("$$") % 2 == 0, f"docs/{name}.md: an unclosed $$ block"


def markdown_cells(source: str) -> str:
    """The markdown cells of a jupytext percent-format notebook, without their leading '# '."""
    cells = re.findall(r"^# %% \[markdown\]\n((?:#.*\n?)*)", source, flags=re.M)
    return "\n".join(re.sub(r"^# ?", "", line) for cell in cells for line in cell.splitlines())


def test_the_notebooks_markdown_writes_formulas_as_maths():
    nb = "# %% [markdown]\n# the norm ‖g‖ and $h_t$\n\n# %%\nx = 1  # ‖code‖\n"
    assert markdown_cells(nb) == "the norm ‖g‖ and $h_t$" and "‖" not in prose("$\\|g\\|$ and `‖x‖`")
    notebooks = sorted((ROOT / "docs" / "notebooks").glob("*.py"))
    assert len(notebooks) >= 9
    for path in notebooks:
        text = markdown_cells(path.read_text(encoding="utf-8"))
        assert text, f"{path.name}: no markdown cell found"
        headings = [line for line in text.splitlines() if re.match(r"#{1,6} .*\$", line)]
        assert not headings, f"docs/notebooks/{path.name}: its contents would show the maths as source"
        left = [line for line in prose(text).splitlines() if re.search(STRICT, line)]
        assert not left, (f"docs/notebooks/{path.name}: a Unicode formula in markdown (write $...$):\n"
                          + "\n".join(left))
