"""Browser tests: headless Chromium (Debian's package) driven by Playwright against `live_server`.

Tests marked `browser` are skipped, with the reason, when the `playwright` package or the
Chromium binary is missing; under CI=true they fail instead. Every step's screenshot is saved
under test-artifacts/browser/<test name>/NN-<step>.png, and the folder is printed at the end.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.core import mail
from django.core.cache import cache

from apps.updates.delivery import hotcache
from tests.conftest import REAL, ROOT
from tests.smtp_sink import SlowHandler, SmtpSink

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page
    from pytest_django.live_server_helper import LiveServer

ARTIFACTS = ROOT / "test-artifacts" / "browser"
# Chromium is Debian's package (`make test` installs it); Playwright cannot fetch its own here.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_worker_env_key = pytest.StashKey[dict[str, str]]()
_report_key = pytest.StashKey[dict[str, pytest.TestReport]]()
_folders_key = pytest.StashKey[list[Path]]()


def _chromium() -> str:
    return os.environ.get("DEPOT_CHROMIUM", "/usr/bin/chromium")


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def browser_missing() -> str | None:
    """Return why the browser tests cannot run here; None when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "the Python package playwright is not installed (`make test` installs it)"
    chromium = _chromium()
    if not (os.path.isfile(chromium) and os.access(chromium, os.X_OK)):
        return f"no Chromium at {chromium} (`make test` as root installs Debian's chromium)"
    return None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: drives headless Chromium through Playwright (tests/browser)"
    )
    config.stash[_folders_key] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = browser_missing()
    if missing is None or _ci():
        return  # under CI=true pytest_runtest_setup below fails these tests with the reason
    skip = pytest.mark.skip(reason=f"browser tests need headless Chromium: {missing}")
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(skip)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("browser") is None or not _ci():
        return
    missing = browser_missing()
    if missing is not None:
        # Before any fixture starts (the live server, a worker): fail at once, saying why.
        pytest.fail(f"CI=true needs the browser tests, but {missing}", pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    item.stash.setdefault(_report_key, {})[report.when] = report
    return report


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    folders = config.stash.get(_folders_key, [])
    if folders:
        terminalreporter.write_line(
            f"depot: browser screenshots of {len(folders)} test(s) in {ARTIFACTS}/"
        )


@dataclass
class Shots:
    """Full-page screenshots of a test's steps, numbered in the order they were taken."""

    folder: Path
    taken: list[Path] = field(default_factory=list)

    def take(self, page: Page, step: str) -> Path:
        """Save `page` as NN-<step>.png in this test's folder."""
        path = self.folder / f"{len(self.taken) + 1:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    """This test's screenshot folder, emptied of an earlier run's pictures."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    folder = ARTIFACTS / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    request.config.stash[_folders_key].append(folder)
    return Shots(folder)


class Mailbox:
    """The e-mails the store sent during a test, read as the customer's mail client would."""

    def __init__(self, sink: SmtpSink | None) -> None:
        self.sink = sink

    def bodies_to(self, address: str, *, count: int = 1, timeout: float = 30.0) -> list[str]:
        """Wait for `count` e-mails to `address`; return their text parts."""
        deadline = time.monotonic() + timeout
        while True:
            bodies = self._bodies_to(address)
            if len(bodies) >= count or time.monotonic() > deadline:
                return bodies
            time.sleep(0.2)

    def _bodies_to(self, address: str) -> list[str]:
        if self.sink is None:  # tasks ran in this process: Django's locmem outbox
            return [str(m.body) for m in mail.outbox if address in m.to]
        bodies = []
        for message in self.sink.wait_for(0, timeout=0):
            if address in str(message["To"]):
                for part in message.walk():
                    payload = part.get_payload(decode=True)
                    if part.get_content_type() == "text/plain" and isinstance(payload, bytes):
                        bodies.append(payload.decode())
        return bodies


@pytest.fixture
def mailbox(request: pytest.FixtureRequest) -> Iterator[Mailbox]:
    """Mail sent by the tasks; links in it point at the live server."""
    live_server = request.getfixturevalue("live_server")
    if not REAL:
        settings = request.getfixturevalue("settings")
        settings.DEPOT_STORE_BASE_URL = str(live_server.url)
        yield Mailbox(None)
        return
    with SmtpSink(SlowHandler()) as sink:
        request.node.stash[_worker_env_key] = {
            **sink.env,
            "DEPOT_STORE_BASE_URL": str(live_server.url),
        }
        yield Mailbox(sink)


@pytest.fixture
def site(request: pytest.FixtureRequest, live_server: LiveServer, mailbox: Mailbox) -> str:
    """The live server's URL; on the real services, with a Celery worker on RabbitMQ.

    On the embedded default the tasks run in-process after commit, inside the live server.
    The worker sends its mail to the test's SMTP server (`mailbox`).
    """
    if REAL:
        workers = request.getfixturevalue("celery_workers")
        workers.start(**request.node.stash.get(_worker_env_key, {}))
    # Slugs and license ids repeat across tests (ids restart after each flush).
    cache.clear()
    hotcache.store_reset()
    return str(live_server.url)


@pytest.fixture
def browser(site: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    """Launch headless Chromium for one test (set up after the database and the live server)."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop running on this thread, and Django refuses
    # ORM calls from a thread with a running loop; the test's own queries are synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_page(
    request: pytest.FixtureRequest, browser: Browser, shots: Shots
) -> Iterator[Callable[[], Page]]:
    """Open a page in a fresh browser context (its own cookies: one per person in the test).

    When the test fails, each open page's last state is saved as a screenshot too.
    """
    contexts: list[BrowserContext] = []

    def make() -> Page:
        context = browser.new_context(
            accept_downloads=True, viewport={"width": 1280, "height": 900}
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    report = request.node.stash.get(_report_key, {}).get("call")
    if report is not None and report.failed:
        for context in contexts:
            for page in context.pages:
                # A crashed page has no picture to give; the test's own failure says enough.
                with contextlib.suppress(Exception):
                    shots.take(page, "failed")
    for context in contexts:
        context.close()
