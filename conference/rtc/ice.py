"""ICE servers for a participant's connection: STUN, and TURN with short-lived credentials.

TURN credentials follow the REST scheme coturn implements (``use-auth-secret``): the username is
``<expiry unix time>:<user id>`` and the password is base64(HMAC-SHA1(shared secret, username)), so
the service never stores TURN passwords and a leaked credential stops working by itself.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

MIN_TTL = dt.timedelta(minutes=5)
MAX_TTL = dt.timedelta(hours=24)


@dataclass(frozen=True)
class IceServer:
    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    def as_browser_config(self) -> dict[str, object]:
        """The shape of one entry of RTCConfiguration.iceServers in a browser."""
        entry: dict[str, object] = {"urls": list(self.urls)}
        if self.username is not None:
            entry["username"], entry["credential"] = self.username, self.credential
        return entry


def turn_credentials(secret: str, user_id: str, *, now: dt.datetime, ttl: dt.timedelta) -> tuple[str, str]:
    """A username and password coturn accepts until ``now + ttl``."""
    if not secret:
        raise ValueError("a TURN shared secret is required")
    if ":" in user_id:
        raise ValueError("the user id may not contain ':' (it separates the expiry)")
    if not MIN_TTL <= ttl <= MAX_TTL:
        raise ValueError("TURN credentials must live between 5 minutes and 24 hours")
    expires = int((now + ttl).timestamp())
    username = f"{expires}:{user_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers(
    *,
    stun_urls: Sequence[str],
    turn_urls: Sequence[str],
    turn_secret: str | None,
    user_id: str,
    now: dt.datetime,
    ttl: dt.timedelta,
) -> list[IceServer]:
    """What one participant's connection may use; TURN only when a shared secret is configured."""
    servers = [IceServer(tuple(stun_urls))] if stun_urls else []
    if turn_urls and turn_secret:
        username, password = turn_credentials(turn_secret, user_id, now=now, ttl=ttl)
        servers.append(IceServer(tuple(turn_urls), username, password))
    return servers
