"""Memberships: who may act in which tenant, and in which role. The platform table is the only source.

A principal (a user's ``sub``, or a machine client's id) belongs to a tenant through one item,
``PK = TENANT#<tenant>``, ``SK = MEMBER#<principal>``, carrying its role, status and the time before which
its tokens no longer count (set by sign-out and removal). Every API request reads that item once, strongly
consistent (1 read capacity unit): a removed member, a role change or a revoked token takes effect at the
next request, not at token expiry, which API Gateway's JWT authorizer alone could not give.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

Role = Literal["admin", "member", "observer"]
ROLES: tuple[Role, ...] = ("admin", "member", "observer")
WRITER_ROLES = frozenset({"admin", "member"})
ACTIVE = "active"


def tenant_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}"


def member_sk(principal_id: str) -> str:
    return f"MEMBER#{principal_id}"


def profile_key(principal_id: str) -> tuple[str, str]:
    """A principal's profile (time zone, name, locale; the tenant new tokens name): one item across tenants."""
    return f"PRINCIPAL#{principal_id}", "PROFILE"


def membership_key(tenant_id: str, principal_id: str) -> dict[str, Any]:
    """The low-level DynamoDB key of a membership item."""
    return {"PK": {"S": tenant_pk(tenant_id)}, "SK": {"S": member_sk(principal_id)}}


@dataclass(frozen=True)
class MembershipGrant:
    """What one request needs of a membership: is it active, in which role, since when do tokens count."""

    role: str
    status: str
    tokens_valid_after: int = 0

    @property
    def active(self) -> bool:
        return self.status == ACTIVE


class MembershipReader(Protocol):
    def grant(self, tenant_id: str, principal_id: str) -> MembershipGrant | None: ...


class DynamoMembershipReader:
    def __init__(self, dynamodb: Any, table_name: str) -> None:
        from crewhouse.core.table import Table

        self._table = Table(dynamodb, table_name)

    def grant(self, tenant_id: str, principal_id: str) -> MembershipGrant | None:
        item = self._table.get((tenant_pk(tenant_id), member_sk(principal_id)),
                               projection=("role", "status", "tokens_valid_after"))
        if not item:
            return None
        return MembershipGrant(
            role=item["role"],
            # Items written before statuses existed are active memberships.
            status=item.get("status", ACTIVE),
            tokens_valid_after=int(item.get("tokens_valid_after", 0)),
        )


class DynamoProfileReader:
    """The one profile field other contexts read: the time zone a request that names none means."""

    def __init__(self, dynamodb: Any, table_name: str) -> None:
        from crewhouse.core.table import Table

        self._table = Table(dynamodb, table_name)

    def timezone(self, principal_id: str) -> str | None:
        item = self._table.get(profile_key(principal_id), projection=("timezone",), consistent=False)
        return str(item["timezone"]) if item and item.get("timezone") else None


def profile_timezone(principal_id: str) -> str | None:
    """The caller's profile time zone, read from the function's platform table (one GetItem, 0.5 RCU)."""
    from crewhouse.core.aws import aws_client
    from crewhouse.core.settings import CoreSettings, load_settings

    settings = load_settings(CoreSettings)
    return DynamoProfileReader(aws_client("dynamodb", settings), settings.platform_table).timezone(principal_id)
