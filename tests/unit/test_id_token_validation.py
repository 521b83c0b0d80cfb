"""ID-token checks, with tokens signed here so each failure can be made on purpose."""

from __future__ import annotations

import time

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from conference.auth.oidc import OidcClient, OidcError

ISSUER = "https://id.clinic.example"
CLIENT = "conference"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})


def _client() -> OidcClient:
    client = OidcClient(issuer=ISSUER, client_id=CLIENT, client_secret="s", redirect_uri="https://c/cb")
    client._metadata = {"issuer": ISSUER, "jwks_uri": "https://id.clinic.example/jwks"}
    client._jwks = KeySet([KEY])
    return client


def _token(**overrides: object) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": CLIENT,
        "sub": "abc",
        "nonce": "n1",
        "iat": now,
        "exp": now + 300,
        "email": "theo@clinic.test",
        "email_verified": True,
    }
    claims.update(overrides)
    return jwt.encode({"alg": "RS256", "kid": "k1"}, {k: v for k, v in claims.items() if v is not None}, KEY)


async def test_a_valid_token_gives_its_claims() -> None:
    claims = await _client().validate_id_token(_token(), nonce="n1")
    assert claims["sub"] == "abc" and claims["email"] == "theo@clinic.test"


@pytest.mark.parametrize(
    ("overrides", "nonce"),
    [
        ({"iss": "https://evil.example"}, "n1"),
        ({"aud": "someone-else"}, "n1"),
        ({}, "different-nonce"),
        ({"nonce": None}, "n1"),
        ({"exp": int(time.time()) - 3600}, "n1"),
        ({"sub": None}, "n1"),
    ],
)
async def test_wrong_claims_are_refused(overrides: dict[str, object], nonce: str) -> None:
    with pytest.raises(OidcError, match="refused"):
        await _client().validate_id_token(_token(**overrides), nonce=nonce)


async def test_a_token_signed_by_another_key_is_refused() -> None:
    other = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    now = int(time.time())
    token = jwt.encode(
        {"alg": "RS256", "kid": "k1"}, {"iss": ISSUER, "aud": CLIENT, "sub": "a", "nonce": "n1", "exp": now + 60}, other
    )
    with pytest.raises(OidcError, match="signature"):
        await _client().validate_id_token(token, nonce="n1")


async def test_an_unsigned_token_is_refused() -> None:
    import base64
    import json

    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    token = part({"alg": "none"}) + "." + part({"iss": ISSUER, "aud": CLIENT, "sub": "a", "nonce": "n1"}) + "."
    with pytest.raises(OidcError):
        await _client().validate_id_token(token, nonce="n1")


async def test_garbage_is_called_malformed() -> None:
    with pytest.raises(OidcError, match="malformed"):
        await _client().validate_id_token("garbage", nonce="n1")
