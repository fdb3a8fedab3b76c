"""The platform table: tenants, memberships, invitations and principals' profiles. The only place that
knows its key shapes (the membership key itself lives in :mod:`crewhouse.core.tenancy`, which every API
function reads).

Keys:
- ``TENANT#<tenant> / META``: the tenant, with ``admin_count`` (the last-admin guard's counter);
- ``TENANT#<tenant> / MEMBER#<principal>``: a membership; ``GSI1PK = PRINCIPAL#<principal>``,
  ``GSI1SK = TENANT#<tenant>`` list a principal's tenants;
- ``TENANT#<tenant> / INVITE#<id>``: an invitation (the secret only as a SHA-256);
- ``PRINCIPAL#<principal> / PROFILE``: the tenant new tokens name (``active_tenant``).
"""

from __future__ import annotations

from typing import Any

from crewhouse.core.dynamo import ItemCodec
from crewhouse.core.errors import Conflict, NotFound
from crewhouse.core.tenancy import ACTIVE, member_sk, membership_key, tenant_pk
from crewhouse.platform.models import Tenant

MEMBERSHIPS_BY_PRINCIPAL = "GSI1"
Item = dict[str, Any]


def _meta_key(tenant_id: str) -> dict[str, Any]:
    return {"PK": {"S": tenant_pk(tenant_id)}, "SK": {"S": "META"}}


def _profile_key(principal_id: str) -> dict[str, Any]:
    return {"PK": {"S": f"PRINCIPAL#{principal_id}"}, "SK": {"S": "PROFILE"}}


def _invite_key(tenant_id: str, invitation_id: str) -> dict[str, Any]:
    return {"PK": {"S": tenant_pk(tenant_id)}, "SK": {"S": f"INVITE#{invitation_id}"}}


def _cancelled_by(exc: Exception) -> list[str]:
    """The per-item reasons of a cancelled transaction (``""`` where an item was fine)."""
    response = getattr(exc, "response", {}) or {}
    if response.get("Error", {}).get("Code") != "TransactionCanceledException":
        raise exc
    return [str(r.get("Code") or "") for r in response.get("CancellationReasons") or []]


class DynamoPlatformStore:
    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self._db = dynamodb
        self._table = table_name
        self._codec = ItemCodec()

    # --- tenants -------------------------------------------------------------------------------------------

    def create_tenant(self, tenant: Tenant, admin_email: str | None) -> None:
        """Tenant, its first admin and the admin's active tenant in one transaction; a repeat is a no-op."""
        from botocore.exceptions import ClientError

        meta = {"PK": tenant_pk(tenant.id), "SK": "META", "name": tenant.name, "owner_id": tenant.owner_id,
                "created_at": tenant.created_at, "admin_count": 1}
        member = self._member_item(tenant.id, tenant.owner_id, role="admin", email=admin_email, invited_by=None,
                                   now=tenant.created_at)
        try:
            self._db.transact_write_items(TransactItems=[
                {"Put": {"TableName": self._table, "Item": self._codec.dump(meta),
                         "ConditionExpression": "attribute_not_exists(PK)"}},
                {"Put": {"TableName": self._table, "Item": self._codec.dump(member)}},
                {"Put": {"TableName": self._table, "Item": {
                    **_profile_key(tenant.owner_id), "active_tenant": {"S": tenant.id}}}},
            ])
        except ClientError as exc:
            if _cancelled_by(exc)[:1] != ["ConditionalCheckFailed"]:
                raise

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        item = self._db.get_item(TableName=self._table, Key=_meta_key(tenant_id)).get("Item")
        if not item:
            return None
        return Tenant(id=tenant_id, name=item["name"]["S"], owner_id=item["owner_id"]["S"],
                      created_at=item["created_at"]["S"])

    def ping(self) -> None:
        self._db.describe_table(TableName=self._table)

    # --- memberships ---------------------------------------------------------------------------------------

    @staticmethod
    def _member_item(tenant_id: str, principal_id: str, *, role: str, email: str | None, invited_by: str | None,
                     now: str) -> Item:
        return {"PK": tenant_pk(tenant_id), "SK": member_sk(principal_id), "tenant_id": tenant_id,
                "principal_id": principal_id, "role": role, "status": ACTIVE, "email": email,
                "invited_by": invited_by, "created_at": now, "updated_at": now, "tokens_valid_after": 0,
                "GSI1PK": f"PRINCIPAL#{principal_id}", "GSI1SK": tenant_pk(tenant_id)}

    def put_membership(self, tenant_id: str, principal_id: str, *, role: str, invited_by: str | None,
                       now: str, email: str | None = None) -> None:
        """An active membership, as is: for principals no invitation can reach (machine clients)."""
        self._db.put_item(TableName=self._table, Item=self._codec.dump(self._member_item(
            tenant_id, principal_id, role=role, email=email, invited_by=invited_by, now=now)))

    def membership(self, tenant_id: str, principal_id: str) -> Item | None:
        item = self._db.get_item(TableName=self._table, Key=membership_key(tenant_id, principal_id),
                                 ConsistentRead=True).get("Item")
        return self._codec.load(item) if item else None

    def _query_all(self, **kwargs: Any) -> list[Item]:
        items: list[Item] = []
        while True:
            page = self._db.query(TableName=self._table, **kwargs)
            items += [self._codec.load(i) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def members(self, tenant_id: str) -> list[Item]:
        return self._query_all(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :member)",
            ExpressionAttributeValues={":pk": {"S": tenant_pk(tenant_id)}, ":member": {"S": "MEMBER#"}})

    def memberships_of(self, principal_id: str) -> list[Item]:
        """Every membership of a principal, active or not (a principal belongs to a handful of tenants)."""
        return self._query_all(IndexName=MEMBERSHIPS_BY_PRINCIPAL, KeyConditionExpression="GSI1PK = :p",
                               ExpressionAttributeValues={":p": {"S": f"PRINCIPAL#{principal_id}"}})

    def active_tenant(self, principal_id: str) -> str | None:
        item = self._db.get_item(TableName=self._table, Key=_profile_key(principal_id), ConsistentRead=True).get("Item")
        return item["active_tenant"]["S"] if item and "active_tenant" in item else None

    def set_active_tenant(self, principal_id: str, tenant_id: str) -> None:
        self._db.put_item(TableName=self._table, Item={**_profile_key(principal_id), "active_tenant": {"S": tenant_id}})

    def update_membership(self, tenant_id: str, principal_id: str, *, now: str, role: str | None = None,
                          status: str | None = None, tokens_valid_after: int | None = None,
                          admin_delta: int = 0) -> None:
        """Change one active membership; ``admin_delta`` moves the tenant's admin counter in the same
        transaction, which refuses to reach zero admins (409)."""
        from botocore.exceptions import ClientError

        sets = {"updated_at": now, "role": role, "status": status, "tokens_valid_after": tokens_valid_after}
        values = {f":{name}": value for name, value in sets.items() if value is not None}
        expression = "SET " + ", ".join(f"#{name[1:]} = {name}" for name in values)
        update = {"Update": {
            "TableName": self._table, "Key": membership_key(tenant_id, principal_id), "UpdateExpression": expression,
            "ConditionExpression": "attribute_exists(PK) AND #status = :active",
            "ExpressionAttributeNames": {f"#{name[1:]}": name[1:] for name in values} | {"#status": "status"},
            "ExpressionAttributeValues": self._codec.dump(values | {":active": ACTIVE}),
        }}
        items = [update]
        if admin_delta:
            items.append({"Update": {
                "TableName": self._table, "Key": _meta_key(tenant_id),
                "UpdateExpression": "ADD admin_count :delta",
                **({"ConditionExpression": "admin_count > :one"} if admin_delta < 0 else {}),
                "ExpressionAttributeValues": {":delta": {"N": str(admin_delta)}}
                | ({":one": {"N": "1"}} if admin_delta < 0 else {}),
            }})
        try:
            self._db.transact_write_items(TransactItems=items)
        except ClientError as exc:
            reasons = _cancelled_by(exc)
            if reasons[:1] == ["ConditionalCheckFailed"]:
                raise NotFound("No such member.") from exc
            raise Conflict("A tenant keeps at least one admin: promote another member first.",
                           slug="last-admin") from exc

    # --- invitations ---------------------------------------------------------------------------------------

    def put_invitation(self, tenant_id: str, invitation: Item) -> None:
        self._db.put_item(TableName=self._table, Item=self._codec.dump(
            {**invitation, "PK": tenant_pk(tenant_id), "SK": f"INVITE#{invitation['id']}"}))

    def invitation(self, tenant_id: str, invitation_id: str) -> Item | None:
        item = self._db.get_item(TableName=self._table, Key=_invite_key(tenant_id, invitation_id),
                                 ConsistentRead=True).get("Item")
        return self._codec.load(item) if item else None

    def invitations(self, tenant_id: str) -> list[Item]:
        return self._query_all(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :invite)",
            ExpressionAttributeValues={":pk": {"S": tenant_pk(tenant_id)}, ":invite": {"S": "INVITE#"}})

    def revoke_invitation(self, tenant_id: str, invitation_id: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self._db.update_item(
                TableName=self._table, Key=_invite_key(tenant_id, invitation_id),
                UpdateExpression="SET #s = :revoked", ConditionExpression="#s = :pending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":revoked": {"S": "revoked"}, ":pending": {"S": "pending"}})
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise NotFound("No pending invitation with this id.") from exc
            raise

    def accept_invitation(self, tenant_id: str, invitation: Item, principal_id: str, email: str | None,
                          now: str) -> None:
        """The invitation turns into a membership (a removed member's comes back) in one transaction."""
        from botocore.exceptions import ClientError

        member = self._member_item(tenant_id, principal_id, role=invitation["role"], email=email,
                                   invited_by=invitation["invited_by"], now=now)
        items: list[dict[str, Any]] = [
            {"Update": {"TableName": self._table, "Key": _invite_key(tenant_id, invitation["id"]),
                        "UpdateExpression": "SET #s = :accepted, accepted_by = :p, accepted_at = :now",
                        "ConditionExpression": "#s = :pending", "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {":accepted": {"S": "accepted"}, ":pending": {"S": "pending"},
                                                      ":p": {"S": principal_id}, ":now": {"S": now}}}},
            {"Put": {"TableName": self._table, "Item": self._codec.dump(member),
                     "ConditionExpression": "attribute_not_exists(PK) OR #s <> :active",
                     "ExpressionAttributeNames": {"#s": "status"},
                     "ExpressionAttributeValues": {":active": {"S": ACTIVE}}}},
        ]
        if invitation["role"] == "admin":
            items.append({"Update": {"TableName": self._table, "Key": _meta_key(tenant_id),
                                     "UpdateExpression": "ADD admin_count :one",
                                     "ExpressionAttributeValues": {":one": {"N": "1"}}}})
        try:
            self._db.transact_write_items(TransactItems=items)
        except ClientError as exc:
            reasons = _cancelled_by(exc)
            if reasons[:1] == ["ConditionalCheckFailed"]:
                raise Conflict("This invitation was already used or revoked.", slug="invitation-used") from exc
            raise Conflict("You are already a member of this tenant.", slug="already-a-member") from exc


class CognitoDirectory:
    """The user pool, as far as the platform changes it: sign-outs and token refreshes."""

    def __init__(self, cognito: Any, user_pool_id: str | None, client_id: str | None) -> None:
        self._cognito = cognito
        self._pool = user_pool_id
        self._client = client_id

    def sign_out_everywhere(self, username: str) -> None:
        """Refresh tokens stop working at once (access and ID tokens are refused by the membership check)."""
        if self._pool:
            self._cognito.admin_user_global_sign_out(UserPoolId=self._pool, Username=username)

    def refresh(self, refresh_token: str) -> dict[str, Any] | None:
        """New tokens from a refresh token (the pre-token trigger names the active tenant), or None if refused."""
        from botocore.exceptions import ClientError

        if not self._client:
            return None
        try:
            result = self._cognito.initiate_auth(ClientId=self._client, AuthFlow="REFRESH_TOKEN_AUTH",
                                                 AuthParameters={"REFRESH_TOKEN": refresh_token})
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NotAuthorizedException", "InvalidParameterException"):
                return None
            raise
        auth = result["AuthenticationResult"]
        return {"id_token": auth["IdToken"], "access_token": auth["AccessToken"], "expires_in": auth["ExpiresIn"]}


class SesMailer:
    """Invitation e-mails through SES (locally, moto keeps every sent message)."""

    def __init__(self, ses: Any, sender: str) -> None:
        self._ses = ses
        self._sender = sender

    def send(self, to: str, subject: str, text: str) -> None:
        self._ses.send_email(FromEmailAddress=self._sender, Destination={"ToAddresses": [to]},
                             Content={"Simple": {"Subject": {"Data": subject}, "Body": {"Text": {"Data": text}}}})


class S3BucketProbe:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def ping(self) -> None:
        self._s3.head_bucket(Bucket=self._bucket)
