"""Browser tests: the real shop as a subprocess, driven by Debian's Chromium through Playwright.

Each test gets its own server on a free loopback port with its own embedded
store (a copy of one made once, with a staff account in it), and
its own browser context, so tests never see each other's carts or cookies.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.browser.helpers import STAFF_EMAIL, STAFF_PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT = 20.0
# Playwright waits at most this long for anything a test expects to see.
EXPECT_TIMEOUT_MS = 10_000

expect.set_options(timeout=EXPECT_TIMEOUT_MS)


def shop_environment() -> dict:
    """The test runner's environment minus shop settings: always the embedded store, never a shared one."""
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith("BURTS_") and k not in ("MONGODB_URL", "REDIS_URL")
    }
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_cli(*args: str, cwd: Path, stdin: str = "") -> None:
    result = subprocess.run(
        [sys.executable, "-m", "burts_books", *args],
        input=stdin, capture_output=True, text=True, cwd=cwd, env=shop_environment(), timeout=60,
    )
    if result.returncode != 0:
        pytest.fail(
            f"`burts-books {' '.join(args)}` exited with {result.returncode}:\n"
            f"{result.stdout}{result.stderr}",
            pytrace=False,
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclasses.dataclass
class Shop:
    url: str
    data_dir: Path
    log_path: Path
    process: subprocess.Popen

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def restart(self) -> None:
        """Stop the server (it saves its store) and serve again on the same port and store."""
        self.stop()
        self.process = launch(self.port, self.data_dir, self.log_path)
        wait_until_serving(self)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def launch(port: int, data_dir: Path, log_path: Path) -> subprocess.Popen:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "burts_books", "serve", f"--port={port}",
             "--address=127.0.0.1", f"--data-dir={data_dir}"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            cwd=log_path.parent, env=shop_environment(),
        )


def wait_until_serving(shop: Shop) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not port_answers(shop.port):
        if shop.process.poll() is not None or time.monotonic() > deadline:
            shop.stop()
            pytest.fail(
                f"the shop did not start on port {shop.port} (exit status {shop.process.returncode}); "
                f"its log:\n{shop.log()}",
                pytrace=False,
            )
        time.sleep(0.05)


def start_shop(data_dir: Path, log_path: Path) -> Shop:
    port = free_port()
    shop = Shop(f"http://127.0.0.1:{port}", data_dir, log_path, launch(port, data_dir, log_path))
    wait_until_serving(shop)
    return shop


@pytest.fixture(scope="package")
def seeded_data_dir(tmp_path_factory) -> Path:
    """An embedded store with the starter catalog and a staff account, made once and copied per test."""
    data_dir = tmp_path_factory.mktemp("seeded-store")
    run_cli("create-user", STAFF_EMAIL, "--staff", f"--data-dir={data_dir}", cwd=data_dir, stdin=STAFF_PASSWORD + "\n")
    return data_dir


@pytest.fixture
def shop(seeded_data_dir, tmp_path):
    """The real shop, serving on a free loopback port from a store of its own."""
    data_dir = tmp_path / "data"
    shutil.copytree(seeded_data_dir, data_dir, ignore=shutil.ignore_patterns("*.lock"))
    shop = start_shop(data_dir, tmp_path / "shop.log")
    yield shop
    shop.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test's report ends with the shop's log: the server side of what the browser saw."""
    outcome = yield
    report = outcome.get_result()
    shop = item.funcargs.get("shop") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(shop, Shop):
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
def open_page(browser: Browser, shop: Shop):
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
