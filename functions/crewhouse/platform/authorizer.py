"""The HTTP API's Lambda REQUEST authorizer (payload 2.0, simple responses), in front of every route.

API Gateway caches each answer for 60 seconds by the ``Authorization`` header, so a caller costs one
invocation a minute, and a revoked personal token stops working within that minute. A refused credential
raises ``Unauthorized``, the one error API Gateway turns into a 401 (anything else would be a 500).
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from crewhouse.core.observability import logger, metrics
from crewhouse.core.settings import load_settings
from crewhouse.platform.credentials import JwtCheck, Refused, TokenRecords, authenticate, bearer_value
from crewhouse.platform.personal_tokens import token_hash_key
from crewhouse.platform.settings import PlatformSettings


class AuthorizerSettings(PlatformSettings):
    # The app clients whose tokens the API accepts (comma-separated), as a JWT authorizer's audiences.
    api_audiences: str = ""


@cache
def _jwt_verifier(region: str, user_pool_id: str, audiences: str, endpoint: str | None) -> JwtCheck:
    from crewhouse.platform.jwt_verifier import JwtVerifier

    issuer = f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"
    # Locally the embedded cloud serves the pool's keys at its own endpoint, as moto does.
    keys = f"{endpoint}/{user_pool_id}/.well-known/jwks.json" if endpoint else f"{issuer}/.well-known/jwks.json"
    return JwtVerifier(issuer, [a for a in audiences.split(",") if a], keys)


def _token_records(settings: AuthorizerSettings) -> TokenRecords:
    from crewhouse.core.aws import aws_client
    from crewhouse.core.table import Table
    from crewhouse.platform.token_store import DynamoPersonalTokens

    return DynamoPersonalTokens(Table(aws_client("dynamodb", settings), settings.platform_table))


# Refusals are Lambda errors (the only way to a 401): the errors alarm subtracts this count (monitoring.py).
REFUSED_METRIC = "CredentialsRefused"


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any, *, jwts: JwtCheck | None = None,
            tokens: TokenRecords | None = None) -> dict[str, Any]:
    settings = load_settings(AuthorizerSettings)
    headers = event.get("headers") or {}
    try:
        caller = authenticate(
            bearer_value(headers.get("authorization")),
            jwts=jwts or _jwt_verifier(settings.aws_region, settings.user_pool_id or "", settings.api_audiences,
                                       settings.aws_endpoint_url),
            tokens=tokens or _token_records(settings),
            hash_key=lambda: token_hash_key(settings),
            now=int(time.time()),
        )
    except Refused as refused:
        logger.info("credential refused", extra={"reason": refused.reason, "route": event.get("routeKey")})
        from aws_lambda_powertools.metrics import MetricUnit

        metrics.add_metric(name=REFUSED_METRIC, unit=MetricUnit.Count, value=1)
        raise Exception("Unauthorized") from refused
    logger.info("caller authorized", extra={"credential": caller["credential"], "route": event.get("routeKey")})
    return {"isAuthorized": True, "context": caller}
