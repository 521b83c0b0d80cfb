"""End-to-end fixtures: the real service in a subprocess, driven by a headless Chromium.

``start_server(extra_env, port=...)`` runs ``conference demo --json`` then ``conference serve``
against a fresh data directory and waits for ``/health``; ``live_server`` is the plain case.
Each test gets a fresh browser context (``page``) from one Chromium per module.

The tests use Playwright's sync API, so they are plain (non-async) tests and pytest-asyncio
leaves them alone. While sync Playwright is running it marks its own event loop as the thread's
running loop between calls, so the browser lives for one module, never the session: async tests
elsewhere in the suite must not run while it is open.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.support.processes import stop_process

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
]
STARTUP_TIMEOUT_S = 30.0
DEMO_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
# Playwright's default for each action and expectation: generous for a slow machine, still bounded.
PAGE_TIMEOUT_MS = 15_000
_OUTPUT_TAIL_CHARS = 8000

expect.set_options(timeout=PAGE_TIMEOUT_MS)

_SERVERS = pytest.StashKey[list["LiveServer"]]()


def _conference_command() -> list[str]:
    if importlib.util.find_spec("conference.__main__") is not None:
        return [sys.executable, "-m", "conference"]
    return [sys.executable, "-c", "from conference.cli import main; main()"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LiveServer:
    base_url: str
    port: int
    demo: dict[str, Any]
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def url(self, path: str) -> str:
        return self.base_url + path

    def person(self, email: str) -> dict[str, Any]:
        """The demo person with this email, including their password."""
        for person in self.demo["people"]:
            if person["email"] == email:
                return dict(person)
        raise KeyError(f"no demo person {email!r}; the demo has {[p['email'] for p in self.demo['people']]}")

    def password(self, email: str) -> str:
        return str(self.person(email)["password"])

    def output(self) -> str:
        """What the server has printed so far (stdout and stderr), the last part of it."""
        text = self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""
        return text[-_OUTPUT_TAIL_CHARS:]

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, STOP_TIMEOUT_S)


def _wait_for_health(server: LiveServer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last = "no answer yet"
    # trust_env=False: a proxy configured in the environment must never see loopback traffic.
    with httpx.Client(trust_env=False, timeout=2.0) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(
                    f"the service exited with code {process.returncode} during startup; output:\n{server.output()}"
                )
            try:
                response = http.get(server.url("/health"))
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:200]}"
            except httpx.TransportError as error:
                last = repr(error)
            time.sleep(0.1)
    server.stop()
    pytest.fail(
        f"the service did not answer GET /health with 200 within {STARTUP_TIMEOUT_S:.0f}s"
        f" (last: {last}); output:\n{server.output()}"
    )


StartServer = Callable[..., LiveServer]


@pytest.fixture
def start_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartServer]:
    """Factory: ``start_server(extra_env=None, port=None, demo_args=(), demo=None) -> LiveServer``, stopped after
    the test. Given ``demo`` (another instance's, sharing its database), the demo clinic is not created again."""
    started: list[LiveServer] = []
    request.node.stash[_SERVERS] = started

    def start(
        extra_env: Mapping[str, str] | None = None,
        port: int | None = None,
        demo_args: tuple[str, ...] = (),
        demo: dict[str, Any] | None = None,
    ) -> LiveServer:
        port = port if port is not None else free_port()
        root = tmp_path_factory.mktemp("live-server")
        data_dir = root / "data"
        base_url = f"http://127.0.0.1:{port}"
        env = {key: value for key, value in os.environ.items() if not key.startswith("CONFERENCE_")}
        env.update(
            CONFERENCE_DATA_DIR=str(data_dir),
            CONFERENCE_BASE_URL=base_url,
            CONFERENCE_SECRET_KEY=secrets.token_urlsafe(48),
            PYTHONUNBUFFERED="1",
        )
        env.update(extra_env or {})

        if demo is None:
            demo_run = subprocess.run(
                [*_conference_command(), "demo", "--json", *demo_args],
                env=env,
                cwd=root,
                capture_output=True,
                text=True,
                timeout=DEMO_TIMEOUT_S,
                check=False,
            )
            if demo_run.returncode != 0:
                pytest.fail(
                    f"`conference demo --json` exited with {demo_run.returncode}:\n"
                    f"{demo_run.stdout[-_OUTPUT_TAIL_CHARS:]}\n{demo_run.stderr[-_OUTPUT_TAIL_CHARS:]}"
                )
            try:
                demo = json.loads(demo_run.stdout)
            except json.JSONDecodeError as error:
                printed = demo_run.stdout[-_OUTPUT_TAIL_CHARS:]
                pytest.fail(f"`conference demo --json` printed no JSON ({error}):\n{printed}")

        server = LiveServer(base_url=base_url, port=port, demo=demo, data_dir=data_dir, log_path=root / "server.log")
        started.append(server)
        # A file rather than a pipe: nobody has to drain it while the tests run.
        with server.log_path.open("wb") as log:
            server.process = subprocess.Popen(
                [*_conference_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                cwd=root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _wait_for_health(server, server.process)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def live_server(start_server: StartServer) -> LiveServer:
    """The service with the demo clinic and default settings (no single sign-on)."""
    return start_server()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failing test's report carries each live server's output."""
    report = yield
    if report.failed and call.when in ("setup", "call"):
        servers: list[LiveServer] = item.stash.get(_SERVERS, [])
        for index, server in enumerate(servers):
            report.sections.append((f"live server {index + 1} ({server.base_url}) output", server.output()))
    return report


# ---- the browser ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


# Anything not on the loopback interface (web fonts a third-party page imports, say) is refused at
# once, so no test waits on, or reaches, the outside world.
_OFF_MACHINE = re.compile(r"^(?!(?:https?|wss?)://(?:127\.0\.0\.1|localhost)[:/])")


def new_context(browser: Browser, **options: Any) -> BrowserContext:
    """A fresh browser context (cookies, storage) with the suite's timeouts; close it when done."""
    context = browser.new_context(**options)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    context.route(_OFF_MACHINE, lambda route: route.abort())
    return context


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = new_context(browser)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()
