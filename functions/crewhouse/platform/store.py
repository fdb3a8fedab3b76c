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

from collections.abc import Mapping
from typing import Any

from crewhouse.core import table as t
from crewhouse.core.errors import Conflict, NotFound
from crewhouse.core.identity import Identity
from crewhouse.core.keys import owner_pk
from crewhouse.core.tenancy import ACTIVE, member_sk, profile_key, tenant_pk
from crewhouse.platform.models import Profile, Tenant

MEMBERSHIPS_BY_PRINCIPAL = "GSI1"
Item = dict[str, Any]


def _meta_key(tenant_id: str) -> t.ItemKey:
    return tenant_pk(tenant_id), "META"


def _profile_key(principal_id: str) -> t.ItemKey:
    return profile_key(principal_id)


def _invite_key(tenant_id: str, invitation_id: str) -> t.ItemKey:
    return tenant_pk(tenant_id), f"INVITE#{invitation_id}"


def _member_key(tenant_id: str, principal_id: str) -> t.ItemKey:
    return tenant_pk(tenant_id), member_sk(principal_id)


def _choose_tenant(principal_id: str, tenant_id: str) -> t.Write:
    """Name the tenant new tokens carry, keeping the rest of the profile."""
    return t.change(_profile_key(principal_id), "SET active_tenant = :t", values={":t": tenant_id})


class DynamoPlatformStore:
    def __init__(self, table: t.Table) -> None:
        self._table = table

    # --- tenants -------------------------------------------------------------------------------------------

    def create_tenant(self, tenant: Tenant, admin_email: str | None) -> None:
        """Tenant, its first admin and the admin's active tenant in one transaction; a repeat is a no-op."""
        pk, sk = _meta_key(tenant.id)
        meta = {"PK": pk, "SK": sk, "name": tenant.name, "owner_id": tenant.owner_id,
                "created_at": tenant.created_at, "admin_count": 1}
        member = self._member_item(tenant.id, tenant.owner_id, role="admin", email=admin_email, invited_by=None,
                                   now=tenant.created_at)
        try:
            self._table.transact([t.new(meta), t.overwrite(member), _choose_tenant(tenant.owner_id, tenant.id)])
        except t.Cancelled as cancelled:
            if not cancelled.failed(0):
                raise

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        item = self._table.get(_meta_key(tenant_id), consistent=False)
        if not item:
            return None
        return Tenant(id=tenant_id, name=item["name"], owner_id=item["owner_id"], created_at=item["created_at"])

    def ping(self) -> None:
        self._table.describe()

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
        self._table.put(self._member_item(tenant_id, principal_id, role=role, email=email, invited_by=invited_by,
                                          now=now))

    def membership(self, tenant_id: str, principal_id: str) -> Item | None:
        return self._table.get(_member_key(tenant_id, principal_id))

    def members(self, tenant_id: str) -> list[Item]:
        return self._table.query_all(t.starting_with(tenant_pk(tenant_id), "MEMBER#"))

    def memberships_of(self, principal_id: str) -> list[Item]:
        """Every membership of a principal, active or not (a principal belongs to a handful of tenants)."""
        return self._table.query_all(t.whole(f"PRINCIPAL#{principal_id}", MEMBERSHIPS_BY_PRINCIPAL))

    def active_tenant(self, principal_id: str) -> str | None:
        item = self._table.get(_profile_key(principal_id))
        return str(item["active_tenant"]) if item and "active_tenant" in item else None

    def set_active_tenant(self, principal_id: str, tenant_id: str) -> None:
        self._table.update(_profile_key(principal_id), "SET active_tenant = :t", values={":t": tenant_id})

    def profile(self, principal_id: str) -> Item:
        """The principal's profile fields (none yet: empty)."""
        found = self._table.get(_profile_key(principal_id)) or {}
        return {k: v for k, v in found.items() if k not in ("PK", "SK", "active_tenant")}

    def update_profile(self, principal_id: str, changes: Mapping[str, Any]) -> Item:
        """Set the given fields (None removes one); the profile as it is now."""
        names = {f"#f{i}": name for i, name in enumerate(changes)}
        sets = [f"#f{i} = :f{i}" for i, value in enumerate(changes.values()) if value is not None]
        removes = [f"#f{i}" for i, value in enumerate(changes.values()) if value is None]
        expression = " ".join(part for part in (f"SET {', '.join(sets)}" if sets else "",
                                                 f"REMOVE {', '.join(removes)}" if removes else "") if part)
        values = {f":f{i}": value for i, value in enumerate(changes.values()) if value is not None}
        updated = self._table.update(_profile_key(principal_id), expression, names=names, values=values or None,
                                     return_new=True) or {}
        return {k: v for k, v in updated.items() if k not in ("PK", "SK", "active_tenant")}

    def update_membership(self, tenant_id: str, principal_id: str, *, now: str, role: str | None = None,
                          status: str | None = None, tokens_valid_after: int | None = None,
                          admin_delta: int = 0) -> None:
        """Change one active membership; ``admin_delta`` moves the tenant's admin counter in the same
        transaction, which refuses to reach zero admins (409)."""
        sets = {"updated_at": now, "role": role, "status": status, "tokens_valid_after": tokens_valid_after}
        values = {f":{name}": value for name, value in sets.items() if value is not None}
        writes = [t.change(_member_key(tenant_id, principal_id),
                           "SET " + ", ".join(f"#{name[1:]} = {name}" for name in values),
                           condition="attribute_exists(PK) AND #status = :active",
                           names={f"#{name[1:]}": name[1:] for name in values} | {"#status": "status"},
                           values=values | {":active": ACTIVE})]
        if admin_delta:
            last_admin_guard = {"condition": "admin_count > :one", "values": {":delta": admin_delta, ":one": 1}}
            writes.append(t.change(_meta_key(tenant_id), "ADD admin_count :delta", **(
                last_admin_guard if admin_delta < 0 else {"values": {":delta": admin_delta}})))
        try:
            self._table.transact(writes)
        except t.Cancelled as cancelled:
            if cancelled.failed(0):
                raise NotFound("No such member.") from cancelled
            raise Conflict("A tenant keeps at least one admin: promote another member first.",
                           slug="last-admin") from cancelled

    # --- invitations ---------------------------------------------------------------------------------------

    def put_invitation(self, tenant_id: str, invitation: Item) -> None:
        pk, sk = _invite_key(tenant_id, invitation["id"])
        self._table.put({**invitation, "PK": pk, "SK": sk})

    def invitation(self, tenant_id: str, invitation_id: str) -> Item | None:
        return self._table.get(_invite_key(tenant_id, invitation_id))

    def invitations(self, tenant_id: str) -> list[Item]:
        return self._table.query_all(t.starting_with(tenant_pk(tenant_id), "INVITE#"))

    def revoke_invitation(self, tenant_id: str, invitation_id: str) -> None:
        revoked = self._table.update(_invite_key(tenant_id, invitation_id), "SET #s = :revoked",
                                     condition="#s = :pending", names={"#s": "status"},
                                     values={":revoked": "revoked", ":pending": "pending"})
        if revoked is None:
            raise NotFound("No pending invitation with this id.")

    def accept_invitation(self, tenant_id: str, invitation: Item, principal_id: str, email: str | None,
                          now: str) -> None:
        """The invitation turns into a membership (a removed member's comes back) in one transaction."""
        member = self._member_item(tenant_id, principal_id, role=invitation["role"], email=email,
                                   invited_by=invitation["invited_by"], now=now)
        writes = [
            t.change(_invite_key(tenant_id, invitation["id"]),
                     "SET #s = :accepted, accepted_by = :p, accepted_at = :now", condition="#s = :pending",
                     names={"#s": "status"},
                     values={":accepted": "accepted", ":pending": "pending", ":p": principal_id, ":now": now}),
            t.guarded(member, "attribute_not_exists(PK) OR #s <> :active", names={"#s": "status"},
                      values={":active": ACTIVE}),
        ]
        if invitation["role"] == "admin":
            writes.append(t.change(_meta_key(tenant_id), "ADD admin_count :one", values={":one": 1}))
        try:
            self._table.transact(writes)
        except t.Cancelled as cancelled:
            if cancelled.failed(0):
                raise Conflict("This invitation was already used or revoked.", slug="invitation-used") from cancelled
            raise Conflict("You are already a member of this tenant.", slug="already-a-member") from cancelled


class SyncProfileFeed:
    """A changed profile as an entry of the caller's sync log (kind ``profile``), so ``GET /sync`` shows it."""

    def __init__(self, dynamodb: Any, sync_table: str) -> None:
        from crewhouse.sync.log import DynamoSyncLog

        self._log = DynamoSyncLog(dynamodb, sync_table)

    def profile_changed(self, identity: Identity, profile: Profile) -> None:
        import uuid

        from crewhouse.sync.log import Entry

        self._log.record(owner_pk(identity.tenant_id, identity.user_id), [Entry(
            event_id=uuid.uuid4().hex, kind="profile", item_id=identity.user_id, operation="upsert",
            data=profile.model_dump(mode="json"))])


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
