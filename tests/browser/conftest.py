"""Browser tests: the real shop as a subprocess, driven by Debian's Chromium through Playwright.

Each test gets its own server on a free loopback port with its own embedded
store (a copy of one made once, with a staff account in it), and
its own browser context, so tests never see each other's carts or cookies.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.browser.axe import AxeUnavailable
from tests.browser.axe import axe_source as axe_source_from_npm
from tests.constants import PASSWORD, STAFF_EMAIL
from tests.shop_process import ShopDidNotStart, ShopProcess, run_cli

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Playwright waits at most this long for anything a test expects to see.
EXPECT_TIMEOUT_MS = 10_000

expect.set_options(timeout=EXPECT_TIMEOUT_MS)


def start_shop(data_dir: Path, *flags: str, port: int | None = None) -> ShopProcess:
    try:
        return ShopProcess(data_dir, *flags, port=port).start()
    except ShopDidNotStart as exc:
        pytest.fail(str(exc), pytrace=False)


def seeded_shop(seeded_data_dir: Path, tmp_path: Path, *flags: str, port: int | None = None) -> ShopProcess:
    """A shop serving from a copy of the seeded store, started with `flags`."""
    data_dir = tmp_path / "data"
    shutil.copytree(seeded_data_dir, data_dir, ignore=shutil.ignore_patterns("*.lock"))
    return start_shop(data_dir, *flags, port=port)


@pytest.fixture(scope="package")
def seeded_data_dir(tmp_path_factory) -> Path:
    """An embedded store with the starter catalog and a staff account, made once and copied per test."""
    data_dir = tmp_path_factory.mktemp("seeded-store")
    result = run_cli("create-user", STAFF_EMAIL, "--staff", data_dir=data_dir, stdin=PASSWORD + "\n")
    if result.returncode != 0:
        pytest.fail(f"create-user failed:\n{result.stdout}{result.stderr}", pytrace=False)
    return data_dir


@pytest.fixture
def shop(seeded_data_dir, tmp_path, request):
    """The real shop, serving on a free loopback port from a store of its own;
    a test marked `@pytest.mark.shop_flags(...)` starts it with those flags."""
    marked = request.node.get_closest_marker("shop_flags")
    shop = seeded_shop(seeded_data_dir, tmp_path, *(marked.args if marked else ()))
    yield shop
    shop.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test's report ends with the shop's log: the server side of what the browser saw."""
    outcome = yield
    report = outcome.get_result()
    shop = item.funcargs.get("shop") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(shop, ShopProcess):
        report.sections.append((f"shop server log ({report.when})", shop.log()))


# Package scope, not session: Playwright's sync API keeps an event loop running
# while it is open, and pytest-tornado's tests after this package need theirs.
@pytest.fixture(scope="package")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: the browser tests need Debian's chromium package. "
            "`make test` installs it (make system-packages), or: apt-get install chromium",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser: Browser, shop: ShopProcess):
    """open_page(init_script=None, javascript=True) -> a page in a fresh browser context: another person's browser.

    Uncaught script errors and Content-Security-Policy violations fail the test.
    """
    contexts = []
    problems: list[str] = []

    def open_(init_script: str | None = None, javascript: bool = True) -> Page:
        context = browser.new_context(base_url=shop.url, java_script_enabled=javascript)
        context.set_default_timeout(EXPECT_TIMEOUT_MS)
        if init_script:
            context.add_init_script(init_script)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: problems.append(f"uncaught error on {page.url}: {error}"))
        page.on(
            "console",
            lambda msg: problems.append(f"{page.url}: {msg.text}")
            if "Content Security Policy" in msg.text else None,
        )
        return page

    yield open_
    for context in contexts:
        context.close()
    assert not problems, "the pages had script problems:\n" + "\n".join(problems)


@pytest.fixture
def page(open_page) -> Page:
    return open_page()


SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"  # ignored by git


@pytest.fixture(scope="package")
def axe_source() -> str:
    try:
        return axe_source_from_npm()
    except AxeUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def screenshots(request) -> Path:
    """The folder the storefront tests write screenshots into, named at the end of the run."""
    SCREENSHOTS.mkdir(exist_ok=True)
    request.config.stash[SCREENSHOTS_WRITTEN] = True
    return SCREENSHOTS


SCREENSHOTS_WRITTEN = pytest.StashKey[bool]()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if config.stash.get(SCREENSHOTS_WRITTEN, False):
        terminalreporter.write_line(f"storefront screenshots: {SCREENSHOTS}")
