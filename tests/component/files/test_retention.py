"""The tenant's file-retention policy in-process against moto: the API (roles, If-Match, 422s), the preview,
what opens a file, and the sweep (deletes due files through the delete path, warns once, skips files opened
meanwhile, safe to re-run)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import pytest

from crewhouse.core.settings import function_environment, load_settings
from crewhouse.core.table import Table
from crewhouse.files import keys
from crewhouse.files.settings import FilesSettings
from crewhouse.files.store import DynamoFileStore
from tests.component.files.conftest import BUCKET, Call, run_worker
from tests.component.files.test_files_api import arrive, create
from tests.support.event_inbox import event_inbox, sent_events
from tests.support.events import lambda_context

TODAY = datetime.now(UTC).date()


@pytest.fixture
def bus(aws: Any) -> Iterator[Any]:
    """The crewhouse bus, with every file.retention.warning copied to an SQS queue; yields a reader of them."""
    boto3.client("events", region_name="us-east-1").create_event_bus(Name="crewhouse")
    inbox = event_inbox("crewhouse.files")

    def received() -> list[dict[str, Any]]:
        return [e for e in sent_events(inbox) if e["detail-type"] == "file.retention.warning"]

    yield received


def store(env: dict[str, str]) -> DynamoFileStore:
    with function_environment(env):
        settings = load_settings(FilesSettings)
    return DynamoFileStore(Table(boto3.client("dynamodb", region_name="us-east-1"), settings.files_table))


def stored(env: dict[str, str], file_id: str, user: str = "u1") -> dict[str, Any]:
    item = store(env).get(keys.owner_pk("t1", user), file_id)
    assert item is not None, file_id
    return item


def backdate(env: dict[str, str], file_id: str, days_ago: int, *, user: str = "u1", tenant: str = "t1") -> str:
    """Pretend the file was last opened ``days_ago`` days ago (noon UTC); returns that timestamp."""
    when = datetime.combine(TODAY - timedelta(days=days_ago), datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
    assert store(env).change(keys.owner_pk(tenant, user), file_id, set_fields={"last_opened_at": when.isoformat()})
    return when.isoformat()


def available(call: Call, s3: Any, env: dict[str, str], name: str = "a.txt", *, user: str = "u1",
              tenant: str = "t1", data: bytes = b"0123456789") -> dict[str, Any]:
    status, _, created = call("POST", "/files", {"filename": name, "content_type": "text/plain", "size": len(data)},
                              user=user, tenant=tenant)
    assert status == 201, created
    assert arrive(s3, env, created, data) == "accepted"
    return dict(created)


def sweep(env: dict[str, str], tenant: str | None = "t1") -> dict[str, Any]:
    return dict(run_worker(env, "retention_sweep", {"tenant_id": tenant} if tenant else {}))


def enable(call: Call, days: int = 30, tenant: str = "t1") -> None:
    status, _, body = call("PUT", "/files/retention", {"enabled": True, "days": days}, role="admin", user="admin",
                           tenant=tenant)
    assert status == 200, body


def exists(s3: Any, key: str) -> bool:
    return bool(s3.list_objects_v2(Bucket=BUCKET, Prefix=key).get("KeyCount"))


# --- the policy --------------------------------------------------------------------------------------------------


def test_admins_set_the_policy_members_and_observers_read_it(call: Call) -> None:
    status, headers, body = call("GET", "/files/retention")
    assert (status, headers["etag"]) == (200, '"0"')
    assert body == {"enabled": False, "days": 365, "warning_days": 7, "version": 0, "updated_at": None,
                    "updated_by": None}
    assert call("PUT", "/files/retention", {"enabled": True, "days": 90}, role="member")[0] == 403
    assert call("PUT", "/files/retention", {"enabled": True, "days": 90}, role="observer", user="o1")[0] == 403

    status, headers, body = call("PUT", "/files/retention", {"enabled": True, "days": 90}, role="admin", user="a1")
    assert (status, headers["etag"], body["version"], body["updated_by"]) == (200, '"1"', 1, "a1")
    for role, user in (("member", "u1"), ("observer", "o1")):
        status, headers, body = call("GET", "/files/retention", role=role, user=user)
        assert (status, body["enabled"], body["days"], headers["etag"]) == (200, True, 90, '"1"')
    assert call("GET", "/files/retention", tenant="t2")[2]["enabled"] is False  # another tenant's is its own


def test_if_match_guards_against_lost_updates(call: Call, aws: Any) -> None:
    from tests.support.events import claims_for, http_event, response_json
    from tests.support.members import seed_membership
    from tests.support.routing import handler_for

    def put(body: dict[str, Any], if_match: str) -> tuple[int, Any]:
        seed_membership("t1", "a1", "admin")
        event = http_event("PUT", "/files/retention", body=body, claims=claims_for("t1", "a1"),
                           headers={"if-match": if_match})
        from tests.component.files.conftest import ENV

        with function_environment(ENV):
            response = handler_for("PUT", "/files/retention")(event, lambda_context("files"))
        return response["statusCode"], response_json(response)

    assert put({"enabled": True, "days": 60}, '"0"')[0] == 200
    status, problem = put({"enabled": False, "days": 60}, '"0"')  # written on top of a version it did not see
    assert status == 412, problem
    assert put({"enabled": False, "days": 60}, '"1"')[0] == 200
    assert call("GET", "/files/retention")[2]["version"] == 2


def test_bad_input_is_a_422_naming_every_problem(call: Call) -> None:
    status, headers, problem = call("PUT", "/files/retention", {"enabled": "maybe", "days": 29, "colour": "red"},
                                    role="admin")
    assert status == 422 and headers["content-type"].startswith("application/problem+json"), problem
    assert {e["path"] for e in problem["errors"]} == {"body.enabled", "body.days", "body.colour"}, problem
    status, _, problem = call("PUT", "/files/retention", {"enabled": True, "days": 3651}, role="admin")
    assert status == 422 and [e["path"] for e in problem["errors"]] == ["body.days"]
    status, _, problem = call("PUT", "/files/retention", {}, role="admin")
    assert status == 422 and {e["path"] for e in problem["errors"]} == {"body.enabled", "body.days"}
    status, _, problem = call("GET", "/files/retention/preview", query="days=7&limit=0")
    assert status == 422 and {e["path"] for e in problem["errors"]} == {"query.days", "query.limit"}, problem
    assert call("GET", "/files/retention")[2]["version"] == 0  # nothing written


# --- what opens a file -------------------------------------------------------------------------------------------


def test_upload_download_thumbnail_and_reading_open_a_file_listing_does_not(call: Call, s3: Any,
                                                                            env: dict[str, str]) -> None:
    file = available(call, s3, env)
    assert call("GET", f"/files/{file['id']}")[2]["last_opened_at"][:10] == TODAY.isoformat()  # the upload
    for opening in (f"/files/{file['id']}", f"/files/{file['id']}/download"):
        backdate(env, file["id"], 40)
        assert store(env).change(keys.owner_pk("t1", "u1"), file["id"], set_fields={"warned_for": "2000-01-01"})
        call("GET", "/files")  # a list opens nothing
        assert stored(env, file["id"])["last_opened_at"][:10] != TODAY.isoformat()
        status, _, _ = call("GET", opening)
        assert status in (200, 302)
        item = stored(env, file["id"])
        assert item["last_opened_at"][:10] == TODAY.isoformat(), opening
        assert item["GSI2SK"] == f"{TODAY.isoformat()}#u1#{file['id']}"
        assert "warned_for" not in item, opening  # opening ends the warning


def test_a_file_opened_today_is_not_written_again(call: Call, s3: Any, env: dict[str, str]) -> None:
    file = available(call, s3, env)
    before = stored(env, file["id"])["last_opened_at"]
    assert call("GET", f"/files/{file['id']}/download")[0] == 302
    assert stored(env, file["id"])["last_opened_at"] == before  # same UTC day: no write


# --- the preview -------------------------------------------------------------------------------------------------


def test_preview_lists_due_and_warned_files_admins_see_the_tenant_others_their_own(
        call: Call, s3: Any, env: dict[str, str]) -> None:
    old = available(call, s3, env, "old.txt")
    soon = available(call, s3, env, "soon.txt", data=b"12345")
    theirs = available(call, s3, env, "theirs.txt", user="u2", data=b"123")
    recent = available(call, s3, env, "recent.txt")
    backdate(env, old["id"], 45)
    backdate(env, soon["id"], 27)
    backdate(env, theirs["id"], 31, user="u2")
    backdate(env, recent["id"], 10)
    enable(call, days=30)

    status, _, admin = call("GET", "/files/retention/preview", role="admin", user="admin")
    assert status == 200, admin
    assert admin["scope"] == "tenant" and admin["enabled"] is True and admin["days"] == 30
    as_of = date.fromisoformat(admin["as_of"])
    assert as_of in (TODAY, TODAY + timedelta(days=1))
    assert admin["next_sweep_at"].startswith(f"{as_of.isoformat()}T03:00:00")
    listed = {i["filename"]: i for i in admin["items"]}
    assert set(listed) == {"old.txt", "theirs.txt", "soon.txt"}
    assert [i["filename"] for i in admin["items"]] == ["old.txt", "theirs.txt", "soon.txt"]  # longest unopened first
    assert listed["old.txt"]["state"] == "due" and listed["theirs.txt"]["state"] == "due"
    assert listed["theirs.txt"]["user_id"] == "u2"
    assert listed["soon.txt"]["state"] == "warning"
    assert listed["soon.txt"]["delete_after"] == (TODAY - timedelta(days=27) + timedelta(days=30)).isoformat()
    assert admin["totals"] == {"due": {"count": 2, "bytes": 13}, "warning": {"count": 1, "bytes": 5}}

    mine = call("GET", "/files/retention/preview", role="member")[2]
    assert mine["scope"] == "own" and {i["filename"] for i in mine["items"]} == {"old.txt", "soon.txt"}
    assert mine["totals"] == {"due": {"count": 1, "bytes": 10}, "warning": {"count": 1, "bytes": 5}}
    observer = call("GET", "/files/retention/preview", role="observer", user="o1")[2]
    assert observer["items"] == [] and observer["totals"]["due"]["count"] == 0
    elsewhere = call("GET", "/files/retention/preview", role="admin", tenant="t2")[2]
    assert elsewhere["items"] == [] and elsewhere["enabled"] is False

    longer = call("GET", "/files/retention/preview", role="admin", user="admin", query="days=40")[2]
    assert {i["filename"]: i["state"] for i in longer["items"]} == {"old.txt": "due"}

    first = call("GET", "/files/retention/preview", role="admin", user="admin", query="limit=2")[2]
    assert len(first["items"]) == 2 and first["next_cursor"] and first["totals"]["due"]["count"] == 2
    second = call("GET", "/files/retention/preview", role="admin", user="admin",
                  query=f"limit=2&cursor={first['next_cursor']}")[2]
    assert [i["filename"] for i in second["items"]] == ["soon.txt"] and second["totals"] is None
    # A cursor is the admin's: a member cannot page the tenant's list with it.
    assert call("GET", "/files/retention/preview", query=f"limit=2&cursor={first['next_cursor']}")[0] == 400


# --- the sweep ---------------------------------------------------------------------------------------------------


def test_the_sweep_deletes_due_files_through_the_delete_path(call: Call, s3: Any, env: dict[str, str],
                                                             aws: Any, bus: Any) -> None:
    from tests.component.files.test_files_api import png

    aws.put_item(TableName="tasks", Item={"PK": {"S": "T#t1#U#u1"}, "SK": {"S": "TASK#task1"},
                                          "title": {"S": "t"}})
    picture = create(call, size=len(png()), content_type="image/png")
    assert arrive(s3, env, picture, png()) == "accepted"
    assert call("POST", f"/files/{picture['id']}/attachments", {"kind": "task", "id": "task1"})[0] == 200
    kept = available(call, s3, env, "kept.txt")
    backdate(env, picture["id"], 31)
    backdate(env, kept["id"], 30)  # kept through today (its delete_after)
    item = stored(env, picture["id"])
    assert item["thumbnail_key"] and exists(s3, item["thumbnail_key"])

    assert sweep(env)["deleted"] == []  # no policy, nothing goes
    enable(call, days=30)
    result = sweep(env, tenant=None)  # the scheduled input: every enabled tenant
    assert result["deleted"] == [picture["id"]] and result["complete"] and result["tenants"] == 1
    assert call("GET", f"/files/{picture['id']}")[0] == 404
    assert not exists(s3, item["object_key"]) and not exists(s3, item["thumbnail_key"])
    task = aws.get_item(TableName="tasks", Key={"PK": {"S": "T#t1#U#u1"}, "SK": {"S": "TASK#task1"}})["Item"]
    assert task["attachments"]["L"] == []  # detached as DELETE /files/{id} does
    quota = call("GET", "/files/quota")[2]
    assert (quota["used"], quota["reserved"]) == (10, 0)  # only kept.txt's bytes
    assert call("GET", f"/files/{kept['id']}")[0] == 200


def test_the_sweep_warns_each_owner_once_a_window(call: Call, s3: Any, env: dict[str, str], bus: Any) -> None:
    first = available(call, s3, env, "first.txt")
    second = available(call, s3, env, "second.txt")
    other = available(call, s3, env, "other.txt", user="u2")
    later = available(call, s3, env, "later.txt")
    opened = {f["id"]: backdate(env, f["id"], days, user=user) for f, days, user in
              ((first, 24, "u1"), (second, 30, "u1"), (other, 25, "u2"), (later, 23, "u1"))}
    enable(call, days=30)

    result = sweep(env)
    assert (result["warned_users"], result["warned_files"], result["deleted"]) == (2, 3, [])
    events = {e["detail"]["user_id"]: e for e in bus()}
    assert set(events) == {"u1", "u2"}
    mine = events["u1"]
    assert (mine["source"], mine["detail-type"]) == ("crewhouse.files", "file.retention.warning")
    assert mine["detail"]["tenant_id"] == "t1" and mine["detail"]["more"] == 0
    assert mine["detail"]["delete_after"] == TODAY.isoformat()  # the soonest: second.txt, deleted tomorrow
    assert mine["detail"]["files"] == [
        {"file_id": second["id"], "filename": "second.txt", "size": 10, "last_opened_at": opened[second["id"]],
         "delete_after": TODAY.isoformat()},
        {"file_id": first["id"], "filename": "first.txt", "size": 10, "last_opened_at": opened[first["id"]],
         "delete_after": (TODAY + timedelta(days=6)).isoformat()}]

    assert sweep(env)["warned_users"] == 0 and bus() == []  # the next run does not repeat it
    backdate(env, later["id"], 24)  # entering the window later: warned on its own
    assert sweep(env)["warned_files"] == 1
    assert [f["file_id"] for e in bus() for f in e["detail"]["files"]] == [later["id"]]

    assert call("GET", f"/files/{first['id']}/download")[0] == 302  # opening resets the warning ...
    backdate(env, first["id"], 24)  # ... so when it is unopened long enough again, a new warning goes out
    assert sweep(env)["warned_files"] == 1 and len(bus()) == 1


def test_a_warning_names_at_most_fifty_files_and_counts_the_rest(call: Call, s3: Any, env: dict[str, str],
                                                                   bus: Any) -> None:
    for n in range(53):
        backdate(env, available(call, s3, env, f"f{n:02}.txt")["id"], 25)
    enable(call, days=30)
    assert sweep(env)["warned_files"] == 53
    (event,) = bus()
    assert len(event["detail"]["files"]) == 50 and event["detail"]["more"] == 3
    assert sweep(env)["warned_files"] == 0  # the 3 counted ones were warned too


def test_a_file_opened_after_the_sweep_read_the_index_is_kept(call: Call, s3: Any, env: dict[str, str],
                                                               bus: Any) -> None:
    from crewhouse.files.wiring import retention_for

    file = available(call, s3, env)
    backdate(env, file["id"], 40)
    enable(call, days=30)
    with function_environment(env):
        retention = retention_for(with_events=True)
    read = retention.store.opened_before

    def then_opened(*args: Any, **kwargs: Any) -> Any:
        page = read(*args, **kwargs)
        assert call("GET", f"/files/{file['id']}/download")[0] == 302  # the owner opens it meanwhile
        return page

    retention.store.opened_before = then_opened  # type: ignore[method-assign]
    result = run_worker(env, "retention_sweep", {"tenant_id": "t1"}, retention=retention)
    assert (result["deleted"], result["skipped"]) == ([], [file["id"]])
    assert call("GET", f"/files/{file['id']}")[0] == 200 and exists(s3, f"uploads/t1/u1/{file['id']}")


def test_an_interrupted_sweep_re_run_deletes_each_file_once(call: Call, s3: Any, env: dict[str, str],
                                                             bus: Any) -> None:
    from crewhouse.files.wiring import retention_for

    files = [available(call, s3, env, f"{n}.txt") for n in range(3)]
    for file in files:
        backdate(env, file["id"], 40)
    enable(call, days=30)
    with function_environment(env):
        retention = retention_for(with_events=True)
    delete = retention.service._delete_item
    calls = {"n": 0}

    def crash_on_second(item: dict[str, Any]) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the first file gone, the second claimed, then the function dies
            raise TimeoutError("Task timed out")
        delete(item)

    retention.service._delete_item = crash_on_second  # type: ignore[method-assign]
    with pytest.raises(TimeoutError):
        run_worker(env, "retention_sweep", {"tenant_id": "t1"}, retention=retention)
    claimed = stored(env, files[1]["id"])
    assert claimed["retention_claim"] == TODAY.isoformat()
    assert call("GET", f"/files/{files[1]['id']}/download")[0] == 404  # being deleted: not handed out again
    assert call("GET", "/files/quota")[2]["used"] == 20

    again = sweep(env)
    assert sorted(again["deleted"]) == sorted(f["id"] for f in files[1:]) and again["complete"]
    assert sweep(env)["deleted"] == []
    quota = call("GET", "/files/quota")[2]
    assert (quota["used"], quota["reserved"], quota["available"]) == (0, 0, quota["limit"])  # returned once each
    assert not any(exists(s3, f"uploads/t1/u1/{f['id']}") for f in files)


def test_the_sweep_stops_before_the_timeout_and_says_so(call: Call, s3: Any, env: dict[str, str], bus: Any) -> None:
    from crewhouse.files.wiring import retention_for

    backdate(env, available(call, s3, env)["id"], 40)
    enable(call, days=30)
    with function_environment(env):
        report = retention_for(with_events=True).sweep(tenant_id="t1", time_left=lambda: 0)
    assert (report.complete, report.deleted, report.tenants) == (False, [], 0)


def test_the_sweep_answers_the_scheduler_with_a_summary(env: dict[str, str], bus: Any) -> None:
    result = run_worker(env, "retention_sweep", {})  # the schedule's input: every enabled tenant
    assert result == {"tenants": 0, "deleted": [], "skipped": [], "warned_users": 0, "warned_files": 0,
                      "complete": True}
