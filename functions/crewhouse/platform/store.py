"""The platform table: tenants and their members. The only place that knows its key shapes.

Keys: ``PK = TENANT#<tenant>``; ``SK = META`` for the tenant, ``MEMBER#<user>`` for a membership.
"""

from __future__ import annotations

from typing import Any

from crewhouse.platform.models import Tenant


def _tenant_key(tenant_id: str) -> dict[str, Any]:
    return {"PK": {"S": f"TENANT#{tenant_id}"}, "SK": {"S": "META"}}


class DynamoTenantStore:
    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self._db = dynamodb
        self._table = table_name

    def create_tenant(self, tenant: Tenant, admin_email: str | None) -> None:
        """Tenant and its first admin in one transaction; a repeat for the same tenant is a no-op."""
        from botocore.exceptions import ClientError

        member = {
            "PK": {"S": f"TENANT#{tenant.id}"},
            "SK": {"S": f"MEMBER#{tenant.owner_id}"},
            "role": {"S": "admin"},
            "email": {"S": admin_email or ""},
            "created_at": {"S": tenant.created_at},
        }
        meta = {
            **_tenant_key(tenant.id),
            "name": {"S": tenant.name},
            "owner_id": {"S": tenant.owner_id},
            "created_at": {"S": tenant.created_at},
        }
        try:
            self._db.transact_write_items(TransactItems=[
                {"Put": {"TableName": self._table, "Item": meta,
                         "ConditionExpression": "attribute_not_exists(PK)"}},
                {"Put": {"TableName": self._table, "Item": member}},
            ])
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        item = self._db.get_item(TableName=self._table, Key=_tenant_key(tenant_id)).get("Item")
        if not item:
            return None
        return Tenant(id=tenant_id, name=item["name"]["S"], owner_id=item["owner_id"]["S"],
                      created_at=item["created_at"]["S"])

    def ping(self) -> None:
        self._db.describe_table(TableName=self._table)


class CognitoDirectory:
    """The user pool, as far as the platform changes it."""

    def __init__(self, cognito: Any) -> None:
        self._cognito = cognito

    def assign_tenant(self, user_pool_id: str, username: str, tenant_id: str, group: str) -> None:
        self._cognito.admin_update_user_attributes(
            UserPoolId=user_pool_id, Username=username,
            UserAttributes=[{"Name": "custom:tenant_id", "Value": tenant_id}],
        )
        self._cognito.admin_add_user_to_group(UserPoolId=user_pool_id, Username=username, GroupName=group)


class S3BucketProbe:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def ping(self) -> None:
        self._s3.head_bucket(Bucket=self._bucket)
