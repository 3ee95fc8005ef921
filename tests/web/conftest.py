"""Fixtures of the console's browser tests: the site built from ``web/src``, Debian's Chromium,
the console published to the suite's emulator and a signed-in tab.

The site is built fresh once per test session into a temporary directory (``node build.mjs
--out DIR``), never into the shared ``web/dist``: the tests see the sources as they are, and
parallel workers do not overwrite each other's build. Without ``/usr/bin/chromium`` (or node) the
browser tests skip with that message, except in CI (``CI`` set), where they fail.
"""
import os
import shutil
import subprocess

import pytest

from tests.web.console import ARGS, CHROMIUM, WAIT_MS, WEB, csp_violations, new_page, sign_in


def need(condition, message):
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(message + " (required in CI)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """``web/src`` built with the locked vendor files into a directory of this session."""
    need(os.path.isdir(os.path.join(WEB, "node_modules")),
         "web/node_modules is missing: run `make web` (npm ci && npm run build) first")
    need(shutil.which("node"), "node is not on PATH: the console cannot be built")
    out = tmp_path_factory.mktemp("site") / "dist"
    subprocess.run(["node", "build.mjs", "--out", str(out)], cwd=WEB, check=True,
                   capture_output=True, timeout=120)
    return str(out)


@pytest.fixture(scope="session")
def browser(site):
    need(os.path.exists(CHROMIUM), f"Debian's chromium is not installed at {CHROMIUM} "
         "(apt-get install chromium): browser tests skipped")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def console(live, site):
    """The console published to the suite's emulator, pointed at the live API (1 s refresh)."""
    from infra import publish_ui
    url = publish_ui.publish(live.endpoint, live.url, dist=site, refresh_seconds=1)
    assert url == f"{live.endpoint}/fabu-local-ui/index.html"
    return url


def _signed_in(browser, console, **kw):
    tab = new_page(browser, console, **kw)
    sign_in(tab)
    tab.locator("h1", has_text="Projects").wait_for(timeout=WAIT_MS)
    return tab


def _close(tab):
    assert tab.errors == [], tab.errors
    assert csp_violations(tab) == [], "the console broke its own Content-Security-Policy"
    tab.context.close()


@pytest.fixture
def page(browser, console):
    """A fresh tab (its own sessionStorage) signed in with the admin key; at the end it must have
    raised no page error and no Content-Security-Policy violation."""
    tab = _signed_in(browser, console)
    yield tab
    _close(tab)


@pytest.fixture
def clock_page(browser, console):
    """Like ``page``, with Playwright's fake clock installed before the console loaded (time
    still runs; ``tab.clock.fast_forward`` jumps ahead)."""
    tab = _signed_in(browser, console, clock=True)
    yield tab
    _close(tab)
