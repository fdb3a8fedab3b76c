"""The notes stream worker in-process on moto's stream records: the search index, the sync feed (served by
the tasks function), the trash lifecycle of S3 bodies, purges after TTL and pruning, and notebook deletes."""

from collections.abc import Callable
from typing import Any

import boto3
import pytest

from crewhouse.sync import feed as sync_feed
from tests.component.notes.conftest import BUCKET, Call
from tests.component.notes.test_notes_api import body_objects, create, notebook

Drain = Callable[[], dict[str, Any]]
OWNER = "T#t1#U#u1"


def titles(call: Call, q: str, query: str = "", user: str = "u1") -> list[str]:
    status, _, page = call("GET", "/notes/search", query=f"q={q}{'&' + query if query else ''}", user=user)
    assert status == 200, page
    return [n["title"] for n in page["items"]]


def test_search_ranks_and_filters_and_forgets_trashed_notes(call: Call, drain: Drain) -> None:
    book = notebook(call, "Travel")
    wanted = create(call, title="Passport renewal", body="bring two photos", notebook_id=book["id"], tags=["admin"])
    create(call, title="Photos", body="passport photos from the booth", favorite=True)
    create(call, title="Old trip", body="passport stamps", archived=True)
    assert drain() == {"batchItemFailures": []}

    assert titles(call, "passport") == ["Passport renewal", "Photos"]  # title above body; archived left out
    assert titles(call, "pass")[0] == "Passport renewal"  # prefix
    assert titles(call, "pasport")[0] == "Passport renewal"  # one typo
    assert titles(call, "passport", f"notebook_id={book['id']}") == ["Passport renewal"]
    assert titles(call, "passport", "tag=admin") == ["Passport renewal"]
    assert titles(call, "passport", "favorite=true") == ["Photos"]
    assert titles(call, "passport", "archived=true") == ["Old trip"]
    assert titles(call, "passport", "updated_from=2000-01-01T00:00:00Z&updated_to=2001-01-01T00:00:00Z") == []
    assert titles(call, "passport", "updated_from=2000-01-01T00:00:00Z") == ["Passport renewal", "Photos"]
    assert titles(call, "passport", user="u2") == []

    call("PATCH", f"/notes/{wanted['id']}", {"checklist": [{"text": "visa appointment"}]})
    call("DELETE", f"/notes/{wanted['id']}")
    drain()
    assert titles(call, "passport") == ["Photos"]
    call("POST", f"/notes/{wanted['id']}/restore")
    drain()
    assert titles(call, "visa") == ["Passport renewal"]  # checklist text is searchable


def test_sync_feed_carries_notes_and_notebooks_by_kind(call: Call, call_tasks: Call, drain: Drain,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sync_feed, "SETTLE_MS", 0)  # no waiting for entries to settle (tests/unit/sync covers it)
    token = call_tasks("GET", "/sync")[2]["token"]
    book = notebook(call, "Inbox")
    kept = create(call, title="kept", body="hello", notebook_id=book["id"])
    gone = create(call, title="gone")
    call("PATCH", f"/notes/{kept['id']}", {"title": "kept v2"})
    call("DELETE", f"/notes/{gone['id']}")
    drain()

    status, _, feed = call_tasks("GET", "/sync", query=f"since={token}")
    assert status == 200, feed
    by_kind = {(i["kind"], i["id"]): i for i in feed["items"]}
    shown = by_kind[("note", kept["id"])]
    assert {k: shown[k] for k in ("kind", "id", "title", "body", "version", "notebook_id")} == {
        "kind": "note", "id": kept["id"], "title": "kept v2", "body": "hello", "version": 2,
        "notebook_id": book["id"]}
    assert by_kind[("notebook", book["id"])]["name"] == "Inbox"
    assert ("note", gone["id"]) not in by_kind
    assert {"kind": "note", "id": gone["id"]} in feed["deleted"]
    quiet = call_tasks("GET", "/sync", query=f"since={feed['token']}")[2]
    assert (quiet["items"], quiet["deleted"]) == ([], [])
    assert call_tasks("GET", "/sync", query=f"since={token}", user="u2")[0] == 400  # a token is the user's own

    big = create(call, title="big", body="x " * (40 * 1024))  # 80 KiB: too big for the feed
    call("DELETE", f"/notebooks/{book['id']}", query="recursive=true")
    drain()
    later = call_tasks("GET", "/sync", query=f"since={quiet['token']}")[2]
    items = {(i["kind"], i["id"]): i for i in later["items"]}
    assert items[("note", big["id"])]["body"] is None and items[("note", big["id"])]["body_size"] == 80 * 1024
    assert {"kind": "notebook", "id": book["id"]} in later["deleted"]
    assert {"kind": "note", "id": kept["id"]} in later["deleted"]  # trashed with its notebook


def test_trashed_bodies_are_tagged_for_the_lifecycle_rule_and_untagged_on_restore(call: Call, drain: Drain) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    note = create(call, body="y" * (310 * 1024))
    (key,) = body_objects()
    drain()

    def tags() -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]}

    call("DELETE", f"/notes/{note['id']}")
    assert drain() == {"batchItemFailures": []}
    assert tags() == {"crewhouse-trash": "true"}
    call("POST", f"/notes/{note['id']}/restore")
    drain()
    assert tags() == {}
    assert call("GET", f"/notes/{note['id']}")[2]["body"] == "y" * (310 * 1024)


def test_ttl_expiry_purges_revisions_and_bodies(call: Call, drain: Drain, aws: Any) -> None:
    note = create(call, body="z" * (310 * 1024))
    call("PATCH", f"/notes/{note['id']}", {"title": "second"})
    assert len(body_objects()) == 2
    call("DELETE", f"/notes/{note['id']}")
    drain()
    # What DynamoDB TTL does once expires_at has passed: the item goes, the stream reports a REMOVE.
    aws.delete_item(TableName="notes", Key={"PK": {"S": OWNER}, "SK": {"S": f"NOTE#{note['id']}"}})
    assert drain() == {"batchItemFailures": []}
    left = aws.query(TableName="notes", KeyConditionExpression="PK = :pk",
                     ExpressionAttributeValues={":pk": {"S": f"{OWNER}#NOTE#{note['id']}"}})["Items"]
    assert left == []
    assert body_objects() == []


def test_a_pruned_revision_takes_its_body_along(call: Call, drain: Drain, aws: Any) -> None:
    note = create(call, body="w" * (310 * 1024))
    call("PATCH", f"/notes/{note['id']}", {"title": "next"})
    first = aws.get_item(TableName="notes", Key={"PK": {"S": f"{OWNER}#NOTE#{note['id']}"},
                                                  "SK": {"S": "REV#0000000001"}})["Item"]["body_key"]["S"]
    drain()
    # The write path deletes revision n - 100 in the transaction that writes revision n; its body follows.
    aws.delete_item(TableName="notes", Key={"PK": {"S": f"{OWNER}#NOTE#{note['id']}"},
                                             "SK": {"S": "REV#0000000001"}})
    drain()
    remaining = body_objects()
    assert first not in remaining and len(remaining) == 1
    assert call("GET", f"/notes/{note['id']}")[2]["body"] == "w" * (310 * 1024)


def test_notes_left_in_a_deleted_notebook_go_to_the_trash(call: Call, drain: Drain, aws: Any) -> None:
    book = notebook(call, "Old")
    note = create(call, title="left behind", notebook_id=book["id"])
    # A recursive delete that ran out of time: the notebook is gone, its note is not trashed yet.
    aws.delete_item(TableName="notes", Key={"PK": {"S": OWNER}, "SK": {"S": f"NOTEBOOK#{book['id']}"}})
    assert call("GET", f"/notes/{note['id']}")[0] == 200
    drain()
    assert call("GET", f"/notes/{note['id']}")[0] == 404
    assert [n["id"] for n in call("GET", "/notes/trash")[2]["items"]] == [note["id"]]
