"""The replay page in a real browser: headless Chromium, opened from disk.

Skipped, loudly, only where no browser can be driven; on CI (CI=true) a missing
browser is a failure, because .ci/run installs one.
"""

import io
import os

import numpy as np
import pytest
from browser import Browser, missing
from test_viz_html import embedded
from test_viz_nets import lstm_loss, rnn_loss

from tinygrad_rnn import viz
from tinygrad_rnn.viz.graph import reading_order, tensor_ids
from tinygrad_rnn.viz.labels import norm

WHY = missing()
if WHY and os.environ.get("CI"):
    raise RuntimeError(f"CI must drive a real browser for the replay page, but {WHY}")
pytestmark = pytest.mark.skipif(WHY is not None, reason=f"NO BROWSER, replay page untested: {WHY}")


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    yield b
    b.close()


@pytest.fixture(scope="module")
def rnn_page(tmp_path_factory):
    E, P, hs = rnn_loss(T=4)
    E.backward()
    path = viz.to_html(E, tmp_path_factory.mktemp("page") / "rnn.html", title="RNN T=4")
    return E, P, hs, path, embedded(path.read_text(encoding="utf-8"))


def test_page_opens_from_disk_with_no_request_and_no_console_error(browser, rnn_page):
    *_, path, _ = rnn_page
    browser.requests()                                    # forget what came before
    browser.open(path)
    assert browser.js("return document.body.dataset.ready") == "1"
    urls = browser.requests(page=browser.url(path))
    assert urls and all(u.startswith(("file:", "data:")) for u in urls), urls
    resources = browser.js("return performance.getEntriesByType('resource').map(e => e.name)")
    assert all(u.startswith(("file:", "data:")) for u in resources), resources
    assert browser.console_errors() == []                 # a CSP violation would be logged here


def test_play_lights_exactly_the_first_n_visits_and_the_running_sum_of_U(browser, rnn_page):
    from selenium.webdriver.support.ui import WebDriverWait
    E, P, _, path, data = rnn_page
    browser.open(path)
    tids = tensor_ids(reading_order(E))
    order = data["order"]
    pos = {t: k for k, t in enumerate(order)}
    U_shares = sorted(pos[tids[c]] for c in reading_order(E) if P["U"] in c.parents)
    browser.driver.find_element("id", "play").click()
    WebDriverWait(browser.driver, 20, poll_frequency=0.05).until(
        lambda d: int(d.execute_script("return document.body.dataset.frame")) > U_shares[1])
    browser.driver.find_element("id", "play").click()     # pause
    k = int(browser.js("return document.body.dataset.frame"))
    assert 0 < k < len(order)
    lit = set(browser.js("return [...document.querySelectorAll('g.node.lit')].map(g => g.id)"))
    assert lit == set(order[:k])
    dim = set(browser.js("return [...document.querySelectorAll('g.node.dim')].map(g => g.id)"))
    assert dim == set(order[k:])
    arrived = [c.edge_grads[c.parents.index(P["U"])] for c in reading_order(E)
               if P["U"] in c.parents and pos[tids[c]] < k]
    row = browser.driver.find_element("id", "sum-" + tids[P["U"]])
    assert int(row.get_attribute("data-count")) == len(arrived) >= 2
    np.testing.assert_allclose(float(row.get_attribute("data-value")), norm(np.sum(arrived, axis=0)),
                               rtol=1e-9)
    on_U = browser.js(f"return document.querySelector('g#{tids[P['U']]} text.running-sum').textContent")
    assert f"({len(arrived)}/4)" in on_U                   # and under U's box
    # an edge is lit exactly when the tensor it feeds has been visited
    lit_edges = set(browser.js("return [...document.querySelectorAll('g.edge.lit')].map(g => g.id)"))
    expected = {e for e, r in data["edges"].items() if r["grad"] and pos[r["dst"]] < k}
    assert lit_edges == expected


def test_keyboard_steps_and_plays(browser, rnn_page):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    *_, path, data = rnn_page
    browser.open(path)
    frame = lambda: int(browser.js("return document.body.dataset.frame"))
    keys = ActionChains(browser.driver)
    keys.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_LEFT).perform()
    assert frame() == 2
    keys = ActionChains(browser.driver)
    keys.send_keys(Keys.END).perform()
    assert frame() == len(data["order"])
    shown = browser.js("return [...document.querySelectorAll('text.state')]"
                       ".filter(t => t.style.display !== 'none').map(t => t.textContent)")
    assert len(shown) == 4 and all("‖∂E/∂h_t‖" in s for s in shown)   # every step's ‖∂E/∂h_t‖ is out
    ActionChains(browser.driver).send_keys(Keys.SPACE).perform()       # from the end, play restarts
    assert "pause" in browser.driver.find_element("id", "play").text
    ActionChains(browser.driver).send_keys(Keys.SPACE).perform()
    assert "play" in browser.driver.find_element("id", "play").text


def test_hovering_an_edge_shows_its_gradient(browser, rnn_page):
    from selenium.webdriver.common.action_chains import ActionChains
    E, _, hs, path, _ = rnn_page
    browser.open(path)
    tids = tensor_ids(reading_order(E))
    c = next(t for t in reading_order(E) if hs[1] in t.parents)        # h_2 feeds step 3
    i = c.parents.index(hs[1])
    eid = f"e{tids[c][1:]}_{i}"
    browser.driver.find_element("id", "fit").click()      # the page starts on the last step
    label = browser.driver.find_element("css selector", f"g#{eid} text")
    ActionChains(browser.driver).move_to_element(label).perform()
    tip = browser.driver.find_element("id", "tip")
    assert tip.is_displayed() and tip.get_attribute("data-id") == eid
    value = lambda key: float(tip.find_element("css selector", f'[data-key="{key}"]')
                              .get_attribute("data-value"))
    g = c.edge_grads[i]
    np.testing.assert_allclose(value("‖g‖"), norm(g), rtol=1e-12)
    np.testing.assert_allclose([value("min"), value("max"), value("mean")], [g.min(), g.max(), g.mean()],
                               rtol=1e-9)
    assert "h_t → " in tip.text and "argument" in tip.text
    assert tip.find_elements("css selector", "canvas")                  # the (B, H) heatmap


def test_zoom_step_slider_and_colour_toggle_then_a_screenshot_that_is_not_blank(browser, rnn_page):
    from matplotlib import image
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.wheel_input import ScrollOrigin
    *_, path, data = rnn_page
    browser.open(path)
    view = browser.driver.find_element("id", "view")
    box = lambda: [float(v) for v in browser.js("return document.querySelector('#view > svg')"
                                                ".getAttribute('viewBox')").split()]
    browser.driver.find_element("id", "fit").click()
    whole = box()
    ActionChains(browser.driver).scroll_from_origin(ScrollOrigin.from_element(view), 0, -400).perform()
    assert box()[2] < whole[2] * 0.8                                     # zoomed in
    browser.js("document.getElementById('tstep').value = 2;"
               "document.getElementById('tstep').dispatchEvent(new Event('input'))")
    assert browser.driver.find_element("id", "tname").text == data["steps"][1]
    assert box()[2] < whole[2] / 2
    browser.driver.find_element("id", "fit").click()
    assert box() == pytest.approx(whole)
    eid = next(e for e, el in data["elements"].items() if el.get("norm"))
    stroke = lambda: browser.js(f"return document.querySelector('g#{eid} path:not(.hit)')"
                                ".getAttribute('stroke')")
    before = stroke()
    browser.driver.find_element("id", "scale").click()
    assert browser.driver.find_element("id", "scale").text == "colour: linear"
    browser.driver.find_element("id", "scale").click()
    assert stroke() == before                                             # log again: the picture's own
    for _ in range(12):
        browser.driver.find_element("id", "step").click()
    browser.js("document.getElementById('tstep').value = 3;"
               "document.getElementById('tstep').dispatchEvent(new Event('input'))")
    shot = view.screenshot_as_png
    (path.parent / "zoomed.png").write_bytes(shot)
    png = image.imread(io.BytesIO(shot), format="png")[..., :3]
    assert (png.mean(axis=2) < 0.9).mean() > 0.01                         # drawn, not blank white
    assert len(np.unique(png.reshape(-1, 3), axis=0)) > 20                # and in colour


def test_lstm_cell_level_page_replays_to_the_end(browser, tmp_path):
    E, P, hs, Cs = lstm_loss(T=5)
    E.backward()
    path = viz.to_html(E, tmp_path / "lstm.html", level="cell")
    data = embedded(path.read_text(encoding="utf-8"))
    browser.open(path)
    assert browser.console_errors() == []
    browser.js("document.getElementById('scrub').value = %d;"
               "document.getElementById('scrub').dispatchEvent(new Event('input'))" % len(data["order"]))
    lit = set(browser.js("return [...document.querySelectorAll('g.node.lit')].map(g => g.id)"))
    assert {f"xc{i}" for i in range(5)} <= lit
    tids = tensor_ids(reading_order(E))
    for W in P.values():
        if tids[W] in data["sums"]:
            row = browser.driver.find_element("id", "sum-" + tids[W])
            np.testing.assert_allclose(float(row.get_attribute("data-value")), norm(W.grad), rtol=1e-9)


def test_two_pages_side_by_side_in_sandboxed_iframes(browser, tmp_path):
    pages = []
    for rho in (0.5, 3.0):
        E, _, _ = rnn_loss(T=2, rho=rho)
        E.backward()
        pages.append(viz.interactive(E)._repr_html_())
    host = tmp_path / "notebook.html"
    host.write_text("<!DOCTYPE html><meta charset='utf-8'><body>" + "".join(pages) + "</body>",
                    encoding="utf-8")
    browser.open(host)
    frames = browser.driver.find_elements("tag name", "iframe")
    assert len(frames) == 2
    for f in frames:
        browser.driver.switch_to.frame(f)
        browser.driver.find_element("id", "step").click()
        assert browser.js("return document.body.dataset.frame") == "1"
        browser.driver.switch_to.default_content()
    assert browser.console_errors() == []
