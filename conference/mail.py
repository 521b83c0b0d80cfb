"""Outgoing email through a transactional outbox.

Messages are stored in the same transaction as the change that causes them, then delivered by a
background task: by SMTP when configured, else as ``.eml`` files in the outbox folder. A message is
delivered once; a failed delivery is retried with backoff. ``dedupe_key`` makes enqueueing
idempotent (reminders), across restarts and across service instances.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Integer, String, Text, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from conference.db import Base, utcnow
from conference.settings import Settings

log = logging.getLogger("conference.mail")
MAX_ATTEMPTS = 8


class OutboundEmail(Base):
    __tablename__ = "outbound_email"

    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)  # the whole MIME message
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True), default=utcnow, index=True)
    last_error: Mapped[str | None] = mapped_column(String(500))


async def enqueue(session: AsyncSession, message: EmailMessage, *, dedupe_key: str | None = None) -> bool:
    """Store a message for delivery with the caller's transaction; False when its key was already used."""
    values = {
        "recipient": str(message["To"]),
        "subject": str(message["Subject"]),
        "message": message.as_string(policy=SMTP),
        "dedupe_key": dedupe_key,
    }
    if dedupe_key is None:
        session.add(OutboundEmail(**values))
        await session.flush()
        return True
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(OutboundEmail)
        .values(id=uuid.uuid4(), created_at=utcnow(), next_attempt_at=utcnow(), attempts=0, **values)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Transport:
    settings: Settings

    def send(self, recipient: str, message: str) -> None:
        if self.settings.smtp_host:
            self._smtp(recipient, message)
        else:
            self._outbox(recipient, message)

    def _smtp(self, recipient: str, message: str) -> None:
        settings = self.settings
        assert settings.smtp_host
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username and settings.smtp_password:
                smtp.login(settings.smtp_username, settings.smtp_password)
            smtp.sendmail(settings.mail_from, [recipient], message.encode())

    def _outbox(self, recipient: str, message: str) -> None:
        folder = self.settings.outbox_dir
        folder.mkdir(parents=True, exist_ok=True)
        stamp = utcnow().strftime("%Y%m%dT%H%M%S%f")
        path = folder / f"{stamp}-{abs(hash((recipient, message))) % 10**8:08d}.eml"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(message)
        temporary.rename(path)  # whole files only: a reader never sees half a message


async def deliver_pending(engine: AsyncEngine, settings: Settings, *, batch: int = 50) -> int:
    """Send what is due; each message is claimed by one instance (row lock) and marked sent once."""
    transport = Transport(settings)
    sent = 0
    factory = async_sessionmaker(engine, expire_on_commit=False)
    while True:
        async with factory() as session, session.begin():
            now = utcnow()
            rows = list(
                await session.scalars(
                    select(OutboundEmail)
                    .where(
                        OutboundEmail.sent_at.is_(None),
                        OutboundEmail.next_attempt_at <= now,
                        OutboundEmail.attempts < MAX_ATTEMPTS,
                    )
                    .order_by(OutboundEmail.created_at)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            )
            for row in rows:
                try:
                    await asyncio.to_thread(transport.send, row.recipient, row.message)
                except (OSError, smtplib.SMTPException) as error:
                    row.attempts += 1
                    row.last_error = f"{type(error).__name__}: {error}"[:500]
                    row.next_attempt_at = now + dt.timedelta(minutes=2**row.attempts)
                    log.warning("email delivery failed (attempt %d): %s", row.attempts, type(error).__name__)
                else:
                    row.sent_at, row.attempts = utcnow(), row.attempts + 1
                    sent += 1
        if len(rows) < batch:
            return sent
