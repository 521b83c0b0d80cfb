"""The OIDC provider harness works end to end, without the application."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.support.oidc_provider import (
    OidcProvider,
    generate_private_jwks,
    query_params,
    running_oidc_provider,
    sign_in_at_provider,
)

# Nothing listens here: the provider only needs a registered URI to redirect to.
REDIRECT_URI = "http://127.0.0.1:9/auth/callback"
ACCOUNTS: dict[str, dict[str, object]] = {
    "alice": {"sub": "idp-alice-1", "email": "alice@clinic.test", "email_verified": True, "name": "Alice A"},
}


async def _sign_in_and_verify_id_token(
    provider: OidcProvider, login: str, auth_method: str = "client_secret_basic"
) -> jwt.Token:
    """Signs in as ``login`` and returns the verified, validated ID token."""
    # trust_env=False: an environment proxy must never carry loopback traffic.
    async with (
        httpx.AsyncClient(trust_env=False, timeout=10) as browser,
        AsyncOAuth2Client(
            client_id=provider.client_id,
            client_secret=provider.client_secret,
            token_endpoint_auth_method=auth_method,
            scope="openid email profile",
            redirect_uri=REDIRECT_URI,
            code_challenge_method="S256",
            trust_env=False,
            timeout=10,
        ) as rp,
    ):
        metadata = (await browser.get(f"{provider.issuer}/.well-known/openid-configuration")).json()
        code_verifier = generate_token(48)
        nonce = secrets.token_urlsafe(16)
        authorization_url, state = rp.create_authorization_url(
            metadata["authorization_endpoint"], code_verifier=code_verifier, nonce=nonce
        )

        callback_url = await sign_in_at_provider(browser, authorization_url, login)

        assert callback_url.startswith(REDIRECT_URI + "?")
        params = query_params(callback_url)
        assert params["state"] == state
        assert params["code"]
        token = await rp.fetch_token(
            metadata["token_endpoint"],
            authorization_response=callback_url,
            state=state,
            code_verifier=code_verifier,
        )
        jwks = (await browser.get(metadata["jwks_uri"])).json()

    decoded = jwt.decode(token["id_token"], KeySet.import_key_set(jwks), algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": provider.issuer},
        aud={"essential": True, "value": provider.client_id},
        nonce={"essential": True, "value": nonce},
        sub={"essential": True},
        exp={"essential": True},
    ).validate(decoded.claims)
    return decoded


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
async def test_sign_in_yields_verified_id_token_with_account_claims(auth_method: str) -> None:
    with running_oidc_provider(redirect_uris=[REDIRECT_URI], accounts=ACCOUNTS) as provider:
        claims = (await _sign_in_and_verify_id_token(provider, "alice", auth_method)).claims

    assert claims["sub"] == "idp-alice-1"
    assert claims["email"] == "alice@clinic.test"
    assert claims["email_verified"] is True
    assert claims["name"] == "Alice A"


async def test_unknown_login_is_denied() -> None:
    with running_oidc_provider(redirect_uris=[REDIRECT_URI], accounts=ACCOUNTS) as provider:
        authorization_url = httpx.URL(
            f"{provider.issuer}/auth",
            params={
                "client_id": provider.client_id,
                "response_type": "code",
                "scope": "openid email",
                "redirect_uri": REDIRECT_URI,
                "state": "s-1",
                "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                "code_challenge_method": "S256",
            },
        )
        async with httpx.AsyncClient(trust_env=False, timeout=10) as browser:
            callback_url = await sign_in_at_provider(browser, str(authorization_url), "mallory")

    params = query_params(callback_url)
    assert params["error"] == "access_denied"
    assert params["state"] == "s-1"
    assert "code" not in params


async def test_restart_with_new_jwks_signs_with_new_kid(tmp_path: Path) -> None:
    first_jwks, second_jwks = tmp_path / "first.json", tmp_path / "second.json"
    generate_private_jwks(first_jwks, "kid-first")
    generate_private_jwks(second_jwks, "kid-second")

    with running_oidc_provider(redirect_uris=[REDIRECT_URI], accounts=ACCOUNTS, jwks_path=first_jwks) as first:
        assert (await _sign_in_and_verify_id_token(first, "alice")).header["kid"] == "kid-first"

    # Same port and client secret, hence the same issuer and client: only the key changes.
    with running_oidc_provider(
        redirect_uris=[REDIRECT_URI],
        accounts=ACCOUNTS,
        client_secret=first.client_secret,
        jwks_path=second_jwks,
        port=first.port,
    ) as second:
        assert second.issuer == first.issuer
        assert (await _sign_in_and_verify_id_token(second, "alice")).header["kid"] == "kid-second"
