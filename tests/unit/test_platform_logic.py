"""Platform rules with fakes of our own ports (no AWS)."""

from datetime import UTC, datetime

import pytest

from crewhouse.core.errors import ServiceUnavailable
from crewhouse.core.identity import Identity
from crewhouse.platform import logic
from crewhouse.platform.models import Tenant


class Up:
    def ping(self) -> None:
        return None


class Down:
    def ping(self) -> None:
        raise ConnectionError("refused")


class FakeTenants:
    def __init__(self) -> None:
        self.tenants: dict[str, Tenant] = {}

    def create_tenant(self, tenant: Tenant, admin_email: str | None) -> None:
        self.tenants.setdefault(tenant.id, tenant)

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        return self.tenants.get(tenant_id)


class FakeDirectory:
    def __init__(self) -> None:
        self.assigned: list[tuple[str, str, str, str]] = []

    def assign_tenant(self, user_pool_id: str, username: str, tenant_id: str, group: str) -> None:
        self.assigned.append((user_pool_id, username, tenant_id, group))


def test_ready_when_all_probes_answer() -> None:
    assert logic.check_readiness({"dynamodb": Up(), "s3": Up()}).status == "ready"


def test_not_ready_names_every_failing_probe() -> None:
    with pytest.raises(ServiceUnavailable) as raised:
        logic.check_readiness({"dynamodb": Down(), "s3": Up(), "queue": Down()})
    assert raised.value.status == 503
    assert raised.value.extra["failing"] == ["dynamodb", "queue"]
    assert "ConnectionError" in raised.value.extra["checks"]["dynamodb"]


def test_onboarding_creates_one_tenant_per_user_and_makes_them_admin() -> None:
    tenants, directory = FakeTenants(), FakeDirectory()
    now = datetime(2026, 11, 22, tzinfo=UTC)
    first = logic.onboard_confirmed_user("pool", "ada", {"sub": "s-1", "email": "ada@x.io"}, tenants, directory, now)
    again = logic.onboard_confirmed_user("pool", "ada", {"sub": "s-1", "email": "ada@x.io"}, tenants, directory, now)
    other = logic.onboard_confirmed_user("pool", "bob", {"sub": "s-2"}, tenants, directory, now)
    assert first == again != other
    assert tenants.tenants[first].name == "ada's workspace"
    assert directory.assigned[0] == ("pool", "ada", first, "admin")


def test_me_reports_identity_and_tenant() -> None:
    tenants = FakeTenants()
    tenants.create_tenant(Tenant(id="t", name="T", owner_id="u", created_at="x"), None)
    me = logic.describe_me(Identity("t", "u", frozenset({"member", "admin"}), frozenset()), tenants)
    assert me.roles == ["admin", "member"]
    assert me.tenant is not None and me.tenant.name == "T"
