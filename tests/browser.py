"""Headless Chromium for the replay-page tests (and scripts/interactive_pages.py), via selenium.

Debian's `chromium` and `chromium-driver` (.ci/run installs them). The flags keep the
browser from phoning home, so the only requests are the ones the page itself makes,
and the tests can insist that there are none beyond file:// and data:.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,800")


def missing() -> str | None:
    """Why no browser can be driven here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium; .ci/run does it)"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.path.exists(path):
            return f"{path} is missing (apt-get install chromium chromium-driver; .ci/run does it)"
    return None


class Browser:
    """One headless Chromium with a fresh profile; `requests()` lists every URL it asked for."""

    def __init__(self):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        self.profile = tempfile.mkdtemp(prefix="tg-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*FLAGS, f"--user-data-dir={self.profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)

    def open(self, path) -> None:
        self.driver.get(self.url(path))
        self.js("return document.body.dataset.ready")

    def js(self, code, *args):
        return self.driver.execute_script(code, *args)

    def console_errors(self) -> list[str]:
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]

    def requests(self, page=None) -> list[str]:
        """Every URL requested since the last call (DevTools' Network log), by `page` if given
        (the browser's own chrome:// pages, such as the new-tab page, are not the page's)."""
        urls = []
        for entry in self.driver.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            if msg["method"] == "Network.requestWillBeSent":
                if page is None or msg["params"].get("documentURL") == page:
                    urls.append(msg["params"]["request"]["url"])
        return urls

    @staticmethod
    def url(path) -> str:
        return "file://" + os.path.abspath(path)

    def open_time(self) -> dict:
        """Milliseconds from navigation start to the load event, and to the first frame
        painted after the viewer's script ran (the page sets data-painted then)."""
        from selenium.webdriver.support.ui import WebDriverWait
        WebDriverWait(self.driver, 30, poll_frequency=0.02).until(
            lambda d: d.execute_script("return document.body.dataset.painted"))
        return self.js("""
            const nav = performance.getEntriesByType('navigation')[0];
            return {load: nav.loadEventEnd, painted: +document.body.dataset.painted};""")

    def close(self) -> None:
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)
