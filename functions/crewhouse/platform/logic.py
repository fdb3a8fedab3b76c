"""Platform rules: readiness, who-am-I, tenants, memberships and invitations, and the claims new tokens
carry. No boto3 here: stores, the user directory and the mailer come in as ports."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from crewhouse.core.errors import Conflict, Forbidden, NotFound, ServiceUnavailable
from crewhouse.core.identity import Identity, Principal, require_admin
from crewhouse.core.tenancy import ACTIVE, ROLES
from crewhouse.platform.models import (
    Invitation,
    InvitationSent,
    Me,
    Member,
    MyTenant,
    PersonalToken,
    PersonalTokenCreate,
    PersonalTokenCreated,
    Profile,
    ProfilePatch,
    Readiness,
    Tenant,
    TenantSwitched,
    Tokens,
)

_TENANT_NAMESPACE = uuid.UUID("5b1f4a36-6c1e-4f7e-9d0a-6b0c7d1e2f30")
INVITATION_DAYS = 7
Item = dict[str, Any]


class Probe(Protocol):
    def ping(self) -> None: ...


class PlatformStore(Protocol):
    def create_tenant(self, tenant: Tenant, admin_email: str | None) -> None: ...
    def get_tenant(self, tenant_id: str) -> Tenant | None: ...
    def membership(self, tenant_id: str, principal_id: str) -> Item | None: ...
    def members(self, tenant_id: str) -> list[Item]: ...
    def memberships_of(self, principal_id: str) -> list[Item]: ...
    def active_tenant(self, principal_id: str) -> str | None: ...
    def set_active_tenant(self, principal_id: str, tenant_id: str) -> None: ...
    def profile(self, principal_id: str) -> Item: ...
    def update_profile(self, principal_id: str, changes: Mapping[str, Any]) -> Item: ...
    def update_membership(self, tenant_id: str, principal_id: str, *, now: str, role: str | None = None,
                          status: str | None = None, tokens_valid_after: int | None = None,
                          admin_delta: int = 0) -> None: ...
    def put_invitation(self, tenant_id: str, invitation: Item) -> None: ...
    def invitation(self, tenant_id: str, invitation_id: str) -> Item | None: ...
    def invitations(self, tenant_id: str) -> list[Item]: ...
    def revoke_invitation(self, tenant_id: str, invitation_id: str) -> None: ...
    def accept_invitation(self, tenant_id: str, invitation: Item, principal_id: str, email: str | None,
                          now: str) -> None: ...


class Directory(Protocol):
    def sign_out_everywhere(self, username: str) -> None: ...
    def refresh(self, refresh_token: str) -> dict[str, Any] | None: ...


class Mailer(Protocol):
    def send(self, to: str, subject: str, text: str) -> None: ...


def _now() -> datetime:
    return datetime.now(UTC)


def _revocation_time(now: datetime) -> int:
    """Tokens issued before this second stop counting; ``iat`` has whole seconds, so round up."""
    return int(now.timestamp()) + 1


def check_readiness(probes: Mapping[str, Probe]) -> Readiness:
    """Every dependency answers, or 503 naming the ones that did not."""
    checks: dict[str, str] = {}
    for name, probe in probes.items():
        try:
            probe.ping()
            checks[name] = "ok"
        except Exception as exc:  # any failure means "not ready"; the reason goes to the client
            checks[name] = f"unreachable: {type(exc).__name__}"
    failing = sorted(name for name, state in checks.items() if state != "ok")
    if failing:
        raise ServiceUnavailable(f"Not ready: {', '.join(failing)} unreachable.", failing=failing, checks=checks)
    return Readiness(status="ready", checks=checks)


class ProfileFeed(Protocol):
    """Where a changed profile is announced to the person's syncing clients (the sync log)."""

    def profile_changed(self, identity: Identity, profile: Profile) -> None: ...


def describe_me(identity: Identity, store: PlatformStore, profile: Profile | None = None) -> Me:
    return Me(
        user_id=identity.user_id,
        email=identity.email,
        tenant_id=identity.tenant_id,
        tenant=store.get_tenant(identity.tenant_id),
        role=identity.role,  # type: ignore[arg-type]
        roles=sorted(identity.roles),
        scopes=sorted(identity.scopes),
        token_access=sorted(identity.token_access) if identity.token_access is not None else None,
        profile=profile or Profile.model_validate(store.profile(identity.user_id)),
    )


def update_profile(identity: Identity, patch: ProfilePatch, store: PlatformStore, feed: ProfileFeed) -> Me:
    """Change the caller's profile (one UpdateItem) and tell their syncing clients; ``/me`` as it is now."""
    changes = patch.model_dump(exclude_unset=True)
    profile = Profile.model_validate(store.update_profile(identity.user_id, changes) if changes
                                     else store.profile(identity.user_id))
    if changes:
        feed.profile_changed(identity, profile)
    return describe_me(identity, store, profile)


# --- onboarding and token claims ---------------------------------------------------------------------------


def onboard_confirmed_user(username: str, attributes: Mapping[str, str], store: PlatformStore,
                           now: datetime | None = None) -> str:
    """Create a tenant whose admin is the new user; returns its id.

    The tenant id is derived from the user's ``sub``, so a retried trigger finds the same tenant instead
    of creating a second one. Nothing is written to the user pool: memberships are the only source.
    """
    user_id = attributes.get("sub") or username
    email = attributes.get("email")
    tenant = Tenant(
        id=str(uuid.uuid5(_TENANT_NAMESPACE, user_id)),
        name=f"{(email or username).split('@')[0]}'s workspace",
        owner_id=user_id,
        created_at=(now or _now()).isoformat(),
    )
    store.create_tenant(tenant, email)
    return tenant.id


def token_claims(principal_id: str, store: PlatformStore) -> dict[str, str]:
    """The ``tenant_id`` and ``tenant_role`` claims of new tokens: the principal's chosen tenant while it
    is an active membership, else its oldest active one; none without any (the API then answers 403)."""
    chosen = store.active_tenant(principal_id)
    if chosen:
        membership = store.membership(chosen, principal_id)
        if membership and membership.get("status", ACTIVE) == ACTIVE:
            return {"tenant_id": chosen, "tenant_role": str(membership["role"])}
    active = sorted((m for m in store.memberships_of(principal_id) if m.get("status", ACTIVE) == ACTIVE),
                    key=lambda m: str(m.get("created_at", "")))
    if not active:
        return {}
    return {"tenant_id": str(active[0]["tenant_id"]), "tenant_role": str(active[0]["role"])}


# --- members ----------------------------------------------------------------------------------------------


def _member(item: Item) -> Member:
    return Member(user_id=item["principal_id"], email=item.get("email") or None, role=item["role"],
                  status=item.get("status", ACTIVE), invited_by=item.get("invited_by") or None,
                  created_at=item["created_at"], updated_at=str(item.get("updated_at") or item["created_at"]))


def _require_admin(identity: Identity) -> None:
    require_admin(identity)


def list_members(identity: Identity, store: PlatformStore) -> list[Member]:
    return sorted((_member(m) for m in store.members(identity.tenant_id) if m.get("status", ACTIVE) == ACTIVE),
                  key=lambda m: (m.created_at, m.user_id))


def _active_member(store: PlatformStore, tenant_id: str, principal_id: str) -> Item:
    item = store.membership(tenant_id, principal_id)
    if not item or item.get("status", ACTIVE) != ACTIVE:
        raise NotFound("No such member.")
    return item


def change_role(identity: Identity, principal_id: str, role: str, store: PlatformStore) -> Member:
    """Admins change roles; demoting the last admin is refused (409)."""
    _require_admin(identity)
    current = _active_member(store, identity.tenant_id, principal_id)
    if current["role"] != role:
        delta = (role == "admin") - (current["role"] == "admin")
        now = _now().isoformat()
        # The transaction's condition holds the member active, so the change is the new item: no second read.
        store.update_membership(identity.tenant_id, principal_id, now=now, role=role, admin_delta=delta)
        current = {**current, "role": role, "updated_at": now}
    return _member(current)


def _end_membership(tenant_id: str, member: Item, store: PlatformStore, directory: Directory) -> None:
    """Remove a membership: its tokens stop counting now, and the person's refresh tokens are revoked."""
    now = _now()
    store.update_membership(tenant_id, member["principal_id"], now=now.isoformat(), status="removed",
                            tokens_valid_after=_revocation_time(now),
                            admin_delta=-1 if member["role"] == "admin" else 0)
    if member.get("email"):
        directory.sign_out_everywhere(str(member["email"]))


def remove_member(identity: Identity, principal_id: str, store: PlatformStore, directory: Directory) -> None:
    _require_admin(identity)
    _end_membership(identity.tenant_id, _active_member(store, identity.tenant_id, principal_id), store, directory)


def leave_tenant(identity: Identity, store: PlatformStore, directory: Directory) -> None:
    """Any member may leave; the last admin may not (409)."""
    _end_membership(identity.tenant_id, _active_member(store, identity.tenant_id, identity.user_id), store,
                    directory)


def sign_out(principal: Principal, store: PlatformStore, directory: Directory) -> None:
    """Every token issued so far stops counting in every tenant, and refresh tokens are revoked."""
    now = _now()
    for membership in store.memberships_of(principal.user_id):
        if membership.get("status", ACTIVE) == ACTIVE:
            store.update_membership(str(membership["tenant_id"]), principal.user_id, now=now.isoformat(),
                                    tokens_valid_after=_revocation_time(now))
    if principal.email:
        directory.sign_out_everywhere(principal.email)


def my_tenants(principal: Principal, store: PlatformStore) -> list[MyTenant]:
    return [MyTenant(tenant_id=str(m["tenant_id"]), role=m["role"], active=m["tenant_id"] == principal.tenant_id)
            for m in store.memberships_of(principal.user_id) if m.get("status", ACTIVE) == ACTIVE]


def switch_tenant(principal: Principal, tenant_id: str, refresh_token: str | None, store: PlatformStore,
                  directory: Directory) -> TenantSwitched:
    """New tokens will name ``tenant_id`` (404 unless the caller is an active member there)."""
    membership = store.membership(tenant_id, principal.user_id)
    if not membership or membership.get("status", ACTIVE) != ACTIVE:
        raise NotFound("No such tenant.")
    store.set_active_tenant(principal.user_id, tenant_id)
    tokens = directory.refresh(refresh_token) if refresh_token else None
    if refresh_token and tokens is None:
        raise Forbidden("The refresh token was refused; sign in again.", slug="refresh-refused")
    return TenantSwitched(tenant_id=tenant_id, role=membership["role"],
                          tokens=Tokens.model_validate(tokens) if tokens else None)


# --- invitations ------------------------------------------------------------------------------------------


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _invitation(item: Item) -> Invitation:
    return Invitation.model_validate({k: item[k] for k in Invitation.model_fields})


def invite(identity: Identity, email: str, role: str, store: PlatformStore, mailer: Mailer) -> InvitationSent:
    """An admin invites someone by e-mail; the code goes by e-mail and, once, in the answer."""
    _require_admin(identity)
    if role not in ROLES:
        raise Conflict(f"Unknown role {role!r}.")
    now = _now()
    secret = secrets.token_urlsafe(24)
    item: Item = {"id": uuid.uuid4().hex, "email": email.lower(), "role": role, "status": "pending",
                  "invited_by": identity.user_id, "created_at": now.isoformat(),
                  "expires_at": (now + timedelta(days=INVITATION_DAYS)).isoformat(),
                  "secret_sha256": _secret_hash(secret),
                  "expires_epoch": int((now + timedelta(days=INVITATION_DAYS * 2)).timestamp())}
    store.put_invitation(identity.tenant_id, item)
    code = f"{identity.tenant_id}.{item['id']}.{secret}"
    mailer.send(item["email"], "You are invited to a Crewhouse workspace",
                f"{identity.email or 'A Crewhouse admin'} invited you as {role}.\n\n"
                f"Sign in (or sign up with this address), then accept with this code:\n\n{code}\n\n"
                f"It expires on {item['expires_at'][:10]}.")
    return InvitationSent(**_invitation(item).model_dump(), code=code)


def list_invitations(identity: Identity, store: PlatformStore) -> list[Invitation]:
    _require_admin(identity)
    return sorted((_invitation(i) for i in store.invitations(identity.tenant_id)), key=lambda i: i.created_at,
                  reverse=True)


def revoke_invitation(identity: Identity, invitation_id: str, store: PlatformStore) -> None:
    _require_admin(identity)
    store.revoke_invitation(identity.tenant_id, invitation_id)


def accept_invitation(principal: Principal, code: str, store: PlatformStore) -> MyTenant:
    """The invitee (signed in with the invited, verified address) joins the tenant. A wrong, used or
    expired code is a 404, so codes cannot be probed."""
    tenant_id, _, rest = code.partition(".")
    invitation_id, _, secret = rest.partition(".")
    item = store.invitation(tenant_id, invitation_id) if tenant_id and invitation_id and secret else None
    if (item is None or item["status"] != "pending"
            or not hmac.compare_digest(item["secret_sha256"], _secret_hash(secret))
            or datetime.fromisoformat(item["expires_at"]) < _now()):
        raise NotFound("No pending invitation matches this code.")
    if (principal.email or "").lower() != item["email"]:
        raise Forbidden("This invitation was sent to another e-mail address.", slug="wrong-invitee")
    store.accept_invitation(tenant_id, item, principal.user_id, principal.email, _now().isoformat())
    return MyTenant(tenant_id=tenant_id, role=item["role"], active=principal.tenant_id == tenant_id)


# --- personal access tokens -------------------------------------------------------------------------------


class PersonalTokens(Protocol):
    def add(self, *, digest: str, token_id: str, principal_id: str, tenant_id: str, listing: Item) -> None: ...
    def of_principal(self, principal_id: str) -> list[Item]: ...
    def revoke(self, principal_id: str, token_id: str) -> None: ...


def _epoch_time(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), UTC)


def _personal_token(item: Item) -> PersonalToken:
    return PersonalToken(id=item["token_id"], name=item["name"], prefix=item["prefix"], scopes=item["access"],
                         tenant_id=item["tenant_id"], created_at=_epoch_time(item["created_epoch"]),
                         last_used_at=_epoch_time(item["last_used_epoch"]) if "last_used_epoch" in item else None,
                         expires_at=_epoch_time(item["expires_epoch"]))


def create_personal_token(identity: Identity, request: PersonalTokenCreate, tokens: PersonalTokens,
                          hash_key: bytes, now: datetime | None = None) -> PersonalTokenCreated:
    """A new token acting as the caller in the caller's tenant; the token is in this answer only."""
    from ulid import ULID

    from crewhouse.platform.personal_tokens import mint, shown_prefix, token_digest

    now = now or _now()
    token, token_id = mint(), str(ULID())
    listing = {"name": request.name, "prefix": shown_prefix(token), "access": list(request.scopes),
               "tenant_id": identity.tenant_id, "created_epoch": int(now.timestamp()),
               "expires_epoch": int((now + timedelta(days=request.expires_in_days)).timestamp())}
    tokens.add(digest=token_digest(hash_key, token), token_id=token_id, principal_id=identity.user_id,
               tenant_id=identity.tenant_id, listing=listing)
    return PersonalTokenCreated(**_personal_token({**listing, "token_id": token_id}).model_dump(), token=token)


def list_personal_tokens(principal: Principal, tokens: PersonalTokens) -> list[PersonalToken]:
    """The caller's tokens in every tenant, newest first; expired ones until DynamoDB's TTL removes them."""
    return sorted((_personal_token(item) for item in tokens.of_principal(principal.user_id)),
                  key=lambda token: token.created_at, reverse=True)
