"""All configuration, read from ``CONFERENCE_*`` environment variables with embedded defaults.

The defaults need nothing installed: a SQLite file and a generated secret key under the data
directory, in-process channels, and email written to an outbox folder.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WEB_DIR = PROJECT_ROOT / "web"


class SettingsError(ValueError):
    """A setting has a value the service cannot run with."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    secret_key: str
    base_url: str = "http://127.0.0.1:8000"
    redis_url: str | None = None
    session_idle_minutes: int = 15
    session_lifetime_hours: int = 12
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_display_name: str = "your organization's sign-in"
    sign_in_attempts_per_account: int = 5
    sign_in_attempts_per_address: int = 30
    sign_in_window_minutes: int = 15
    join_link_hours: int = 72
    log_level: str = "INFO"
    consent_sweep_seconds: int = 60
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = True
    mail_from: str = "Case Conference <no-reply@localhost>"
    mail_poll_seconds: int = 10
    reminder_poll_seconds: int = 60
    external_calendar_refresh_minutes: int = 30
    allow_private_calendar_hosts: bool = False
    feed_requests_per_hour: int = 120
    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    turn_secret: str | None = None
    turn_ttl_minutes: int = 120
    room_opens_before_minutes: int = 15
    room_closes_after_minutes: int = 60
    room_heartbeat_seconds: int = 10
    # How long a dropped participant keeps their place (and a patient their admission) to reconnect.
    room_resume_seconds: int = 30
    # "relay": clients send media only through TURN (networks that must not expose addresses).
    ice_transport_policy: str = "all"
    # The local addresses the server's media advertises in ICE; empty means every interface.
    media_addresses: tuple[str, ...] = ()

    @property
    def mail_from_address(self) -> str:
        return parseaddr(self.mail_from)[1] or "no-reply@localhost"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    auto_upgrade_database: bool = field(default=True)

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id and self.oidc_client_secret)

    @property
    def secure_cookies(self) -> bool:
        return urlsplit(self.base_url).scheme == "https"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def public_base_url(self) -> str:
        return self.base_url.rstrip("/")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(f"CONFERENCE_{name}")
            return value if value not in (None, "") else None

        data_dir = Path(get("DATA_DIR") or "var").resolve()
        database_url = get("DATABASE_URL") or f"sqlite+aiosqlite:///{data_dir / 'conference.db'}"
        return cls(
            data_dir=data_dir,
            database_url=_normalise_database_url(database_url),
            secret_key=get("SECRET_KEY") or _stored_secret_key(data_dir),
            base_url=get("BASE_URL") or cls.base_url,
            redis_url=get("REDIS_URL"),
            session_idle_minutes=_positive_int(get, "SESSION_IDLE_MINUTES", cls.session_idle_minutes),
            session_lifetime_hours=_positive_int(get, "SESSION_LIFETIME_HOURS", cls.session_lifetime_hours),
            oidc_issuer=get("OIDC_ISSUER"),
            oidc_client_id=get("OIDC_CLIENT_ID"),
            oidc_client_secret=get("OIDC_CLIENT_SECRET"),
            oidc_display_name=get("OIDC_DISPLAY_NAME") or cls.oidc_display_name,
            sign_in_attempts_per_account=_positive_int(
                get, "SIGN_IN_ATTEMPTS_PER_ACCOUNT", cls.sign_in_attempts_per_account
            ),
            sign_in_attempts_per_address=_positive_int(
                get, "SIGN_IN_ATTEMPTS_PER_ADDRESS", cls.sign_in_attempts_per_address
            ),
            sign_in_window_minutes=_positive_int(get, "SIGN_IN_WINDOW_MINUTES", cls.sign_in_window_minutes),
            join_link_hours=_positive_int(get, "JOIN_LINK_HOURS", cls.join_link_hours),
            log_level=(get("LOG_LEVEL") or cls.log_level).upper(),
            consent_sweep_seconds=_positive_int(get, "CONSENT_SWEEP_SECONDS", cls.consent_sweep_seconds),
            smtp_host=get("SMTP_HOST"),
            smtp_port=_positive_int(get, "SMTP_PORT", cls.smtp_port),
            smtp_username=get("SMTP_USERNAME"),
            smtp_password=get("SMTP_PASSWORD"),
            smtp_starttls=_flag(get, "SMTP_STARTTLS", cls.smtp_starttls),
            mail_from=get("MAIL_FROM") or cls.mail_from,
            mail_poll_seconds=_positive_int(get, "MAIL_POLL_SECONDS", cls.mail_poll_seconds),
            reminder_poll_seconds=_positive_int(get, "REMINDER_POLL_SECONDS", cls.reminder_poll_seconds),
            external_calendar_refresh_minutes=_positive_int(
                get, "EXTERNAL_CALENDAR_REFRESH_MINUTES", cls.external_calendar_refresh_minutes
            ),
            allow_private_calendar_hosts=_flag(get, "ALLOW_PRIVATE_CALENDAR_HOSTS", False),
            feed_requests_per_hour=_positive_int(get, "FEED_REQUESTS_PER_HOUR", cls.feed_requests_per_hour),
            stun_urls=_url_list(get, "STUN_URLS", ("stun:",)),
            turn_urls=_url_list(get, "TURN_URLS", ("turn:", "turns:")),
            turn_secret=get("TURN_SECRET"),
            turn_ttl_minutes=_positive_int(get, "TURN_TTL_MINUTES", cls.turn_ttl_minutes),
            room_opens_before_minutes=_positive_int(get, "ROOM_OPENS_BEFORE_MINUTES", cls.room_opens_before_minutes),
            room_closes_after_minutes=_positive_int(get, "ROOM_CLOSES_AFTER_MINUTES", cls.room_closes_after_minutes),
            room_heartbeat_seconds=_positive_int(get, "ROOM_HEARTBEAT_SECONDS", cls.room_heartbeat_seconds),
            room_resume_seconds=_positive_int(get, "ROOM_RESUME_SECONDS", cls.room_resume_seconds),
            ice_transport_policy=_choice(get, "ICE_TRANSPORT_POLICY", ("all", "relay"), cls.ice_transport_policy),
            media_addresses=_addresses(get, "MEDIA_ADDRESSES"),
            auto_upgrade_database=_flag(get, "AUTO_UPGRADE_DATABASE", True),
        )


def _positive_int(get: Callable[[str], str | None], name: str, default: int) -> int:
    raw = get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"CONFERENCE_{name} must be a whole number, not {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"CONFERENCE_{name} must be greater than zero")
    return value


def _url_list(get: Callable[[str], str | None], name: str, schemes: tuple[str, ...]) -> tuple[str, ...]:
    urls = tuple(url.strip() for url in (get(name) or "").split(",") if url.strip())
    for url in urls:
        if not url.startswith(schemes):
            raise SettingsError(f"CONFERENCE_{name}: {url!r} must start with {' or '.join(schemes)}")
    return urls


def _choice(get: Callable[[str], str | None], name: str, choices: tuple[str, ...], default: str) -> str:
    raw = (get(name) or default).strip().lower()
    if raw not in choices:
        raise SettingsError(f"CONFERENCE_{name} must be one of {', '.join(choices)}, not {raw!r}")
    return raw


def _addresses(get: Callable[[str], str | None], name: str) -> tuple[str, ...]:
    addresses = tuple(part.strip() for part in (get(name) or "").split(",") if part.strip())
    for address in addresses:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise SettingsError(f"CONFERENCE_{name}: {address!r} is not an IP address") from None
    return addresses


def _flag(get: Callable[[str], str | None], name: str, default: bool) -> bool:
    raw = get(name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"CONFERENCE_{name} must be true or false, not {raw!r}")


def _normalise_database_url(url: str) -> str:
    """Accept the URLs people copy from elsewhere and pick the async driver for them."""
    for plain, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    if url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
        return url
    raise SettingsError("CONFERENCE_DATABASE_URL must be a PostgreSQL or SQLite URL")


def _stored_secret_key(data_dir: Path) -> str:
    """Generate the key on first run and keep it, so sessions and join links survive restarts."""
    key_file = data_dir / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key
