"""The built book in headless Chromium: every TOC page loads, its math is typeset by the
local MathJax, no request leaves the machine, and the console shows no error.

Chromium comes from Debian's package ``chromium``, driven by Playwright with
``executable_path`` (never ``playwright install``). Without Chromium the test skips
locally but fails in CI (``CI`` set), where a skip would hide a missing tool.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from urllib.parse import urlparse

import pytest

from conftest import toc_files

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


# JavaScript: the start of each element matching the selector whose content is wider than its box
# (it would be clipped or scroll sideways), by a margin above sub-pixel rounding.
WIDER_THAN_COLUMN = """(selector) => Array.from(document.querySelectorAll(selector))
    .filter((e) => e.scrollWidth > e.clientWidth + 2)
    .map((e) => e.textContent.trim().replace(/\\s+/g, " ").slice(0, 60))"""


# JavaScript: the images shown with a width/height ratio more than 2% off their own.
SQUASHED_IMAGES = """() => Array.from(document.querySelectorAll("div.cell_output img"))
    .filter((i) => i.naturalHeight > 0 && i.getBoundingClientRect().height > 0)
    .filter((i) => { const r = i.getBoundingClientRect();
        return Math.abs(i.naturalWidth / i.naturalHeight - r.width / r.height)
            > 0.02 * i.naturalWidth / i.naturalHeight; })
    .map((i) => i.getAttribute("alt").slice(0, 60))"""


def _require_chromium():
    if not os.path.exists(CHROMIUM):
        message = "Debian's chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must install it (.ci/run does).")
        pytest.skip(message)


@pytest.fixture(scope="module")
def served_book(built_book):
    html, result = built_book
    assert result.returncode == 0, "the book did not build"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(html))

    class QuietHandler(handler.func):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(html)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_pages_load_offline_with_typeset_math(served_book):
    _require_chromium()
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # The width of a laptop screen, at which the reviewers read the pages.
        context = browser.new_context(viewport={"width": 1400, "height": 900})

        def guard(route):
            host = urlparse(route.request.url).hostname
            if host in ("127.0.0.1", "localhost") or route.request.url.startswith("data:"):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        context.route("**/*", guard)
        for doc in toc_files():
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda msg, errors=errors: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
            response = page.goto(f"{served_book}/{doc}.html", wait_until="load")
            if response is None or response.status != 200:
                problems.append(f"{doc}: HTTP {response.status if response else 'no response'}")
                continue
            has_math = page.locator(".math").count() > 0
            if has_math:
                page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20_000)
                page.evaluate("MathJax.startup.promise")
                typeset = page.locator("mjx-container").count()
                if typeset == 0:
                    problems.append(f"{doc}: math present but no mjx-container (MathJax did not typeset)")
                if page.locator("mjx-merror").count():
                    problems.append(f"{doc}: MathJax reports {page.locator('mjx-merror').count()} TeX errors")
                wide = page.evaluate(WIDER_THAN_COLUMN, "div.math mjx-container")
                if wide:
                    problems.append(f"{doc}: display equations wider than the text column: {wide}")
            squashed = page.evaluate(SQUASHED_IMAGES)
            if squashed:
                problems.append(f"{doc}: figures drawn with another aspect ratio than their image: {squashed}")
            wide = page.evaluate(WIDER_THAN_COLUMN, "div.cell_output div.output, div.cell_output pre, div.highlight pre")
            if wide:
                problems.append(f"{doc}: code or output that scrolls sideways at 1400 px: {wide}")
            if errors:
                problems.append(f"{doc}: console errors {errors[:3]}")
            page.close()
        browser.close()
    assert not outside, f"requests left the machine: {sorted(set(outside))[:10]}"
    assert not problems, problems


def test_chapters_have_math(served_book, built_book):
    """Every chapter page has math for the browser test to check (guards against a vacuous pass)."""
    html, _ = built_book
    chapters = [d for d in toc_files() if re.match(r"chapters/\d\d_", d)]  # the numbered chapters
    assert chapters
    for doc in chapters:
        assert 'class="math' in (html / f"{doc}.html").read_text(), doc
