"""Fetching external ICS feeds from a real HTTP server on 127.0.0.1.

The server runs in a thread for the whole module and records every request, so tests can prove
that a refused address was refused before anything was sent.
"""

from __future__ import annotations

import base64
import gzip
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conference.scheduling import external
from conference.scheduling.external import BusyInterval, ExternalCalendarError, busy_from_ics, fetch_ics

CALENDAR = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//Test//EN\r\n"
    b"BEGIN:VEVENT\r\nUID:1\r\nDTSTAMP:20260101T000000Z\r\n"
    b"DTSTART:20260304T150000Z\r\nDTEND:20260304T160000Z\r\nSUMMARY:Private\r\n"
    b"END:VEVENT\r\nEND:VCALENDAR\r\n"
)
PAGE = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Sign in to see this calendar</body></html>"
LIMIT = 100_000  # max_bytes for the oversized cases; the bodies below are twice that
SLOW_SECONDS = 5.0  # how long the slow handlers would take; the tests give up well before


@dataclass
class Seen:
    path: str
    host: str
    authorization: str


@dataclass
class CalendarServer:
    port: int
    stop: threading.Event
    requests: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def paths(self) -> list[str]:
        with self.lock:
            return [seen.path for seen in self.requests]


def _handler(server: CalendarServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0: one request per connection, and a body without Content-Length ends at close.
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: object) -> None:  # the name the base class uses
            pass

        def do_GET(self) -> None:
            with server.lock:
                server.requests.append(
                    Seen(self.path, self.headers.get("Host", ""), self.headers.get("Authorization", ""))
                )
            route = self.path.split("?")[0]
            if route == "/calendar.ics":
                self._send(200, CALENDAR, "text/calendar; charset=utf-8")
            elif route == "/bom.ics":
                self._send(200, b"\xef\xbb\xbf\r\n" + CALENDAR, "text/calendar")
            elif route == "/missing":
                self._send(404, b"Not here", "text/plain")
            elif route == "/broken":
                self._send(500, b"Oops", "text/plain")
            elif route == "/forbidden":
                self._send(403, b"No", "text/plain")
            elif route == "/page.html":
                self._send(200, PAGE, "text/html")
            elif route == "/huge.ics":
                self._send(200, CALENDAR + b"X" * (2 * LIMIT), "text/calendar")
            elif route == "/huge-unsized.ics":
                self._send_unsized(CALENDAR + b"X" * (2 * LIMIT))
            elif route == "/bomb.ics":
                # Small on the wire, ten times the limit once unpacked.
                packed = gzip.compress(CALENDAR + b"\n" * (10 * LIMIT))
                self._send(200, packed, "text/calendar", {"Content-Encoding": "gzip"})
            elif route == "/gzipped.ics":
                self._send(200, gzip.compress(CALENDAR), "text/calendar", {"Content-Encoding": "gzip"})
            elif route == "/redirect":
                self._redirect("/calendar.ics")
            elif route == "/redirect-chain":
                hops = int(self.path.split("?")[1]) if "?" in self.path else 0
                self._redirect(f"/redirect-chain?{hops + 1}" if hops < 9 else "/calendar.ics")
            elif route == "/redirect-ftp":
                self._redirect("ftp://files.example.org/calendar.ics")
            elif route == "/redirect-other-loopback":
                self._redirect(f"http://127.0.0.2:{server.port}/calendar.ics")
            elif route == "/slow":
                server.stop.wait(SLOW_SECONDS)
                self._send(200, CALENDAR, "text/calendar")
            elif route == "/trickle":
                self._trickle()
            else:
                self._send(404, b"Unknown test route", "text/plain")

        def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _send_unsized(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/calendar")
            self.end_headers()
            for offset in range(0, len(body), 8192):
                self.wfile.write(body[offset : offset + 8192])

        def _redirect(self, location: str) -> None:
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _trickle(self) -> None:
            # One byte at a time, each well within any per-read timeout: only a deadline for the whole
            # fetch stops the client.
            self.send_response(200)
            self.send_header("Content-Type", "text/calendar")
            self.end_headers()
            self.wfile.write(b"BEGIN:VCALENDAR\r\n")
            self.wfile.flush()
            deadline = time.monotonic() + SLOW_SECONDS
            while time.monotonic() < deadline and not server.stop.wait(0.05):
                self.wfile.write(b"X")
                self.wfile.flush()

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # The client hanging up on a slow handler is what the timeout tests do on purpose.
        pass


@pytest.fixture(scope="module")
def calendar_server() -> Iterator[CalendarServer]:
    stop = threading.Event()
    state = CalendarServer(port=0, stop=stop)
    httpd = _QuietServer(("127.0.0.1", 0), _handler(state))
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        stop.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def server(calendar_server: CalendarServer) -> CalendarServer:
    with calendar_server.lock:
        calendar_server.requests.clear()
    return calendar_server


async def refused(url: str, **options: object) -> ExternalCalendarError:
    with pytest.raises(ExternalCalendarError) as raised:
        await fetch_ics(url, **options)  # type: ignore[arg-type]
    return raised.value


# ------------------------------------------------------------------------------ answers


async def test_valid_calendar_is_returned_and_parses(server: CalendarServer) -> None:
    body = await fetch_ics(server.url("/calendar.ics"), allow_private_hosts=True)
    assert body == CALENDAR
    window = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 8, tzinfo=UTC))
    assert busy_from_ics(body, *window) == [
        BusyInterval(datetime(2026, 3, 4, 15, tzinfo=UTC), datetime(2026, 3, 4, 16, tzinfo=UTC))
    ]
    assert server.paths() == ["/calendar.ics"]


async def test_byte_order_mark_before_the_calendar_is_accepted(server: CalendarServer) -> None:
    body = await fetch_ics(server.url("/bom.ics"), allow_private_hosts=True)
    assert body.endswith(CALENDAR)


async def test_compressed_calendar_is_unpacked(server: CalendarServer) -> None:
    assert await fetch_ics(server.url("/gzipped.ics"), allow_private_hosts=True) == CALENDAR


async def test_webcal_address_is_fetched_over_https(server: CalendarServer) -> None:
    # webcal:// becomes https://, and the plain-HTTP test server cannot speak TLS: the fetch is
    # attempted over TLS and fails as unreachable rather than silently using plain HTTP.
    error = await refused(f"webcal://127.0.0.1:{server.port}/calendar.ics", allow_private_hosts=True)
    assert error.kind == "unreachable"


@pytest.mark.parametrize(("path", "status"), [("/missing", 404), ("/broken", 500), ("/forbidden", 403)])
async def test_error_status_names_the_code(server: CalendarServer, path: str, status: int) -> None:
    error = await refused(server.url(path), allow_private_hosts=True)
    assert error.kind == "http"
    assert str(status) in error.message


async def test_web_page_is_not_a_calendar(server: CalendarServer) -> None:
    error = await refused(server.url("/page.html"), allow_private_hosts=True)
    assert error.kind == "not_calendar"


@pytest.mark.parametrize("path", ["/huge.ics", "/huge-unsized.ics", "/bomb.ics"])
async def test_oversized_body_is_refused(server: CalendarServer, path: str) -> None:
    error = await refused(server.url(path), allow_private_hosts=True, max_bytes=LIMIT)
    assert error.kind == "too_large"


async def test_body_at_the_limit_is_accepted(server: CalendarServer) -> None:
    assert await fetch_ics(server.url("/calendar.ics"), allow_private_hosts=True, max_bytes=len(CALENDAR)) == CALENDAR


# ------------------------------------------------------------------------------ redirects


async def test_redirect_is_followed(server: CalendarServer) -> None:
    assert await fetch_ics(server.url("/redirect"), allow_private_hosts=True) == CALENDAR
    assert server.paths() == ["/redirect", "/calendar.ics"]


async def test_too_many_redirects_are_refused(server: CalendarServer) -> None:
    error = await refused(server.url("/redirect-chain"), allow_private_hosts=True)
    assert error.kind == "http"
    assert len(server.paths()) == external.MAX_REDIRECTS + 1


async def test_redirect_to_another_scheme_is_refused(server: CalendarServer) -> None:
    error = await refused(server.url("/redirect-ftp"), allow_private_hosts=True)
    assert error.kind == "url"
    assert server.paths() == ["/redirect-ftp"]


# ------------------------------------------------------------------------------ time and reachability


async def test_slow_server_times_out(server: CalendarServer) -> None:
    started = time.monotonic()
    error = await refused(server.url("/slow"), allow_private_hosts=True, timeout=0.3)
    assert error.kind == "unreachable"
    assert time.monotonic() - started < 2


async def test_trickling_body_hits_the_overall_deadline(server: CalendarServer) -> None:
    started = time.monotonic()
    error = await refused(server.url("/trickle"), allow_private_hosts=True, timeout=0.5)
    assert error.kind == "unreachable"
    assert time.monotonic() - started < 2.5


async def test_closed_port_is_unreachable() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens there now: the connection is refused.
    error = await refused(f"http://127.0.0.1:{port}/calendar.ics", allow_private_hosts=True)
    assert error.kind == "unreachable"


# ------------------------------------------------------------------------------ private addresses


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "2130706433"])
async def test_loopback_is_refused_before_any_request(server: CalendarServer, host: str) -> None:
    error = await refused(server.url("/calendar.ics", host=host))
    assert error.kind == "url"
    assert "public" in error.message
    assert server.paths() == []


async def test_checked_address_is_the_one_connected_to(server: CalendarServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pretend 127.0.0.1 is public, so the whole checked path runs against the local server.
    monkeypatch.setattr(external, "_is_public_address", lambda address: address == ipaddress.ip_address("127.0.0.1"))
    assert await fetch_ics(server.url("/calendar.ics")) == CALENDAR
    assert [(seen.path, seen.host) for seen in server.requests] == [("/calendar.ics", f"127.0.0.1:{server.port}")]


async def test_every_redirect_target_is_checked(server: CalendarServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(external, "_is_public_address", lambda address: address == ipaddress.ip_address("127.0.0.1"))
    error = await refused(server.url("/redirect-other-loopback"))
    assert error.kind == "url"
    assert "public" in error.message
    assert server.paths() == ["/redirect-other-loopback"]


# ------------------------------------------------------------------------------ credentials


async def test_credentials_in_the_address_are_sent_and_never_repeated(server: CalendarServer) -> None:
    url = f"http://clinician:hunter2@127.0.0.1:{server.port}/calendar.ics"
    assert await fetch_ics(url, allow_private_hosts=True) == CALENDAR
    assert server.requests[0].authorization == "Basic " + base64.b64encode(b"clinician:hunter2").decode()

    error = await refused(f"http://clinician:hunter2@127.0.0.1:{server.port}/missing", allow_private_hosts=True)
    assert "hunter2" not in error.message
    assert "clinician" not in error.message
