"""Who is calling: read from the claims API Gateway's JWT authorizer verified.

Handlers never parse tokens. In AWS, API Gateway puts the verified claims into
``requestContext.authorizer.jwt.claims``; locally the embedded gateway does the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crewhouse.core.errors import Forbidden, Unauthorized

ROLES = ("admin", "member", "observer")
TENANT_CLAIM = "custom:tenant_id"


@dataclass(frozen=True)
class Identity:
    tenant_id: str
    user_id: str
    roles: frozenset[str]
    scopes: frozenset[str]
    email: str | None = None

    def has_role(self, role: str) -> bool:
        return role in self.roles


def _as_list(value: Any) -> list[str]:
    """API Gateway flattens array claims to strings such as ``[admin member]``; accept both forms."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    text = str(value).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return [part for part in text.replace(",", " ").split() if part]


def identity_from_event(event: Mapping[str, Any]) -> Identity:
    """``(tenant_id, user_id, roles, scopes)`` of an API Gateway v2 event, or 401/403."""
    jwt = ((event.get("requestContext") or {}).get("authorizer") or {}).get("jwt") or {}
    claims: Mapping[str, Any] = jwt.get("claims") or {}
    user_id = claims.get("sub")
    if not user_id:
        raise Unauthorized("The request carries no verified identity.")
    tenant_id = claims.get(TENANT_CLAIM)
    if not tenant_id:
        raise Forbidden("The token carries no tenant; finish sign-up before calling the API.", slug="no-tenant")
    roles = frozenset(r for r in _as_list(claims.get("cognito:groups")) if r in ROLES)
    scopes = frozenset(_as_list(jwt.get("scopes")) or _as_list(claims.get("scope")))
    return Identity(tenant_id=str(tenant_id), user_id=str(user_id), roles=roles, scopes=scopes,
                    email=claims.get("email"))
