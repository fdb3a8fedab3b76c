from collections.abc import Mapping

import pytest

from crewhouse.core.errors import Forbidden, Unauthorized
from crewhouse.core.identity import authorize, identity_from_event, principal_from_event, require_writer
from crewhouse.core.tenancy import MembershipGrant


class Memberships:
    """A membership table of one tenant, ``t1``."""

    def __init__(self, **grants: MembershipGrant) -> None:
        self.grants = grants
        self.reads = 0

    def grant(self, tenant_id: str, principal_id: str) -> MembershipGrant | None:
        self.reads += 1
        return self.grants.get(principal_id) if tenant_id == "t1" else None


def event_with(claims: Mapping[str, object] | None, scopes: list[str] | None = None) -> dict[str, object]:
    if claims is None:
        return {"requestContext": {}}
    return {"requestContext": {"authorizer": {"jwt": {"claims": claims, "scopes": scopes}}}}


def test_the_role_comes_from_the_membership_not_the_token() -> None:
    members = Memberships(u1=MembershipGrant(role="observer", status="active"))
    identity = identity_from_event(event_with(
        {"sub": "u1", "tenant_id": "t1", "tenant_role": "admin", "cognito:groups": "[admin]", "email": "a@b.c"}),
        members)
    assert (identity.tenant_id, identity.user_id, identity.role) == ("t1", "u1", "observer")
    assert identity.roles == frozenset({"observer"}) and not identity.can_write
    assert identity.email == "a@b.c" and members.reads == 1


def test_a_user_pool_tenant_attribute_names_no_tenant() -> None:
    members = Memberships(u1=MembershipGrant(role="admin", status="active"))
    with pytest.raises(Forbidden) as raised:
        identity_from_event(event_with({"sub": "u1", "custom:tenant_id": "t1"}), members)
    assert raised.value.slug == "no-tenant"


def test_scopes_from_the_authorizer_or_the_scope_claim() -> None:
    members = Memberships(u1=MembershipGrant(role="member", status="active"))
    claims = {"sub": "u1", "tenant_id": "t1", "scope": "crewhouse/tasks.read crewhouse/tasks.write"}
    assert identity_from_event(event_with(claims), members).scopes == {"crewhouse/tasks.read", "crewhouse/tasks.write"}
    assert identity_from_event(event_with(claims, ["crewhouse/jobs.read"]), members).scopes == {"crewhouse/jobs.read"}


def test_no_verified_claims_is_401() -> None:
    with pytest.raises(Unauthorized):
        principal_from_event(event_with(None))


@pytest.mark.parametrize("principal", ["stranger", "gone"])
def test_no_active_membership_in_the_named_tenant_is_403(principal: str) -> None:
    members = Memberships(gone=MembershipGrant(role="admin", status="removed"))
    with pytest.raises(Forbidden) as raised:
        authorize(principal_from_event(event_with({"sub": principal, "tenant_id": "t1"})), members)
    assert raised.value.slug == "not-a-member"


def test_another_tenant_named_in_the_token_is_403() -> None:
    members = Memberships(u1=MembershipGrant(role="admin", status="active"))
    with pytest.raises(Forbidden):
        authorize(principal_from_event(event_with({"sub": "u1", "tenant_id": "t2"})), members)


def test_tokens_issued_before_a_revocation_are_401() -> None:
    members = Memberships(u1=MembershipGrant(role="member", status="active", tokens_valid_after=1_000))
    with pytest.raises(Unauthorized) as raised:
        authorize(principal_from_event(event_with({"sub": "u1", "tenant_id": "t1", "iat": "999"})), members)
    assert raised.value.slug == "token-revoked"
    fresh = authorize(principal_from_event(event_with({"sub": "u1", "tenant_id": "t1", "iat": "1000"})), members)
    assert fresh.role == "member"


@pytest.mark.parametrize(("role", "method", "allowed"), [
    ("observer", "GET", True), ("observer", "POST", False), ("observer", "DELETE", False),
    ("member", "PATCH", True), ("admin", "PUT", True),
])
def test_observers_only_read(role: str, method: str, allowed: bool) -> None:
    members = Memberships(u1=MembershipGrant(role=role, status="active"))
    identity = authorize(principal_from_event(event_with({"sub": "u1", "tenant_id": "t1"})), members)
    if allowed:
        assert require_writer(identity, method) is identity
    else:
        with pytest.raises(Forbidden):
            require_writer(identity, method)
