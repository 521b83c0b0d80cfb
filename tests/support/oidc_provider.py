"""Run a real OpenID Connect provider (npm ``oidc-provider``) for tests.

The provider lives in ``tests/oidc_provider`` and listens on 127.0.0.1 only.
Accounts are keyed by the login name typed on its sign-in form; an unknown
login name makes the provider answer the client with ``error=access_denied``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import IO
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
from joserfc.jwk import RSAKey

from tests.support.processes import stop_process

PROVIDER_DIR = Path(__file__).resolve().parent.parent / "oidc_provider"
STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0
_STDERR_TAIL_CHARS = 4000


@dataclass(frozen=True)
class OidcProvider:
    issuer: str
    client_id: str
    client_secret: str
    port: int


class OidcProviderError(RuntimeError):
    pass


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise OidcProviderError(f"{name!r} is not on PATH; the test OIDC provider needs Node.js and npm")
    return path


def _ensure_node_modules() -> None:
    if (PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json").is_file():
        return
    result = subprocess.run(
        [_tool("npm"), "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=PROVIDER_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        output = result.stdout + result.stderr
        if len(output) > _STDERR_TAIL_CHARS:
            # npm states the cause first and the log file last; keep both ends.
            half = _STDERR_TAIL_CHARS // 2
            output = f"{output[:half]}\n[...]\n{output[-half:]}"
        raise OidcProviderError(f"npm ci in {PROVIDER_DIR} failed (exit {result.returncode}):\n{output}")


def _tail(stream: IO[str]) -> str:
    stream.seek(0)
    return stream.read()[-_STDERR_TAIL_CHARS:]


def _wait_until_ready(process: subprocess.Popen[str], stdout: IO[str], stderr: IO[str]) -> str:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    issuer: str | None = None
    # trust_env=False: a proxy configured in the environment must never see this traffic.
    with httpx.Client(trust_env=False, timeout=2.0) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise OidcProviderError(
                    f"OIDC provider exited with code {process.returncode} during startup; stderr:\n{_tail(stderr)}"
                )
            if issuer is None:
                stdout.seek(0)
                for line in stdout.read().splitlines():
                    if line.startswith("READY "):
                        issuer = line.removeprefix("READY ").strip()
            if issuer is not None:
                try:
                    response = http.get(f"{issuer}/.well-known/openid-configuration")
                    if response.status_code == 200 and response.json().get("issuer") == issuer:
                        return issuer
                except httpx.TransportError:
                    pass
            time.sleep(0.05)
    raise OidcProviderError(
        f"OIDC provider not ready after {STARTUP_TIMEOUT_S:.0f}s (issuer={issuer!r}); stderr:\n{_tail(stderr)}"
    )


@contextmanager
def running_oidc_provider(
    *,
    redirect_uris: list[str],
    accounts: dict[str, dict[str, object]],
    client_id: str = "conference-test",
    client_secret: str | None = None,
    jwks_path: Path | None = None,
    port: int | None = None,
) -> Iterator[OidcProvider]:
    """Start the provider, yield its coordinates, and always stop it.

    Without ``port`` the OS picks a free one (the provider listens on port 0
    and reports the real issuer), so there is no pick-then-bind race. Pass the
    previous ``port`` to restart a provider under the same issuer.
    """
    _ensure_node_modules()
    secret = client_secret if client_secret is not None else secrets.token_urlsafe(24)
    env = {
        **os.environ,
        "OIDC_PORT": str(port if port is not None else 0),
        "OIDC_CLIENT_ID": client_id,
        "OIDC_CLIENT_SECRET": secret,
        "OIDC_REDIRECT_URIS": ",".join(redirect_uris),
        "OIDC_ACCOUNTS": json.dumps(accounts),
    }
    env.pop("OIDC_JWKS", None)
    if jwks_path is not None:
        env["OIDC_JWKS"] = str(jwks_path)

    with ExitStack() as stack:
        # Files rather than pipes: nobody has to drain them while tests run.
        stdout = stack.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8"))
        stderr = stack.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8"))
        process = subprocess.Popen(
            [_tool("node"), "provider.mjs"],
            cwd=PROVIDER_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            text=True,
        )
        stack.callback(stop_process, process, STOP_TIMEOUT_S)
        issuer = _wait_until_ready(process, stdout, stderr)
        yield OidcProvider(
            issuer=issuer,
            client_id=client_id,
            client_secret=secret,
            port=urlsplit(issuer).port or 0,
        )


def generate_private_jwks(path: Path, kid: str) -> None:
    key = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"}, private=True)
    path.write_text(json.dumps({"keys": [key.as_dict(private=True)]}), encoding="utf-8")


@dataclass
class _Form:
    action: str
    method: str
    fields: dict[str, str]


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[_Form] = []
        self._current: _Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._current = _Form(attributes.get("action", ""), attributes.get("method", "get").lower(), {})
            self.forms.append(self._current)
        elif tag == "input" and self._current is not None and attributes.get("name"):
            self._current.fields[attributes["name"]] = attributes.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


_MAX_STEPS = 20


async def sign_in_at_provider(client: httpx.AsyncClient, authorization_url: str, login: str) -> str:
    """Sign in as ``login`` through the provider's dev interactions.

    Returns the first URL the provider redirects to outside its own origin:
    the relying party's redirect URI carrying ``code`` and ``state`` (or
    ``error=access_denied`` for an unknown login name). That URL is not
    requested. ``client`` must keep cookies; if it already holds a provider
    session the login form is skipped and that session's account is used.
    """
    provider_origin = urlsplit(authorization_url)[:2]
    url = authorization_url
    response: httpx.Response | None = None
    for _ in range(_MAX_STEPS):
        if urlsplit(url)[:2] != provider_origin:
            return url
        if response is None:
            response = await client.get(url, follow_redirects=False)
        if response.is_redirect:
            url = urljoin(url, response.headers["location"])
            response = None
            continue
        if response.status_code != 200:
            raise OidcProviderError(f"provider answered {response.status_code} at {url}: {response.text[:2000]}")
        parser = _FormParser()
        parser.feed(response.text)
        form = next((f for f in parser.forms if "prompt" in f.fields), None)
        if form is None:
            raise OidcProviderError(f"no interaction form at {url}: {response.text[:2000]}")
        data = dict(form.fields)
        if data["prompt"] == "login":
            # Dev interactions accept any password.
            data.update(login=login, password="any-password")
        url = urljoin(url, form.action)
        response = await client.request(form.method.upper(), url, data=data, follow_redirects=False)
    raise OidcProviderError(f"no redirect to the client after {_MAX_STEPS} steps; last URL {url}")


def query_params(url: str) -> dict[str, str]:
    """Single-valued query parameters of ``url``."""
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
