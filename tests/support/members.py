"""Memberships for tests: every API request checks the caller's in the platform table."""

from __future__ import annotations

from typing import Any

import boto3

from crewhouse.core.tenancy import MembershipGrant, membership_key
from tests.support.tables import create_table

PLATFORM_TABLE = "crewhouse-platform"  # CoreSettings' default, so test environments need not name it


def seed_membership(tenant_id: str, user_id: str, role: str = "member", *, status: str = "active",
                    table: str = PLATFORM_TABLE, dynamodb: Any = None) -> None:
    """Put a membership into the mocked platform table (created on first use)."""
    dynamodb = dynamodb or boto3.client("dynamodb", region_name="us-east-1")
    if table not in dynamodb.list_tables()["TableNames"]:
        create_table(dynamodb, "StoragePlatformTable", table)
    dynamodb.put_item(TableName=table, Item={**membership_key(tenant_id, user_id), "role": {"S": role},
                                             "status": {"S": status}, "tenant_id": {"S": tenant_id},
                                             "principal_id": {"S": user_id}})


class StaticMemberships:
    """A fake of our own ``MembershipReader`` port for handler tests without AWS."""

    def __init__(self, *members: tuple[str, str, str]) -> None:
        self.grants = {(tenant, user): MembershipGrant(role=role, status="active") for tenant, user, role in members}

    def grant(self, tenant_id: str, principal_id: str) -> MembershipGrant | None:
        return self.grants.get((tenant_id, principal_id))
