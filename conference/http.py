"""HTTP concerns shared by every capability: security headers, dependencies, error answers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from litestar import MediaType, Request, Response
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from litestar.types import Message, Scope
from sqlalchemy.ext.asyncio import AsyncSession

from conference.auth.sessions import PatientSession, SignInRequired, current_caller, current_patient
from conference.errors import DomainError
from conference.forms import explain
from conference.people.service import Caller
from conference.settings import Settings

log = logging.getLogger("conference.http")


def security_headers(settings: Settings) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
            "media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        ),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Permissions-Policy": (
            "camera=(self), microphone=(self), display-capture=(self), geolocation=(), payment=(), usb=()"
        ),
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    if settings.secure_cookies:
        headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    return headers


def security_headers_hook(settings: Settings) -> Callable[[Message, Scope], Awaitable[None]]:
    """A ``before_send`` hook, so every answer gets the headers: router 404s and errors included."""
    encoded = [(name.lower().encode(), value.encode()) for name, value in security_headers(settings).items()]

    async def add_headers(message: Message, scope: Scope) -> None:
        if scope["type"] != ScopeType.HTTP or message["type"] != "http.response.start":
            return
        headers = list(message.get("headers", []))
        present = {name.lower() for name, _ in headers}
        headers.extend(pair for pair in encoded if pair[0] not in present)
        if not scope["path"].startswith("/static/") and b"cache-control" not in present:
            # Pages and API answers may hold health information: never cache them.
            headers.append((b"cache-control", b"no-store"))
        message["headers"] = headers

    return add_headers


# ---- dependencies -------------------------------------------------------------------------------

DbSession = NamedDependency[AsyncSession]
SettingsDep = NamedDependency[Settings]
CallerDep = NamedDependency[Caller]
# For requests a page makes by itself (polling): they must not count as activity, or a page left
# open would never be signed out for inactivity.
QuietCallerDep = NamedDependency[Caller]
OptionalCallerDep = NamedDependency[Caller | None]
PatientSessionDep = NamedDependency[PatientSession]


def provide_settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


async def provide_caller(request: Request[Any, Any, Any], settings: SettingsDep, db_session: DbSession) -> Caller:
    return await current_caller(request, settings, db_session)


async def provide_quiet_caller(request: Request[Any, Any, Any], settings: SettingsDep, db_session: DbSession) -> Caller:
    return await current_caller(request, settings, db_session, touch=False)


async def provide_optional_caller(
    request: Request[Any, Any, Any], settings: SettingsDep, db_session: DbSession
) -> Caller | None:
    try:
        return await current_caller(request, settings, db_session)
    except SignInRequired:
        return None


def provide_patient_session(request: Request[Any, Any, Any], settings: SettingsDep) -> PatientSession:
    return current_patient(request, settings)


async def recover(db_session: AsyncSession, caller: Caller) -> None:
    """Undo a refused change so its form can be shown again; the caller is reloaded for the page."""
    await db_session.rollback()
    await db_session.refresh(caller.person)


# ---- errors -------------------------------------------------------------------------------------


def wants_json(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/health"


def error_response(request: Request[Any, Any, Any], status: int, message: str, **extra: Any) -> Response[Any]:
    if wants_json(request):
        return Response(
            {"status_code": status, "detail": message, **extra}, status_code=status, media_type=MediaType.JSON
        )
    return Template(
        template_name="errors/error.html.j2",
        context={"status_code": status, "message": message, **extra},
        status_code=status,
    )


def domain_error_handler(request: Request[Any, Any, Any], error: DomainError) -> Response[Any]:
    response = error_response(request, error.status_code, error.message, **error.extra)
    if error.status_code == 429 and "retry_after_seconds" in error.extra:
        response.headers["Retry-After"] = str(error.extra["retry_after_seconds"])
    return response


def sign_in_required_handler(request: Request[Any, Any, Any], error: SignInRequired) -> Response[Any]:
    if wants_json(request):
        return error_response(request, 401, error.message)
    if request.url.path == "/patient" or request.url.path.startswith("/patient/"):
        return error_response(request, 401, error.message + " Open the most recent link your care team sent you.")
    return Redirect(
        "/sign-in?" + urlencode({"next": request.url.path, "why": error.message}),
        status_code=HTTP_303_SEE_OTHER,
    )


def validation_error_handler(request: Request[Any, Any, Any], error: ValidationException) -> Response[Any]:
    problems = error.extra if isinstance(error.extra, list) else []
    explained = [
        explain(str(problem.get("key") or "body"), str(problem.get("message", "is not valid")))
        for problem in problems
        if isinstance(problem, dict)
    ]
    fields = [{"field": field, "message": message} for field, message in explained]
    summary = " ".join(item["message"] for item in fields) or error.detail
    return error_response(request, 400, f"The request is not valid. {summary}", errors=fields)


def http_error_handler(request: Request[Any, Any, Any], error: HTTPException) -> Response[Any]:
    if isinstance(error, NotFoundException):
        return error_response(request, 404, "There is nothing at this address.")
    if error.status_code >= 500:
        log.exception("request failed", exc_info=error)
        return error_response(request, error.status_code, "Something went wrong on our side. Try again.")
    return error_response(request, error.status_code, str(error.detail))


def unexpected_error_handler(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    # Logged without the request body: it may carry health information.
    log.error("unhandled %s on %s %s", type(error).__name__, request.method, request.url.path, exc_info=error)
    return error_response(request, 500, "Something went wrong on our side. Nothing was saved; try again.")
