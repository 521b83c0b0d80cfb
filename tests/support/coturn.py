"""A real coturn TURN server on 127.0.0.1 for tests, using the REST shared-secret scheme."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import stop_process


@dataclass(frozen=True)
class Turn:
    url: str
    secret: str
    realm: str


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_answering(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until a STUN binding request gets an answer: the log's wording changes between releases."""
    request = bytes.fromhex("000100002112a442") + b"conference01"
    deadline = time.monotonic() + 15
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.settimeout(0.2)
        while time.monotonic() < deadline and process.poll() is None:
            probe.sendto(request, ("127.0.0.1", port))
            try:
                if probe.recv(1024)[:2] == b"\x01\x01":
                    return
            except OSError:
                time.sleep(0.1)
    raise RuntimeError("coturn did not start:\n" + log.read_text()[-2000:])


@contextmanager
def running_coturn(directory: Path, secret: str = "test-shared-secret") -> Iterator[Turn]:
    binary = shutil.which("turnserver")
    if binary is None:
        raise RuntimeError("coturn is not installed: run scripts/lib/test-services.sh")
    port = _free_udp_port()
    relay_low = 40000 + port % 20000
    config = directory / "turnserver.conf"
    config.write_text(
        "\n".join(
            [
                "listening-ip=127.0.0.1",
                "relay-ip=127.0.0.1",
                f"listening-port={port}",
                f"min-port={relay_low}",
                f"max-port={relay_low + 40}",
                "use-auth-secret",
                f"static-auth-secret={secret}",
                "realm=conference.test",
                "fingerprint",
                # Peers here are on loopback, which coturn refuses unless told otherwise (never in production).
                "allow-loopback-peers",
                "no-tls",
                "no-dtls",
                "no-cli",
                "no-tcp-relay",
                "no-multicast-peers",
                f"userdb={directory / 'turndb'}",
                f"pidfile={directory / 'turnserver.pid'}",
                "log-file=stdout",
                "simple-log",
                "verbose",  # logs each allocation, which tests read to prove media was relayed
            ]
        )
        + "\n"
    )
    log = (directory / "turnserver.log").open("w")
    process = subprocess.Popen([binary, "-c", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_answering(port, process, directory / "turnserver.log")
        yield Turn(url=f"turn:127.0.0.1:{port}?transport=udp", secret=secret, realm="conference.test")
    finally:
        stop_process(process, 5)
        log.close()
