"""Cognito JWT verification as API Gateway's JWT authorizer performs it, for the HTTP API's Lambda authorizer.

Signature against the issuer's JWKS (RS256), ``exp``/``nbf``/``iat``, ``iss``, and API Gateway's audience
rule (``aud``, or ``client_id`` when the token has no ``aud``), with PyJWT. The same class serves the embedded
cloud's emulation of a JWT authorizer (:mod:`crewhouse.local.authorizer`), so both judge a token alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jwt

ALGORITHMS = ("RS256",)
TOKEN_USES = ("id", "access")


class AuthorizationError(Exception):
    """The token was refused; ``description`` is what goes into ``www-authenticate``."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class JwtVerifier:
    """Verifies tokens for one issuer and set of audiences (what an ``AWS::ApiGatewayV2::Authorizer`` of type
    JWT checks). The JWKS is fetched lazily and cached, so building a verifier costs nothing and a
    verification normally needs no network round trip."""

    def __init__(self, issuer: str, audiences: Sequence[str], jwks_url: str, *, leeway: float = 0) -> None:
        if not audiences:
            raise ValueError("A JWT authorizer needs at least one audience")
        self.issuer = issuer
        self.audiences = tuple(audiences)
        self.jwks_url = jwks_url
        self.leeway = leeway
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300, timeout=5)

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims if API Gateway would accept it; :class:`AuthorizationError` otherwise."""
        if not token:
            raise AuthorizationError("the token is missing")
        try:
            key = self._jwks.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=list(ALGORITHMS),
                issuer=self.issuer,
                leeway=self.leeway,
                # API Gateway's audience rule is not PyJWT's (client_id stands in for a missing aud).
                options={"require": ["exp", "iss"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthorizationError("the token has expired") from exc
        except jwt.InvalidIssuerError as exc:
            raise AuthorizationError("the token does not have a valid issuer") from exc
        except jwt.PyJWKClientConnectionError as exc:
            raise AuthorizationError(f"the signing keys could not be fetched: {exc}") from exc
        except jwt.PyJWTError as exc:
            raise AuthorizationError(str(exc) or type(exc).__name__) from exc
        if not self._audience_ok(claims):
            raise AuthorizationError("the token does not have a valid audience")
        if claims.get("token_use") not in TOKEN_USES:
            raise AuthorizationError("the token does not have a valid token_use")
        return claims

    def _audience_ok(self, claims: Mapping[str, Any]) -> bool:
        """``aud`` decides when present (string or list); only a token without ``aud`` is judged by ``client_id``."""
        if "aud" in claims:
            aud = claims["aud"]
            values: Iterable[Any] = aud if isinstance(aud, list) else [aud]
            return any(value in self.audiences for value in values)
        return claims.get("client_id") in self.audiences


def token_scopes(claims: Mapping[str, Any]) -> list[str] | None:
    """The token's OAuth scopes (``scope``, else ``scp``; space-separated or a list), or None without any."""
    raw = claims.get("scope", claims.get("scp"))
    if raw is None:
        return None
    scopes = [str(s) for s in raw] if isinstance(raw, list) else str(raw).split()
    return scopes or None
