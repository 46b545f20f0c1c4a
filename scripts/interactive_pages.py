"""Write the replay pages the docs embed, and (with --screenshots) measure and picture them.

    python scripts/interactive_pages.py                 # docs/interactive/*.html (docs/watch_backward.md)
    python scripts/interactive_pages.py --screenshots   # + size and open time in headless Chromium,
                                                        #   docs/images/interactive_*.png

The pages are the command line's seeded task (tinygrad_rnn/demo.py), so a reader can
make the same one with `tinygrad-rnn render --steps 8 -r 0.5 -o page.html`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from tinygrad_rnn import viz  # noqa: E402
from tinygrad_rnn.demo import run_task  # noqa: E402

DOCS = {  # the docs page: an RNN at T = 8 whose gradient vanishes, and the same at a larger radius
    "rnn_T8_rho0.5.html": dict(cell="rnn", steps=8, rho=0.5, level="op"),
    "rnn_T8_rho3.html": dict(cell="rnn", steps=8, rho=3.0, level="op"),
}
OPENS = 5
MEASURED = {  # the two pages whose size and open time the docs quote
    "interactive_rnn_op_T6": dict(cell="rnn", steps=6, rho=0.5, level="op", zoom_step=6, frame=0.3),
    "interactive_lstm_cell_T30": dict(cell="lstm", steps=30, rho=0.5, level="cell", zoom_step=None,
                                      frame=0.4),
}


def write_page(path: Path, cell, steps, rho, level, **_) -> Path:
    loss, _ = run_task(cell, steps, rho=rho)
    title = f"{cell.upper()}, T = {steps}, ρ = {rho}: backward() replayed"
    return viz.to_html(loss, path, level, title=title)


def screenshots(out: Path) -> None:
    import tempfile

    from browser import Browser
    b = Browser()
    try:
        for name, spec in MEASURED.items():
            page = write_page(Path(tempfile.mkdtemp()) / f"{name}.html", **spec)
            times = []
            for _ in range(OPENS):                   # the median of a few opens: the machine is shared
                b.open(page)
                times.append(b.open_time())
            t = {k: statistics.median(x[k] for x in times) for k in times[0]}
            n = int(b.js("return document.getElementById('scrub').max"))
            b.js("const s = document.getElementById('scrub'); s.value = %d;"
                 "s.dispatchEvent(new Event('input'))" % round(spec["frame"] * n))
            if spec["zoom_step"]:
                b.js("const s = document.getElementById('tstep'); s.value = %d;"
                     "s.dispatchEvent(new Event('input'))" % spec["zoom_step"])
            else:                                    # a long unroll: zoom in on the last steps
                b.driver.find_element("id", "fit").click()
                b.js("const v = document.querySelector('#view > svg'), box = v.viewBox.baseVal;"
                     "v.setAttribute('viewBox', [box.x + box.width * 0.5, box.y + box.height * 0.25,"
                     " box.width * 0.5, box.height * 0.5].join(' '))")
            b.driver.save_screenshot(str(out / f"{name}.png"))
            print(f"{name}: {page.stat().st_size / 1024:.0f} KB, load {t['load']:.0f} ms, "
                  f"first frame painted {t['painted']:.0f} ms, {n} visits")
    finally:
        b.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--screenshots", action="store_true")
    args = parser.parse_args()
    pages = ROOT / "docs" / "interactive"
    pages.mkdir(exist_ok=True)
    for name, spec in DOCS.items():
        path = write_page(pages / name, **spec)
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1024:.0f} KB)")
    if args.screenshots:
        screenshots(ROOT / "docs" / "images")


if __name__ == "__main__":
    main()
