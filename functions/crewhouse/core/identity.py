"""Who is calling: what the HTTP API's authorizer verified, checked against the membership table.

Handlers never parse tokens. The API's Lambda authorizer (:mod:`crewhouse.platform.authorizer`) verifies a
Cognito JWT or a personal access token and API Gateway hands its context to the function as
``requestContext.authorizer.lambda``; a JWT authorizer's ``requestContext.authorizer.jwt.claims`` is read
alike. The tenant comes from the ``tenant_id`` claim, which only the pre-token-generation trigger writes
(from the membership table), or from the personal token's record; the role comes from the membership itself,
read at every request (:mod:`crewhouse.core.tenancy`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from crewhouse.core.errors import Forbidden, Unauthorized
from crewhouse.core.tenancy import ROLES, WRITER_ROLES, MembershipReader

TENANT_CLAIM = "tenant_id"
ROLE_CLAIM = "tenant_role"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The authorizer context's ``credential`` of a bus agent's access token (crewhouse.platform.credentials).
AGENT_TOKEN_CREDENTIAL = "agent-token"


class Actor(Protocol):
    """Whoever a cursor or an idempotency key is scoped to: a member (:class:`Identity`) or a bus caller."""

    @property
    def tenant_id(self) -> str: ...

    @property
    def user_id(self) -> str: ...


@dataclass(frozen=True)
class Principal:
    """A verified caller before any tenant check: a user (``sub``) or a machine client."""

    user_id: str
    tenant_id: str | None
    scopes: frozenset[str]
    email: str | None = None
    issued_at: int = 0
    # A personal access token's grant (``read``, ``write``); None for a Cognito sign-in, which the role alone limits.
    token_access: frozenset[str] | None = None


@dataclass(frozen=True)
class Identity:
    tenant_id: str
    user_id: str
    role: str
    scopes: frozenset[str]
    email: str | None = None
    token_access: frozenset[str] | None = None

    @property
    def roles(self) -> frozenset[str]:
        return frozenset({self.role})

    def has_role(self, role: str) -> bool:
        return self.role == role

    @property
    def can_write(self) -> bool:
        return self.role in WRITER_ROLES and (self.token_access is None or "write" in self.token_access)


def _as_list(value: Any) -> list[str]:
    """API Gateway flattens array claims to strings such as ``[a b]``; accept both forms."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    text = str(value).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return [part for part in text.replace(",", " ").split() if part]


def principal_from_event(event: Mapping[str, Any]) -> Principal:
    """The verified caller of an API Gateway v2 event, or 401."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    claims: Mapping[str, Any]
    if "lambda" in authorizer:
        claims = authorizer.get("lambda") or {}
        scopes = _as_list(claims.get("scope"))
    else:
        jwt = authorizer.get("jwt") or {}
        claims = jwt.get("claims") or {}
        scopes = _as_list(jwt.get("scopes")) or _as_list(claims.get("scope"))
    user_id = claims.get("sub")
    if not user_id:
        raise Unauthorized("The request carries no verified identity.")
    tenant_id = claims.get(TENANT_CLAIM)
    issued = str(claims.get("iat") or "0")
    return Principal(
        user_id=str(user_id),
        tenant_id=str(tenant_id) if tenant_id else None,
        scopes=frozenset(scopes),
        email=claims.get("email") or None,
        issued_at=int(issued) if issued.isdigit() else 0,
        token_access=frozenset(_as_list(claims["token_access"])) if claims.get("token_access") else None,
    )


def authorize(principal: Principal, memberships: MembershipReader) -> Identity:
    """The caller's identity in the tenant their token names: 403 without an active membership there,
    401 for a token issued before the member signed out or was removed."""
    if not principal.tenant_id:
        raise Forbidden("The token carries no tenant; finish sign-up or accept an invitation first.",
                        slug="no-tenant")
    grant = memberships.grant(principal.tenant_id, principal.user_id)
    if grant is None or not grant.active or grant.role not in ROLES:
        raise Forbidden("You are not a member of this tenant.", slug="not-a-member")
    if principal.issued_at < grant.tokens_valid_after:
        raise Unauthorized("The token was revoked; sign in again.", slug="token-revoked")
    return Identity(tenant_id=principal.tenant_id, user_id=principal.user_id, role=grant.role,
                    scopes=principal.scopes, email=principal.email, token_access=principal.token_access)


def require_token_grant(identity: Identity, method: str) -> Identity:
    """A ``read`` personal token reads only, whatever its owner's role."""
    if method.upper() in SAFE_METHODS or identity.token_access is None or "write" in identity.token_access:
        return identity
    raise Forbidden("This personal access token may only read.", slug="read-only-token")


def require_writer(identity: Identity, method: str) -> Identity:
    """Observers read, and so does a ``read`` personal token; any other method needs a writing role (admin
    or member) and, through a personal token, its ``write`` grant."""
    require_token_grant(identity, method)
    if method.upper() not in SAFE_METHODS and identity.role not in WRITER_ROLES:
        raise Forbidden("Your role in this tenant is read-only.", slug="read-only-role")
    return identity


def require_admin(identity: Identity, action: str = "do this") -> Identity:
    """Tenant-wide settings and other people's things: the tenant's admins only."""
    if not identity.has_role("admin"):
        raise Forbidden(f"Only a tenant admin may {action}.", slug="admin-only")
    return identity


def require_sign_in(principal: Principal) -> Principal:
    """Managing personal tokens needs a Cognito sign-in: a token never mints or lists tokens (a leaked ``read``
    token must not become a ``write`` one)."""
    if principal.token_access is not None:
        raise Forbidden("Personal access tokens are managed after signing in, not with a token.",
                        slug="sign-in-required")
    return principal


def identity_from_event(event: Mapping[str, Any], memberships: MembershipReader | None = None) -> Identity:
    """``principal_from_event`` then ``authorize`` against the function's membership table."""
    principal = principal_from_event(event)
    return authorize(principal, memberships or default_memberships())


def default_memberships() -> MembershipReader:
    from crewhouse.core.aws import aws_client
    from crewhouse.core.settings import CoreSettings, load_settings
    from crewhouse.core.tenancy import DynamoMembershipReader

    settings = load_settings(CoreSettings)
    return DynamoMembershipReader(aws_client("dynamodb", settings), settings.platform_table)
