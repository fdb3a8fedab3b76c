"""Who a bearer credential belongs to: a Cognito JWT or a personal access token, judged by one function.

This is the whole of the HTTP API's Lambda authorizer (:mod:`crewhouse.platform.authorizer`): personal
tokens and, later, the agent credentials of the context bus go through it, so there is one mechanism for
machines and people. What it returns becomes ``requestContext.authorizer.lambda`` of the request, which
:func:`crewhouse.core.identity.principal_from_event` reads; the role is still read from the membership at
every request, so the authorizer's 60-second cache never outlives a removal or a role change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from crewhouse.platform.personal_tokens import (
    AGENT_TOKEN_PREFIX,
    PREFIX,
    looks_like_personal_token,
    token_digest,
    well_formed,
)

Context = dict[str, str | int]


class Refused(Exception):
    """The credential does not identify anyone (API Gateway answers 401)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class JwtCheck(Protocol):
    def verify(self, token: str) -> dict[str, Any]: ...


class TokenRecords(Protocol):
    def by_digest(self, digest: str) -> dict[str, Any] | None: ...
    def mark_used(self, principal_id: str, token_id: str, epoch: int) -> None: ...


def bearer_value(header: str | None) -> str:
    """The credential of an ``Authorization`` header, bare or after ``Bearer`` (as API Gateway accepts it)."""
    value = (header or "").strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    return value


def authenticate(bearer: str, *, jwts: JwtCheck, tokens: TokenRecords, hash_key: Callable[[], bytes],
                 now: int) -> Context:
    """The request context of the caller ``bearer`` identifies; :class:`Refused` when it identifies no one."""
    if not bearer:
        raise Refused("no credential")
    if looks_like_personal_token(bearer):
        return _personal_token(bearer, tokens, hash_key, now)
    if bearer.startswith(AGENT_TOKEN_PREFIX):
        return _agent_token(bearer, tokens, hash_key, now)
    from crewhouse.platform.jwt_verifier import AuthorizationError, token_scopes

    try:
        claims = jwts.verify(bearer)
    except AuthorizationError as error:
        raise Refused(error.description) from error
    if not claims.get("sub"):
        raise Refused("the token names no subject")
    context: Context = {"credential": "cognito", "sub": str(claims["sub"]), "iat": int(claims.get("iat") or 0)}
    optional: Mapping[str, Any] = {"tenant_id": claims.get("tenant_id"), "email": claims.get("email"),
                                   "scope": " ".join(token_scopes(claims) or ()), "token_use": claims.get("token_use")}
    context.update({name: str(value) for name, value in optional.items() if value})
    return context


def _stored_token(token: str, prefix: str, noun: str, tokens: TokenRecords, hash_key: Callable[[], bytes],
                  now: int) -> dict[str, Any]:
    """The record of a token kept by its keyed hash (a personal or an agent's access token), still valid."""
    if not well_formed(token, prefix):
        raise Refused(f"the {noun} is malformed (checksum)")  # no lookup for a typo
    record = tokens.by_digest(token_digest(hash_key(), token))
    if record is None:
        raise Refused(f"the {noun} is unknown or revoked")
    if int(record["expires_epoch"]) <= now:
        raise Refused(f"the {noun} has expired")
    return record


def _personal_token(token: str, tokens: TokenRecords, hash_key: Callable[[], bytes], now: int) -> Context:
    record = _stored_token(token, PREFIX, "personal access token", tokens, hash_key, now)
    tokens.mark_used(record["principal_id"], record["token_id"], now)
    return {"credential": "personal-token", "sub": record["principal_id"], "tenant_id": record["tenant_id"],
            "iat": int(record["created_epoch"]), "token_id": record["token_id"],
            "token_access": " ".join(record["access"])}


def _agent_token(token: str, tokens: TokenRecords, hash_key: Callable[[], bytes], now: int) -> Context:
    """An agent's access token (minted by the bus's token exchange). Whether the agent still exists and its
    credentials still stand is the bus's check, at every request."""
    record = _stored_token(token, AGENT_TOKEN_PREFIX, "agent access token", tokens, hash_key, now)
    return {"credential": "agent-token", "sub": record["principal_id"], "tenant_id": record["tenant_id"],
            "agent_id": record["agent_id"], "iat": int(record["created_epoch"]),
            "issued_ms": int(record.get("created_ms") or 0), "token_id": record["token_id"]}
