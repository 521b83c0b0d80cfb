"""Clinician sign-in through a real OpenID Connect provider process, over HTTP."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from conference.app import create_app
from conference.people.models import Person
from tests.conftest import BASE_URL
from tests.support.oidc_provider import OidcProvider, generate_private_jwks, running_oidc_provider

CALLBACK = f"{BASE_URL}/auth/oidc/callback"
ACCOUNTS = {
    "theo": {"sub": "sub-theo", "email": "theo@clinic.test", "email_verified": True, "name": "Theo"},
    "unverified": {"sub": "sub-unverified", "email": "priya@clinic.test", "email_verified": False, "name": "P"},
    "stranger": {"sub": "sub-stranger", "email": "stranger@elsewhere.test", "email_verified": True, "name": "S"},
}


@pytest.fixture(scope="module")
def provider_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("oidc-keys")
    first, second = directory / "first.json", directory / "second.json"
    generate_private_jwks(first, "key-one")
    generate_private_jwks(second, "key-two")
    return first, second


@pytest.fixture
def provider(provider_keys: tuple[Path, Path]) -> Iterator[OidcProvider]:
    with running_oidc_provider(redirect_uris=[CALLBACK], accounts=ACCOUNTS, jwks_path=provider_keys[0]) as running:
        yield running


def _oidc_app(settings, provider: OidcProvider):  # type: ignore[no-untyped-def]
    return create_app(
        dataclasses.replace(
            settings,
            oidc_issuer=provider.issuer,
            oidc_client_id=provider.client_id,
            oidc_client_secret=provider.client_secret,
            oidc_display_name="Clinic SSO",
        )
    )


@pytest.fixture
async def sso_client(settings, provider) -> AsyncIterator[AsyncTestClient]:  # type: ignore[no-untyped-def]
    async with AsyncTestClient(_oidc_app(settings, provider), base_url=BASE_URL) as client:
        yield client


async def _sign_in_via_provider(client: AsyncTestClient, login: str, *, next_path: str = "/") -> httpx.Response:  # type: ignore[type-arg]
    from tests.support.oidc_provider import sign_in_at_provider

    start = await client.get("/auth/oidc/start", params={"next": next_path}, follow_redirects=False)
    assert start.status_code in (302, 303, 307), start.text
    async with httpx.AsyncClient() as browser:
        callback_url = await sign_in_at_provider(browser, start.headers["location"], login)
    parts = urlsplit(callback_url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == CALLBACK
    return await client.get(f"{parts.path}?{parts.query}", follow_redirects=False)


async def test_sign_in_page_offers_single_sign_on(sso_client) -> None:
    page = await sso_client.get("/sign-in")
    assert "Sign in with Clinic SSO" in page.text


async def test_verified_email_signs_in_and_links_the_subject(sso_client, clinic, session) -> None:
    response = await _sign_in_via_provider(sso_client, "theo", next_path=f"/patients/{clinic.patient.id}")
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/patients/{clinic.patient.id}"
    assert "Pat Patient" in (await sso_client.get(response.headers["location"])).text
    person = await session.scalar(select(Person).where(Person.email == "theo@clinic.test"))
    assert person is not None and person.oidc_subject == "sub-theo"
    await session.rollback()


async def test_unverified_email_is_not_enough(sso_client, clinic) -> None:
    response = await _sign_in_via_provider(sso_client, "unverified")
    assert response.status_code == 403
    assert "no active account here matches" in response.text


async def test_unknown_person_gets_a_clear_page_not_an_error(sso_client, clinic) -> None:
    response = await _sign_in_via_provider(sso_client, "stranger")
    assert response.status_code == 403
    assert "Ask your clinic administrator" in response.text


async def test_callback_with_a_forged_state_is_refused(sso_client, clinic) -> None:
    await sso_client.get("/auth/oidc/start", follow_redirects=False)
    response = await sso_client.get("/auth/oidc/callback", params={"code": "anything", "state": "forged"})
    assert response.status_code == 400
    assert "Start again from the sign-in page" in response.text


async def test_callback_without_a_started_sign_in_is_refused(sso_client, clinic) -> None:
    response = await sso_client.get("/auth/oidc/callback", params={"code": "x", "state": "y"})
    assert response.status_code == 400


async def test_provider_error_is_shown_plainly(sso_client, clinic) -> None:
    await sso_client.get("/auth/oidc/start", follow_redirects=False)
    response = await sso_client.get("/auth/oidc/callback", params={"error": "access_denied", "state": "x"})
    assert response.status_code == 400
    assert "did not sign you in" in response.text


async def test_rotated_provider_key_is_fetched_on_an_unknown_key_id(settings, clinic, provider_keys) -> None:
    first, second = provider_keys
    with running_oidc_provider(redirect_uris=[CALLBACK], accounts=ACCOUNTS, jwks_path=first) as provider:
        app = _oidc_app(settings, provider)
        async with AsyncTestClient(app, base_url=BASE_URL) as client:
            assert (await _sign_in_via_provider(client, "theo")).status_code == 303
        port, secret = provider.port, provider.client_secret
    # Same issuer and client, new signing key: the app must refetch the JWKS, not refuse the token.
    with running_oidc_provider(
        redirect_uris=[CALLBACK], accounts=ACCOUNTS, jwks_path=second, port=port, client_secret=secret
    ):
        async with AsyncTestClient(app, base_url=BASE_URL) as client:
            response = await _sign_in_via_provider(client, "theo")
            assert response.status_code == 303, response.text
            assert "Pat Patient" in (await client.get("/")).text


async def test_a_bogus_code_with_the_right_state_is_refused_plainly(sso_client, clinic) -> None:
    from tests.support.oidc_provider import query_params

    start = await sso_client.get("/auth/oidc/start", follow_redirects=False)
    state = query_params(start.headers["location"])["state"]
    response = await sso_client.get("/auth/oidc/callback", params={"code": "made-up", "state": state})
    assert response.status_code == 400
    assert "did not accept this sign-in" in response.text
