"""PATCH /me: the profile (name, time zone, locale, week start), kept beside the active tenant and announced
in the sync log."""

from typing import Any

from crewhouse.core.table import Table
from crewhouse.platform.store import DynamoPlatformStore
from tests.component.platform.test_platform_api import as_user, aws, tenant  # noqa: F401  # fixtures
from tests.support.members import seed_membership


def _sync_entries(dynamodb: Any) -> list[dict[str, Any]]:
    return dynamodb.scan(TableName="sync")["Items"]  # a test's look at the whole (small) table


def test_a_profile_is_set_in_parts_reset_with_null_and_kept_beside_the_tenant_choice(
        aws: dict[str, Any], tenant: DynamoPlatformStore) -> None:  # noqa: F811
    owner = as_user("owner")
    assert owner("GET", "/me")[1]["profile"] == {"display_name": None, "timezone": None, "locale": None,
                                                   "week_start": "monday"}
    status, me = owner("PATCH", "/me", {"display_name": "Ada", "timezone": "Europe/Berlin", "locale": "de-DE"})
    assert status == 200, me
    assert me["profile"] == {"display_name": "Ada", "timezone": "Europe/Berlin", "locale": "de-DE",
                             "week_start": "monday"}
    status, me = owner("PATCH", "/me", {"week_start": "sunday", "locale": None})
    assert status == 200
    assert me["profile"] == {"display_name": "Ada", "timezone": "Europe/Berlin", "locale": None,
                             "week_start": "sunday"}
    assert owner("GET", "/me")[1]["profile"] == me["profile"]
    assert tenant.active_tenant("owner") == "t1"  # the tenant new tokens name is untouched
    tenant.set_active_tenant("owner", "t1")
    assert owner("GET", "/me")[1]["profile"]["timezone"] == "Europe/Berlin"  # and the reverse

    entries = _sync_entries(aws["dynamodb"])
    assert [(e["kind"]["S"], e["item_id"]["S"]) for e in entries] == [("profile", "owner")] * 2
    assert entries[0]["PK"]["S"] == "T#t1#U#owner"


def test_bad_profiles_are_refused_naming_the_field_and_change_nothing(aws: dict[str, Any],  # noqa: F811
                                                                       tenant: DynamoPlatformStore) -> None:  # noqa: F811
    owner = as_user("owner")
    for body, field in [({"timezone": "Mars/Olympus"}, "timezone"), ({"timezone": "UTC+2"}, "timezone"),
                        ({"locale": "english please"}, "locale"), ({"week_start": "friday"}, "week_start"),
                        ({"display_name": ""}, "display_name"), ({"colour": "teal"}, "colour")]:
        status, problem = owner("PATCH", "/me", body)
        assert status == 422, (body, problem)
        assert f"body.{field}" in {e["path"] for e in problem["errors"]}, problem
    assert DynamoPlatformStore(Table(aws["dynamodb"], "platform")).profile("owner") == {}


def test_an_observer_sets_their_own_profile(aws: dict[str, Any], tenant: DynamoPlatformStore) -> None:  # noqa: F811
    seed_membership("t1", "watcher", "observer", table="platform", dynamodb=aws["dynamodb"])
    status, me = as_user("watcher")("PATCH", "/me", {"timezone": "Asia/Tokyo"})
    assert status == 200 and me["profile"]["timezone"] == "Asia/Tokyo"
