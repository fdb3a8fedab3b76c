from collections.abc import Mapping

import pytest

from crewhouse.core.errors import Forbidden, Unauthorized
from crewhouse.core.identity import identity_from_event


def event_with(claims: Mapping[str, object] | None, scopes: list[str] | None = None) -> dict[str, object]:
    if claims is None:
        return {"requestContext": {}}
    return {"requestContext": {"authorizer": {"jwt": {"claims": claims, "scopes": scopes}}}}


def test_identity_from_api_gateway_rendered_claims() -> None:
    identity = identity_from_event(event_with(
        {"sub": "u1", "custom:tenant_id": "t1", "cognito:groups": "[admin member]", "email": "a@b.c"}))
    assert (identity.tenant_id, identity.user_id) == ("t1", "u1")
    assert identity.roles == frozenset({"admin", "member"})
    assert identity.email == "a@b.c"


def test_groups_as_a_json_list_and_unknown_groups_ignored() -> None:
    identity = identity_from_event(event_with(
        {"sub": "u1", "custom:tenant_id": "t1", "cognito:groups": ["observer", "us-east-1_pool_Google"]}))
    assert identity.roles == frozenset({"observer"})


def test_scopes_from_the_authorizer_or_the_scope_claim() -> None:
    claims = {"sub": "u1", "custom:tenant_id": "t1", "scope": "crewhouse/tasks.read crewhouse/tasks.write"}
    assert identity_from_event(event_with(claims)).scopes == {"crewhouse/tasks.read", "crewhouse/tasks.write"}
    assert identity_from_event(event_with(claims, ["crewhouse/jobs.read"])).scopes == {"crewhouse/jobs.read"}


def test_no_verified_claims_is_401() -> None:
    with pytest.raises(Unauthorized):
        identity_from_event(event_with(None))


def test_no_tenant_is_403() -> None:
    with pytest.raises(Forbidden):
        identity_from_event(event_with({"sub": "u1"}))
