"""The OAuth 2.0 token endpoint of a user pool's domain, for the client-credentials grant.

Covers: moto's Cognito serves no domain endpoints, so a machine client (``client_credentials``) cannot get
a token locally at all. This serves ``POST /oauth2/token`` (on the local gateway, where AWS has
``https://<domain>.auth.<region>.amazoncognito.com/oauth2/token``) with Cognito's rules: the client's id and
secret (HTTP Basic or form fields), ``client_credentials`` among its allowed OAuth flows, requested scopes
within its allowed scopes (all of them when none are asked for). The access token is signed with the pool's
key, so the local JWT authorizer accepts it, and a version-3 pre-token-generation trigger runs
(``TokenGeneration_ClientCredentials``) with its claims applied, as in AWS. Errors are Cognito's
``{"error": "invalid_client" | "unauthorized_client" | "invalid_scope" | "unsupported_grant_type"}``.
"""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from crewhouse.local.cognito_triggers import invoke_trigger, overridden, trigger_arn, trigger_event

EXPIRES_IN = 3600


class OAuthError(Exception):
    def __init__(self, error: str, status: int = 400) -> None:
        super().__init__(error)
        self.error = error
        self.status = status


def _find_client(client_id: str) -> tuple[Any, Any]:
    from moto.cognitoidp.models import cognitoidp_backends

    for regions in cognitoidp_backends.values():
        for backend in regions.values():
            for pool in backend.user_pools.values():
                if client_id in pool.clients:
                    return pool, pool.clients[client_id]
    raise OAuthError("invalid_client", 401)


def client_credentials_token(client_id: str, client_secret: str, scope: str | None) -> dict[str, Any]:
    """An access token for a machine client, or :class:`OAuthError`."""
    pool, client = _find_client(client_id)
    if not client.generate_secret or client.secret != client_secret:
        raise OAuthError("invalid_client", 401)
    config = client.extended_config
    if "client_credentials" not in (config.get("AllowedOAuthFlows") or []):
        raise OAuthError("unauthorized_client")
    allowed = list(config.get("AllowedOAuthScopes") or [])
    scopes = scope.split() if scope else allowed
    if not scopes or set(scopes) - set(allowed):
        raise OAuthError("invalid_scope")
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": client_id, "token_use": "access", "scope": " ".join(scopes), "auth_time": now,
        "iss": f"https://cognito-idp.{pool.region}.amazonaws.com/{pool.id}", "exp": now + EXPIRES_IN, "iat": now,
        "version": 2, "jti": str(uuid.uuid4()), "client_id": client_id,
    }
    if trigger_arn(pool, "PreTokenGeneration") is not None:
        event = trigger_event(pool, None, client_id, "TokenGeneration_ClientCredentials",
                              request={"scopes": scopes})
        event["version"] = "3"
        details = (invoke_trigger(pool, "PreTokenGeneration", event).get("response") or {}).get(
            "claimsAndScopeOverrideDetails") or {}
        claims = overridden(claims, details.get("accessTokenGeneration") or {})
    from joserfc import jwt

    token = jwt.encode({"kid": "dummy", "alg": "RS256"}, claims, pool.json_web_key)
    return {"access_token": token, "expires_in": EXPIRES_IN, "token_type": "Bearer"}


async def _token(request: Request) -> JSONResponse:
    form = await request.form()
    client_id, client_secret = str(form.get("client_id") or ""), str(form.get("client_secret") or "")
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("basic "):
        decoded = base64.b64decode(authorization[6:]).decode("utf-8", "replace")
        client_id, _, client_secret = decoded.partition(":")
    try:
        if form.get("grant_type") != "client_credentials":
            raise OAuthError("unsupported_grant_type")
        scope = form.get("scope")
        return JSONResponse(client_credentials_token(client_id, client_secret, str(scope) if scope else None))
    except OAuthError as error:
        return JSONResponse({"error": error.error}, status_code=error.status)


def token_route() -> Route:
    return Route("/oauth2/token", _token, methods=["POST"])
