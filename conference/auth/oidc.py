"""OpenID Connect sign-in for clinicians: authorization code with PKCE, state and nonce.

Authlib builds the authorization URL and exchanges the code; joserfc validates the ID token
(signature against the provider's JWKS, issuer, audience, nonce, expiry). The JWKS is fetched
again when a token names a key id we have not seen, so the provider can rotate keys.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx2
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

CLOCK_SKEW_SECONDS = 60


class OidcError(Exception):
    """Sign-in through the identity provider failed; the message is safe to show."""


@dataclass(frozen=True)
class AuthorizationRequest:
    url: str
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class VerifiedIdentity:
    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None


@dataclass
class OidcClient:
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    timeout: float = 10.0
    _metadata: dict[str, Any] | None = field(default=None, repr=False)
    _jwks: KeySet | None = field(default=None, repr=False)

    def _http(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(timeout=self.timeout, follow_redirects=False)

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            try:
                async with self._http() as http:
                    response = await http.get(url)
                    response.raise_for_status()
                    document = response.json()
            except (httpx2.HTTPError, ValueError) as error:
                raise OidcError("The sign-in provider could not be reached. Try again in a moment.") from error
            if document.get("issuer") != self.issuer:
                raise OidcError("The sign-in provider's configuration does not match this service's settings.")
            self._metadata = document
        return self._metadata

    def _oauth(self, **kwargs: Any) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self.client_secret,
            redirect_uri=self.redirect_uri,
            scope="openid email profile",
            code_challenge_method="S256",
            timeout=self.timeout,
            **kwargs,
        )

    async def authorization_request(self) -> AuthorizationRequest:
        metadata = await self.metadata()
        state, nonce, verifier = generate_token(32), generate_token(32), secrets.token_urlsafe(64)
        async with self._oauth() as oauth:
            url, _ = oauth.create_authorization_url(
                metadata["authorization_endpoint"], state=state, nonce=nonce, code_verifier=verifier
            )
        return AuthorizationRequest(url=url, state=state, nonce=nonce, code_verifier=verifier)

    async def complete(self, *, code: str, code_verifier: str, nonce: str) -> VerifiedIdentity:
        metadata = await self.metadata()
        try:
            async with self._oauth() as oauth:
                token = await oauth.fetch_token(
                    metadata["token_endpoint"],
                    code=code,
                    code_verifier=code_verifier,
                    grant_type="authorization_code",
                )
        except Exception as error:  # Authlib raises several unrelated types for a refused exchange.
            raise OidcError("The sign-in provider did not accept this sign-in. Start again.") from error
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise OidcError("The sign-in provider sent no identity token.")
        claims = await self.validate_id_token(id_token, nonce=nonce)
        return VerifiedIdentity(
            issuer=self.issuer,
            subject=str(claims["sub"]),
            email=str(claims["email"]).lower() if claims.get("email") else None,
            email_verified=claims.get("email_verified") is True,
            name=str(claims["name"]) if claims.get("name") else None,
        )

    async def validate_id_token(self, id_token: str, *, nonce: str, now: float | None = None) -> dict[str, Any]:
        try:
            header = extract_compact(id_token.encode()).headers()
        except (JoseError, ValueError) as error:
            raise OidcError("The identity token is malformed.") from error
        keys = await self._keys(refresh=False)
        kid = header.get("kid")
        if kid is not None and not any(key.kid == kid for key in keys.keys):
            keys = await self._keys(refresh=True)
        try:
            decoded = jwt.decode(id_token, keys, algorithms=["RS256", "ES256", "PS256", "EdDSA"])
        except (JoseError, ValueError) as error:
            raise OidcError("The identity token's signature is not valid.") from error
        registry = jwt.JWTClaimsRegistry(
            now=int(now if now is not None else time.time()),
            leeway=CLOCK_SKEW_SECONDS,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.client_id},
            sub={"essential": True},
            exp={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(decoded.claims)
        except JoseError as error:
            raise OidcError(f"The identity token was refused ({error.error}).") from error
        return dict(decoded.claims)

    async def _keys(self, *, refresh: bool) -> KeySet:
        if self._jwks is None or refresh:
            metadata = await self.metadata()
            try:
                async with self._http() as http:
                    response = await http.get(metadata["jwks_uri"])
                    response.raise_for_status()
                    self._jwks = KeySet.import_key_set(response.json())
            except (httpx2.HTTPError, ValueError, JoseError) as error:
                raise OidcError("The sign-in provider's keys could not be loaded.") from error
        return self._jwks
