"""Sign-in, sign-out, OpenID Connect and patient join-link pages."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from conference.auth import join_links, rate_limit
from conference.auth import service as auth
from conference.auth.oidc import OidcClient, OidcError
from conference.auth.sessions import (
    client_address,
    end_session,
    start_patient_session,
    start_person_session,
)
from conference.errors import DomainError
from conference.http import DbSession, OptionalCallerDep, SettingsDep
from conference.rtc.service import room_path

SIGN_IN_LIMITS_STORE = "sign_in_limits"
_OIDC_KEY = "oidc_pending"


def safe_next(target: str | None) -> str:
    """Only a path on this site: an open redirect after sign-in would be a phishing aid."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


def _limits(settings: SettingsDep) -> rate_limit.SignInLimits:
    return rate_limit.SignInLimits(
        per_account=settings.sign_in_attempts_per_account,
        per_address=settings.sign_in_attempts_per_address,
        window_seconds=settings.sign_in_window_minutes * 60,
    )


def _sign_in_page(
    settings: SettingsDep,
    *,
    next_path: str = "/",
    message: str | None = None,
    error: str | None = None,
    email: str = "",
    status_code: int = 200,
) -> Template:
    return Template(
        template_name="auth/sign_in.html.j2",
        context={
            "next": safe_next(next_path),
            "message": message,
            "error": error,
            "email": email,
            "oidc_enabled": settings.oidc_enabled,
            "oidc_name": settings.oidc_display_name,
        },
        status_code=status_code,
    )


@get("/sign-in", name="sign_in", sync_to_thread=False)
def sign_in_form(settings: SettingsDep, next: FromQuery[str] = "/", why: FromQuery[str | None] = None) -> Template:
    return _sign_in_page(settings, next_path=next, message=why)


@post("/sign-in", status_code=HTTP_303_SEE_OTHER)
async def sign_in(
    request: Request[Any, Any, Any],
    settings: SettingsDep,
    db_session: DbSession,
    data: URLEncodedBody[dict[str, str]],
) -> Redirect | Template:
    email, password = data.get("email", "").strip(), data.get("password", "")
    next_path = data.get("next", "/")
    if not email or not password:
        field = "email" if not email else "password"
        return _sign_in_page(settings, next_path=next_path, email=email, status_code=400, error=f"Enter your {field}.")
    try:
        person = await auth.sign_in_with_password(
            db_session,
            request.app.stores.get(SIGN_IN_LIMITS_STORE),
            _limits(settings),
            email=email,
            password=password,
            client_address=client_address(request),
        )
    except DomainError as error:
        page = _sign_in_page(
            settings,
            next_path=next_path,
            email=email,
            error=error.message,
            status_code=401 if error.status_code == 403 else error.status_code,
        )
        if "retry_after_seconds" in error.extra:
            page.headers["Retry-After"] = str(error.extra["retry_after_seconds"])
        return page
    await start_person_session(request, person, "password")
    return Redirect(safe_next(next_path), status_code=HTTP_303_SEE_OTHER)


@post("/sign-out", status_code=HTTP_303_SEE_OTHER)
async def sign_out(
    request: Request[Any, Any, Any], db_session: DbSession, optional_caller: OptionalCallerDep
) -> Redirect:
    if optional_caller is not None:
        await auth.signed_out(db_session, optional_caller.actor)
    await end_session(request)
    # Unsent copies of minutes kept in the browser's storage hold health information: on a shared
    # computer they must not outlive the person's session.
    return Redirect(
        "/sign-in?why=You+have+signed+out.", status_code=HTTP_303_SEE_OTHER, headers={"Clear-Site-Data": '"storage"'}
    )


def _oidc(state: State) -> OidcClient:
    client: OidcClient | None = state.get("oidc")
    if client is None:
        raise DomainError("Single sign-on is not set up for this clinic. Sign in with your email and password.")
    return client


@get("/auth/oidc/start", name="oidc_start")
async def oidc_start(request: Request[Any, Any, Any], state: State, next: FromQuery[str] = "/") -> Redirect:
    try:
        authorization = await _oidc(state).authorization_request()
    except OidcError as error:
        raise DomainError(str(error)) from error
    session = dict(request.session) if request.scope.get("session") else {}
    session[_OIDC_KEY] = {
        "state": authorization.state,
        "nonce": authorization.nonce,
        "verifier": authorization.code_verifier,
        "next": safe_next(next),
    }
    request.set_session(session)
    return Redirect(authorization.url)


@get("/auth/oidc/callback")
async def oidc_callback(
    request: Request[Any, Any, Any],
    state: State,
    db_session: DbSession,
    code: FromQuery[str | None] = None,
    error: FromQuery[str | None] = None,
) -> Redirect:
    pending = (request.session if request.scope.get("session") else {}).get(_OIDC_KEY)
    returned_state = request.query_params.get("state")
    if error:
        raise DomainError("The sign-in provider did not sign you in. Start again from the sign-in page.")
    if not pending or not returned_state or returned_state != pending.get("state") or not code:
        raise DomainError(
            "This sign-in attempt has expired or was started in another window. Start again from the sign-in page."
        )
    request.set_session({key: value for key, value in request.session.items() if key != _OIDC_KEY})
    try:
        identity = await _oidc(state).complete(code=code, code_verifier=pending["verifier"], nonce=pending["nonce"])
    except OidcError as failure:
        raise DomainError(f"{failure} Start again from the sign-in page.") from failure
    person = await auth.sign_in_with_oidc(db_session, identity, client_address(request))
    await start_person_session(request, person, "oidc")
    return Redirect(pending.get("next", "/"), status_code=HTTP_303_SEE_OTHER)


@get("/join/{token:str}")
async def open_join_link(
    request: Request[Any, Any, Any], settings: SettingsDep, db_session: DbSession, token: FromPath[str]
) -> Redirect | Template:
    try:
        patient, claims = await auth.open_join_link(db_session, settings.secret_key, token, client_address(request))
    except join_links.JoinLinkInvalid as invalid:
        return Template(
            template_name="auth/join_invalid.html.j2",
            context={"reason": invalid.reason, "expired": invalid.expired},
            status_code=403,
        )
    await start_patient_session(request, patient, claims)
    return Redirect(_landing(claims), status_code=HTTP_303_SEE_OTHER)


def _landing(claims: join_links.JoinClaims) -> str:
    """A meeting link opens that meeting's room; a consent link, the patient's own page."""
    if claims.purpose is join_links.JoinPurpose.JOINT_SESSION and claims.subject_id:
        meeting, _, start = claims.subject_id.partition(":")
        try:
            return room_path(uuid.UUID(meeting), dt.datetime.fromisoformat(start))
        except ValueError:
            pass
    return "/patient"


route_handlers = [sign_in_form, sign_in, sign_out, oidc_start, oidc_callback, open_join_link]
