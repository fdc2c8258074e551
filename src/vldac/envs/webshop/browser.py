"""One headless Chromium per process, shared by every WebShop world of a run (a page each),
driven by Playwright over the system's browser (Debian's chromium; no browser download). A browser
that died is started again when the next page is asked for."""

from __future__ import annotations

import atexit
import os
import shutil

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class BrowserUnavailable(RuntimeError):
    """Playwright or a Chromium executable is missing."""


def chromium_executable() -> str:
    """``$VLDAC_CHROMIUM``, else the system's chromium."""
    for candidate in (os.environ.get("VLDAC_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser"),
                      shutil.which("google-chrome")):
        if candidate and os.path.exists(candidate):
            return candidate
    raise BrowserUnavailable("WebShop worlds see pages through Chromium, which is not installed; install it "
                             "(Debian/Ubuntu: apt-get install chromium) or set VLDAC_CHROMIUM to its executable.")


class SharedBrowser:
    """The process's browser: ``page(viewport)`` opens a new page in it, starting (or restarting)
    the browser when needed; ``restarts`` counts the restarts after a crash."""

    def __init__(self):
        self.playwright = None
        self.browser = None
        self.restarts = 0

    def page(self, width: int, height: int):
        if self.browser is not None and not self.browser.is_connected():
            self.browser = None
            self.restarts += 1
        if self.browser is None:
            executable = chromium_executable()  # before Playwright starts its event loop: nothing to stop if it fails
            if self.playwright is None:
                try:
                    from playwright.sync_api import sync_playwright
                except ImportError as error:
                    raise BrowserUnavailable("WebShop worlds need Playwright: pip install 'vldac[webshop]'.") from error
                self.playwright = sync_playwright().start()
                atexit.register(self.close)
            self.browser = self.playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        return self.browser.new_page(viewport={"width": width, "height": height})

    def close(self) -> None:
        """Close the browser and stop Playwright (also when the process exits)."""
        if self.browser is not None and self.browser.is_connected():
            self.browser.close()
        if self.playwright is not None:
            self.playwright.stop()
        self.browser = self.playwright = None


BROWSER = SharedBrowser()
