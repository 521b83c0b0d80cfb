"""create_app(settings): the one place that wires plugins, stores, routes and error answers."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any, cast

from advanced_alchemy.extensions.litestar import (
    AsyncSessionConfig,
    SQLAlchemyAsyncConfig,
    SQLAlchemyPlugin,
)
from advanced_alchemy.extensions.litestar.store import SQLAlchemyStore
from litestar import Litestar, MediaType, Response, get
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.stores.base import Store
from litestar.stores.redis import RedisStore
from litestar.template.config import TemplateConfig
from redis.asyncio import Redis
from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncEngine

from conference import http
from conference.auth import pages as auth_pages
from conference.auth.oidc import OidcClient
from conference.auth.sessions import SESSION_STORE, SessionConfig, SignInRequired
from conference.background import periodic
from conference.caretime import api as caretime_api
from conference.caretime import pages as caretime_pages
from conference.channels import Channels, RedisChannels
from conference.consent import api as consent_api
from conference.consent import pages as consent_pages
from conference.consent import service as consent_service
from conference.consent.lapse import sweep_once
from conference.db import KeyValueEntry, create_engine, create_sqlite_store_engine, load_models
from conference.errors import DomainError
from conference.http import DbSession
from conference.mail import deliver_pending
from conference.minutes import api as minutes_api
from conference.minutes import pages as minutes_pages
from conference.people import api as people_api
from conference.people import pages as people_pages
from conference.plans import api as plans_api
from conference.plans import pages as plans_pages
from conference.rtc import aiortc_internals
from conference.rtc import api as rtc_api
from conference.rtc import pages as rtc_pages
from conference.rtc.rooms import RoomRegistry
from conference.scheduling import api as scheduling_api
from conference.scheduling import pages as scheduling_pages
from conference.scheduling.availability import refresh_due
from conference.scheduling.reminders import remind_once
from conference.settings import WEB_DIR, Settings

log = logging.getLogger("conference")


@get("/health", exclude_from_csrf=True, skip_session=True)
async def health(db_session: DbSession) -> Response[dict[str, str]]:
    try:
        await db_session.execute(text("SELECT 1"))
    except Exception:
        return Response({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return Response({"status": "ok", "database": "ok"}, media_type=MediaType.JSON)


def _stores(
    alchemy: SQLAlchemyAsyncConfig, store_engine: AsyncEngine | None, redis_client: Redis | None
) -> dict[str, Store]:
    """Redis when configured; else the database (a side SQLite file in the embedded setup)."""
    names = (SESSION_STORE, auth_pages.SIGN_IN_LIMITS_STORE, scheduling_api.FEED_LIMITS_STORE)
    if redis_client is not None:
        return {name: RedisStore(redis_client, namespace=f"conference:{name}") for name in names}
    config = alchemy if store_engine is None else SQLAlchemyAsyncConfig(engine_instance=store_engine)
    return {name: SQLAlchemyStore(config=config, model=KeyValueEntry, namespace=name) for name in names}


def create_app(settings: Settings | None = None, *, engine: AsyncEngine | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    load_models()
    engine = engine or create_engine(settings)
    alchemy = SQLAlchemyAsyncConfig(
        engine_instance=engine,
        session_config=AsyncSessionConfig(expire_on_commit=False),
        before_send_handler="autocommit_include_redirects",
        create_all=False,
    )
    oidc = (
        OidcClient(
            issuer=settings.oidc_issuer or "",
            client_id=settings.oidc_client_id or "",
            client_secret=settings.oidc_client_secret or "",
            redirect_uri=f"{settings.public_base_url}/auth/oidc/callback",
        )
        if settings.oidc_enabled
        else None
    )

    redis_client = Redis.from_url(settings.redis_url) if settings.redis_url else None
    store_engine = create_sqlite_store_engine(settings) if settings.is_sqlite and redis_client is None else None

    channels = RedisChannels(redis_client) if redis_client is not None else Channels()
    rooms = RoomRegistry(settings, engine, channels)

    @asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncGenerator[None, None]:
        aiortc_internals.advertise_only(settings.media_addresses or None)
        closed = await rooms.recover()
        if closed:
            log.info("closed %d attendance records left open by a restart", closed)
        consent_service.on_coverage_lost(rooms.on_coverage_lost)
        await channels.start()
        if store_engine is not None:
            async with store_engine.begin() as connection:
                await connection.run_sync(cast(Table, KeyValueEntry.__table__).create, checkfirst=True)
        try:
            async with (
                periodic("consent-lapse", settings.consent_sweep_seconds, lambda: sweep_once(engine, settings)),
                periodic("mail", settings.mail_poll_seconds, lambda: deliver_pending(engine, settings)),
                periodic("reminders", settings.reminder_poll_seconds, lambda: remind_once(engine, settings)),
                periodic("external-calendars", 60, lambda: refresh_due(engine, settings)),
                periodic("rooms", 1, rooms.tick),
            ):
                yield
        finally:
            consent_service.remove_coverage_listener(rooms.on_coverage_lost)
            await channels.close()
            await rooms.close()
            await engine.dispose()
            if store_engine is not None:
                await store_engine.dispose()
            if redis_client is not None:
                await redis_client.aclose()

    return Litestar(
        route_handlers=[
            health,
            *auth_pages.route_handlers,
            *people_pages.route_handlers,
            *people_api.route_handlers,
            *consent_pages.route_handlers,
            *consent_api.route_handlers,
            *scheduling_pages.route_handlers,
            *scheduling_api.route_handlers,
            *rtc_pages.route_handlers,
            *rtc_api.route_handlers,
            *caretime_pages.route_handlers,
            *caretime_api.route_handlers,
            *minutes_pages.route_handlers,
            *minutes_api.route_handlers,
            *plans_pages.route_handlers,
            *plans_api.route_handlers,
            create_static_files_router(
                path="/static", directories=[WEB_DIR / "static"], name="static", include_in_schema=False
            ),
        ],
        plugins=[SQLAlchemyPlugin(config=alchemy)],
        dependencies={
            "settings": Provide(http.provide_settings, sync_to_thread=False),
            "caller": Provide(http.provide_caller),
            "optional_caller": Provide(http.provide_optional_caller),
            "quiet_caller": Provide(http.provide_quiet_caller),
            "patient_session": Provide(http.provide_patient_session, sync_to_thread=False),
        },
        stores=_stores(alchemy, store_engine, redis_client),
        middleware=[
            SessionConfig(
                store=SESSION_STORE,
                key="conference_session",
                # Idle and absolute limits are enforced on each request (auth.sessions); this only
                # lets abandoned sessions expire from the store.
                max_age=settings.session_lifetime_hours * 3600,
                secure=settings.secure_cookies,
                httponly=True,
                samesite="lax",
                exclude=["/static", "/health"],
            ).middleware,
        ],
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_name="conference_csrf",
            cookie_secure=settings.secure_cookies,
            cookie_samesite="strict",
            header_name="x-csrf-token",
        ),
        template_config=TemplateConfig(directory=WEB_DIR / "templates", engine=JinjaTemplateEngine),
        openapi_config=OpenAPIConfig(title="Case Conference API", version="1", path="/schema"),
        exception_handlers={
            DomainError: http.domain_error_handler,
            SignInRequired: http.sign_in_required_handler,
            ValidationException: http.validation_error_handler,
            HTTPException: http.http_error_handler,
            Exception: http.unexpected_error_handler,
        },
        state=State({"settings": settings, "oidc": oidc, "engine": engine, "rooms": rooms}),
        before_send=[http.security_headers_hook(settings)],
        lifespan=[lifespan],
        request_max_body_size=1024 * 1024,
        debug=False,
    )


def asgi() -> Any:
    """Entry point for ASGI servers started from the command line (``conference serve``)."""
    return create_app()
