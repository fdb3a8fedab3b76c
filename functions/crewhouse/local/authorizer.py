"""Local stand-in for the API Gateway HTTP API JWT authorizer.

In AWS, API Gateway verifies the bearer token before the Lambda runs and hands the function only the
verified claims (``requestContext.authorizer.jwt``); handlers never parse tokens. The local gateway has
to do the same work, so this module emulates that authorizer: signature against the issuer's JWKS
(RS256), ``exp``/``nbf``/``iat``, ``iss``, and API Gateway's audience rule (``aud``, or ``client_id``
when the token has no ``aud``). It also renders claims the way API Gateway puts them into a payload 2.0
event, so handlers see the same strings locally as in AWS.
"""

from __future__ import annotations

import json
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


class JwtAuthorizer:
    """Verifies tokens for one issuer and set of audiences (an ``AWS::ApiGatewayV2::Authorizer`` of type JWT).

    Emulation only: in AWS, API Gateway performs this check. The JWKS is fetched lazily and cached, so
    building an authorizer costs nothing and a verification normally needs no network round trip.
    """

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


def render_claim(value: Any) -> str:
    """One claim value as API Gateway writes it into a payload 2.0 event.

    Observed AWS output: arrays become ``[a b]`` (space-separated, no quotes), numbers and booleans become
    their text (``1700000000``, ``true``), strings stay as they are; nested objects fall back to JSON text.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(render_claim(item) for item in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def event_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """All claims rendered for ``requestContext.authorizer.jwt.claims``; null-valued claims are left out, as in AWS."""
    return {name: render_claim(value) for name, value in claims.items() if value is not None}
