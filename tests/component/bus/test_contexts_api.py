"""The contexts Lambda in-process against moto: versions and If-Match, visibility by scope and role, expiry before
DynamoDB's TTL, inline and S3-held payloads, the long poll, and the events and audit records a change leaves."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests

from crewhouse.bus.contexts_api import handler
from crewhouse.bus.rate_limit import rate_attributes
from tests.support.bus import AUDIT_TABLE, BUCKET, BUS_TABLE, PLATFORM, Call, as_agent, as_person
from tests.support.event_inbox import event_inbox, sent_events
from tests.support.mock import mocked_aws

# Lower-case ULIDs, as the registry makes them.
AGENT_A, AGENT_B, AGENT_C = "01jabcdefghjkmnpqrstvwxyz0", "01jabcdefghjkmnpqrstvwxyz1", "01jabcdefghjkmnpqrstvwxyz2"
KIB = 1024


def keyed_table(dynamodb: Any, name: str, indexes: int) -> None:
    """A table keyed PK/SK with GSI1..n keyed GSInPK/GSInSK, as every Crewhouse table (the contract's shape)."""
    keys = ["PK", "SK"] + [f"GSI{n}{part}" for n in range(1, indexes + 1) for part in ("PK", "SK")]
    gsis = [{"IndexName": f"GSI{n}", "Projection": {"ProjectionType": "ALL"},
             "KeySchema": [{"AttributeName": f"GSI{n}PK", "KeyType": "HASH"},
                           {"AttributeName": f"GSI{n}SK", "KeyType": "RANGE"}]} for n in range(1, indexes + 1)]
    dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in keys],
                          KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"},
                                     {"AttributeName": "SK", "KeyType": "RANGE"}],
                          **({"GlobalSecondaryIndexes": gsis} if gsis else {}))


def create_resources() -> Any:
    """The bus, audit and platform tables, the payloads bucket and the event bus (not from the template: the
    context's other functions are being written alongside, and synthesizing needs every one of them)."""
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    keyed_table(dynamodb, BUS_TABLE, 2)
    keyed_table(dynamodb, AUDIT_TABLE, 2)
    keyed_table(dynamodb, PLATFORM, 0)
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
    boto3.client("events", region_name="us-east-1").create_event_bus(Name="crewhouse")
    return dynamodb


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    with mocked_aws(monkeypatch):
        dynamodb = create_resources()
        for agent_id in (AGENT_A, AGENT_B, AGENT_C):
            seed_agent(dynamodb, agent_id)
        yield {"dynamodb": dynamodb, "s3": boto3.client("s3", region_name="us-east-1"),
               "events": event_inbox("crewhouse.bus")}


def seed_agent(dynamodb: Any, agent_id: str, tenant: str = "t1", role: str = "agent-full") -> None:
    """An agent's record as the registry writes it (the caller's role and rate limit are read from it)."""
    from crewhouse.core.dynamo import ItemCodec

    record = {"PK": f"T#{tenant}#AGENT#{agent_id}", "SK": "AGENT", "agent_id": agent_id, "tenant_id": tenant,
              "name": agent_id[-4:], "kind": "external", "role": role, "capabilities": [], "status": "online",
              "version": 1, **rate_attributes(1000)}
    dynamodb.put_item(TableName=BUS_TABLE, Item=ItemCodec().dump(record))


@pytest.fixture
def agent_a(aws: Any) -> Call:
    return as_agent(handler, AGENT_A)


@pytest.fixture
def agent_b(aws: Any) -> Call:
    return as_agent(handler, AGENT_B)


def create(call: Call, **fields: Any) -> dict[str, Any]:
    default = {} if "payload_base64" in fields else {"payload": {"step": 1}}
    body = {"name": "plan", **default, **fields}
    status, created, headers = call("POST", "/contexts", body)
    assert status == 201, created
    assert headers["etag"] == '"1"' and headers["location"] == f"/contexts/{created['id']}"
    return dict(created)


def test_create_read_update_versions_and_delete(agent_a: Call, aws: dict[str, Any]) -> None:
    created = create(agent_a, tags=["plans", "q3"], payload={"step": 1, "note": None})
    assert created["version"] == 1 and created["owner"] == f"agent:{AGENT_A}" and created["scope"] == "private"
    assert created["payload"] == {"step": 1, "note": None}  # a JSON null inside survives
    assert created["sha256"] == hashlib.sha256(b'{"step":1,"note":null}').hexdigest() and created["size"] == 22
    assert created["content_type"] == "application/json" and created["storage"] == "inline"
    context_id = created["id"]

    status, read, headers = agent_a("GET", f"/contexts/{context_id}")
    assert (status, read, headers["etag"]) == (200, created, '"1"')

    status, updated, headers = agent_a("PUT", f"/contexts/{context_id}", {"payload": {"step": 2}},
                                       headers={"If-Match": '"1"'})
    assert status == 200, updated
    assert (updated["version"], updated["payload"], headers["etag"]) == (2, {"step": 2}, '"2"')
    assert updated["tags"] == ["plans", "q3"] and updated["created_at"] == created["created_at"]

    status, stale, _ = agent_a("PUT", f"/contexts/{context_id}", {"payload": {"step": 3}},
                               headers={"If-Match": '"1"'})
    assert status == 412 and stale["current_version"] == 2
    assert agent_a("GET", f"/contexts/{context_id}")[1]["version"] == 2  # the stale write left nothing

    status, old, headers = agent_a("GET", f"/contexts/{context_id}", query="version=1")
    assert (status, old["payload"], old["version"], headers["etag"]) == (200, {"step": 1, "note": None}, 1, '"1"')
    assert agent_a("GET", f"/contexts/{context_id}", query="version=3")[0] == 404

    status, versions, _ = agent_a("GET", f"/contexts/{context_id}/versions")
    assert status == 200 and [v["version"] for v in versions["items"]] == [2, 1]  # newest first
    assert versions["items"][1]["sha256"] == created["sha256"] and "payload" not in versions["items"][0]
    status, first_page, _ = agent_a("GET", f"/contexts/{context_id}/versions", query="limit=1")
    assert [v["version"] for v in first_page["items"]] == [2] and first_page["next_cursor"]
    _, rest, _ = agent_a("GET", f"/contexts/{context_id}/versions",
                         query=f"limit=1&cursor={first_page['next_cursor']}")
    assert [v["version"] for v in rest["items"]] == [1]

    assert agent_a("DELETE", f"/contexts/{context_id}", headers={"If-Match": '"1"'})[0] == 412
    assert agent_a("DELETE", f"/contexts/{context_id}")[0] == 204
    assert agent_a("GET", f"/contexts/{context_id}")[0] == 404
    assert agent_a("GET", f"/contexts/{context_id}", query="version=1")[0] == 404
    leftovers = aws["dynamodb"].query(TableName=BUS_TABLE, KeyConditionExpression="PK = :pk",
                                      ExpressionAttributeValues={":pk": {"S": f"T#t1#CTX#{context_id}"}})
    assert leftovers["Items"] == []

    actions = [(r["action"]["S"], r["resource"]["S"], r["actor"]["S"])
               for r in aws["dynamodb"].scan(TableName=AUDIT_TABLE)["Items"]
               if "action" in r]  # the records, not the markers of the days that have some
    resource = f"context/{context_id}"
    assert sorted(actions) == sorted([("context.create", resource, f"agent:{AGENT_A}"),
                                      ("context.update", resource, f"agent:{AGENT_A}"),
                                      ("context.delete", resource, f"agent:{AGENT_A}")])


def test_events_name_the_change_and_never_carry_the_payload(agent_a: Call, aws: dict[str, Any]) -> None:
    created = create(agent_a, name="notes", scope="tenant", payload={"secret": "s3cr3t"})
    agent_a("PUT", f"/contexts/{created['id']}", {"payload": {"secret": "other"}})
    agent_a("DELETE", f"/contexts/{created['id']}")
    events = sent_events(aws["events"])
    assert {e["source"] for e in events} == {"crewhouse.bus"}
    assert [e["detail-type"] for e in events] == ["context.created", "context.updated", "context.deleted"]
    assert [e["detail"] for e in events] == [
        {"tenant_id": "t1", "context_id": created["id"], "version": v, "name": "notes", "scope": "tenant"}
        for v in (1, 2, 2)]
    assert "s3cr3t" not in json.dumps(events) and "other" not in json.dumps(events)


def test_private_context_of_one_agent_is_404_to_another(agent_a: Call, agent_b: Call) -> None:
    private = create(agent_a, scope="private")
    for method, body in (("GET", None), ("PUT", {"payload": 1}), ("DELETE", None)):
        status, problem, _ = agent_b(method, f"/contexts/{private['id']}", body)
        assert status == 404, (method, problem)
    assert agent_b("GET", f"/contexts/{private['id']}/versions")[0] == 404
    assert agent_b("GET", f"/contexts/{private['id']}", query="wait_version=2&wait_seconds=0")[0] == 404
    missing = agent_b("GET", "/contexts/01jzzzzzzzzzzzzzzzzzzzzzzz")[1]
    hidden = agent_b("GET", f"/contexts/{private['id']}")[1]
    assert (missing["type"], missing["title"]) == (hidden["type"], hidden["title"])  # hidden reads as missing
    assert agent_b("GET", "/contexts")[1]["items"] == []
    assert [c["id"] for c in agent_a("GET", "/contexts")[1]["items"]] == [private["id"]]
    other_tenant = as_agent(handler, AGENT_A, tenant="t2")
    seed_agent(boto3.client("dynamodb", region_name="us-east-1"), AGENT_A, tenant="t2")
    assert other_tenant("GET", f"/contexts/{private['id']}")[0] == 404


def test_group_members_read_and_write_but_only_the_owner_changes_the_group(agent_a: Call, agent_b: Call,
                                                                            aws: Any) -> None:
    shared = create(agent_a, scope="group", members=[AGENT_B])
    agent_c = as_agent(handler, AGENT_C)
    assert agent_b("GET", f"/contexts/{shared['id']}")[0] == 200
    assert agent_c("GET", f"/contexts/{shared['id']}")[0] == 404
    status, written, _ = agent_b("PUT", f"/contexts/{shared['id']}", {"payload": {"by": "b"}})
    assert (status, written["version"], written["owner"]) == (200, 2, f"agent:{AGENT_A}")
    status, problem, _ = agent_b("PUT", f"/contexts/{shared['id']}", {"payload": 1, "members": [AGENT_B, AGENT_C]})
    assert status == 403 and problem["type"].endswith("context-not-owner")
    assert agent_b("DELETE", f"/contexts/{shared['id']}")[0] == 403
    status, regrouped, _ = agent_a("PUT", f"/contexts/{shared['id']}", {"payload": 2, "members": [AGENT_C]})
    assert status == 200 and regrouped["members"] == [AGENT_C]
    assert agent_b("GET", f"/contexts/{shared['id']}")[0] == 404
    assert agent_c("GET", f"/contexts/{shared['id']}")[0] == 200
    status, problem, _ = agent_a("POST", "/contexts", {"name": "x", "payload": 1, "members": [AGENT_B]})
    assert status == 422  # members go with scope group only


def test_tenant_context_is_read_by_any_agent_but_written_by_its_owner(agent_a: Call, agent_b: Call) -> None:
    shared = create(agent_a, scope="tenant")
    assert agent_b("GET", f"/contexts/{shared['id']}")[0] == 200
    status, problem, _ = agent_b("PUT", f"/contexts/{shared['id']}", {"payload": 1})
    assert status == 403 and problem["type"].endswith("context-not-writer")


def test_observer_sees_only_public_contexts_and_admin_sees_all(agent_a: Call, aws: Any) -> None:
    contexts = {scope: create(agent_a, name=f"n-{scope}", scope=scope, **({"members": [AGENT_B]} if scope == "group"
                                                                          else {}))
                for scope in ("private", "group", "tenant", "public")}
    observer = as_person(handler, "olga", role="member")
    for scope, context in contexts.items():
        assert observer("GET", f"/contexts/{context['id']}")[0] == (200 if scope == "public" else 404), scope
    assert [c["scope"] for c in observer("GET", "/contexts")[1]["items"]] == ["public"]
    status, problem, _ = observer("PUT", f"/contexts/{contexts['public']['id']}", {"payload": 1})
    assert status == 403 and problem["type"].endswith("bus-role")
    assert observer("POST", "/contexts", {"name": "mine", "payload": 1})[0] == 403

    admin = as_person(handler, "ada", role="admin")
    _, listed, _ = admin("GET", "/contexts")
    assert sorted(c["scope"] for c in listed["items"]) == ["group", "private", "public", "tenant"]
    assert admin("PUT", f"/contexts/{contexts['private']['id']}", {"payload": "fixed"})[0] == 200
    assert admin("DELETE", f"/contexts/{contexts['private']['id']}")[0] == 204


def test_list_filters_by_name_and_tag_with_a_signed_cursor(agent_a: Call, agent_b: Call) -> None:
    alpha = create(agent_a, name="alpha", scope="tenant", tags=["red"])
    beta = create(agent_a, name="beta", scope="tenant", tags=["blue"])
    create(agent_a, name="alphabet", scope="tenant")
    create(agent_a, name="alpha#2", scope="tenant")
    assert [c["id"] for c in agent_b("GET", "/contexts", query="name=alpha")[1]["items"]] == [alpha["id"]]
    assert [c["id"] for c in agent_b("GET", "/contexts", query="tag=blue")[1]["items"]] == [beta["id"]]
    _, page, _ = agent_b("GET", "/contexts", query="limit=2")
    assert [c["name"] for c in page["items"]] == ["alpha", "alpha#2"] and page["next_cursor"]
    _, rest, _ = agent_b("GET", "/contexts", query=f"limit=2&cursor={page['next_cursor']}")
    assert [c["name"] for c in rest["items"]] == ["alphabet", "beta"]
    if rest["next_cursor"]:  # DynamoDB may not know yet that the page was the last
        assert agent_b("GET", "/contexts", query=f"limit=2&cursor={rest['next_cursor']}")[1]["items"] == []
    assert agent_a("GET", "/contexts", query=f"limit=2&cursor={page['next_cursor']}")[0] == 400  # not its cursor


def test_an_expired_context_is_404_before_dynamodb_deletes_it(agent_a: Call, aws: dict[str, Any]) -> None:
    lasting = create(agent_a, name="lasting", ttl_seconds=3600)
    expiring = create(agent_a, name="expiring", ttl_seconds=60)
    assert expiring["expires_at"] is not None
    items = aws["dynamodb"].query(TableName=BUS_TABLE, KeyConditionExpression="PK = :pk",
                                  ExpressionAttributeValues={":pk": {"S": f"T#t1#CTX#{expiring['id']}"}})["Items"]
    assert {i["SK"]["S"] for i in items} == {"HEAD", "V#0000000001"}
    assert all(int(i["expires_epoch"]["N"]) > time.time() for i in items)  # every item carries the TTL
    for item in items:  # time passes: the TTL is due, but DynamoDB has not deleted the items yet
        aws["dynamodb"].update_item(TableName=BUS_TABLE, Key={"PK": item["PK"], "SK": item["SK"]},
                                    UpdateExpression="SET expires_epoch = :past",
                                    ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}})
    assert agent_a("GET", f"/contexts/{expiring['id']}")[0] == 404
    assert agent_a("GET", f"/contexts/{expiring['id']}", query="version=1")[0] == 404
    assert agent_a("PUT", f"/contexts/{expiring['id']}", {"payload": 1})[0] == 404
    assert [c["id"] for c in agent_a("GET", "/contexts")[1]["items"]] == [lasting["id"]]
    assert agent_a("GET", f"/contexts/{lasting['id']}")[0] == 200


def test_payloads_over_256_kib_live_in_s3_and_download_by_range(agent_a: Call, aws: dict[str, Any]) -> None:
    at_limit = b"i" * (256 * KIB)
    inline = create(agent_a, payload_base64=base64.b64encode(at_limit).decode(), content_type="text/plain")
    assert inline["storage"] == "inline" and base64.b64decode(inline["payload_base64"]) == at_limit
    assert "download_url" not in inline
    assert agent_a("GET", f"/contexts/{inline['id']}/download")[0] == 409

    large = bytes(range(256)) * (300 * 4)  # 300 KiB
    created = create(agent_a, payload_base64=base64.b64encode(large).decode())
    assert created["storage"] == "s3" and created["size"] == len(large) and "payload_base64" not in created
    assert created["sha256"] == hashlib.sha256(large).hexdigest()
    assert created["content_type"] == "application/octet-stream"
    version_item = aws["dynamodb"].get_item(TableName=BUS_TABLE, Key={
        "PK": {"S": f"T#t1#CTX#{created['id']}"}, "SK": {"S": "V#0000000001"}})["Item"]
    key = version_item["s3_key"]["S"]
    assert "payload" not in version_item and key.startswith(f"contexts/t1/{created['id']}/v1-")
    assert aws["s3"].get_object(Bucket=BUCKET, Key=key)["Body"].read() == large

    fetched = requests.get(created["download_url"], timeout=10)
    assert fetched.status_code == 200 and fetched.content == large
    status, download, _ = agent_a("GET", f"/contexts/{created['id']}/download")
    assert status == 200 and download["sha256"] == created["sha256"] and download["expires_in"] == 900
    ranged = requests.get(download["url"], headers={"Range": "bytes=1000-1999"}, timeout=10)
    assert ranged.status_code == 206 and ranged.content == large[1000:2000]

    agent_a("PUT", f"/contexts/{created['id']}", {"payload": "small again"})
    assert agent_a("GET", f"/contexts/{created['id']}")[1]["payload"] == "small again"
    assert agent_a("GET", f"/contexts/{created['id']}", query="version=1")[1]["storage"] == "s3"
    assert agent_a("DELETE", f"/contexts/{created['id']}")[0] == 204
    assert aws["s3"].list_objects_v2(Bucket=BUCKET, Prefix=f"contexts/t1/{created['id']}/").get("KeyCount") == 0


def test_bad_bodies_are_refused(agent_a: Call) -> None:
    assert agent_a("POST", "/contexts", {"name": "x"})[0] == 422  # no payload
    assert agent_a("POST", "/contexts", {"name": "x", "payload": 1, "payload_base64": "AA=="})[0] == 422
    assert agent_a("POST", "/contexts", {"name": "x", "payload_base64": "not base64!"})[0] == 422
    assert agent_a("POST", "/contexts", {"name": "", "payload": 1})[0] == 422
    assert agent_a("POST", "/contexts", {"name": "x", "payload": 1, "scope": "world"})[0] == 422
    assert agent_a("POST", "/contexts", {"name": "x", "payload": 1, "ttl_seconds": 59})[0] == 422
    assert agent_a("POST", "/contexts", {"name": "x", "payload": 1, "tags": [str(i) for i in range(21)]})[0] == 422
    status, problem, _ = agent_a("POST", "/contexts", {"name": "x", "payload": "a" * (1024 * KIB)})
    assert status == 413, problem


def test_long_poll_answers_when_the_version_arrives(agent_a: Call, agent_b: Call) -> None:
    shared = create(agent_a, scope="group", members=[AGENT_B])

    def write_later() -> None:
        time.sleep(0.6)
        agent_a("PUT", f"/contexts/{shared['id']}", {"payload": {"step": 2}})

    writer = threading.Thread(target=write_later)
    started = time.monotonic()
    writer.start()
    status, answer, headers = agent_b("GET", f"/contexts/{shared['id']}", query="wait_version=2&wait_seconds=10")
    waited = time.monotonic() - started
    writer.join()
    assert status == 200 and answer["version"] == 2 and answer["payload"] == {"step": 2}
    assert "x-bus-wait" not in headers and headers["etag"] == '"2"'
    assert 0.5 < waited < 5


def test_long_poll_times_out_with_the_current_version(agent_a: Call) -> None:
    created = create(agent_a)
    started = time.monotonic()
    status, answer, headers = agent_a("GET", f"/contexts/{created['id']}", query="wait_version=2&wait_seconds=0.6")
    waited = time.monotonic() - started
    assert (status, answer["version"], headers["x-bus-wait"]) == (200, 1, "timeout")
    assert 0.4 < waited < 3
    status, at_once, headers = agent_a("GET", f"/contexts/{created['id']}", query="wait_version=1")
    assert status == 200 and at_once["version"] == 1 and "x-bus-wait" not in headers
    assert agent_a("GET", f"/contexts/{created['id']}", query="wait_version=2&wait_seconds=26")[0] == 422


def test_a_large_payload_with_a_ttl_is_tagged_for_the_bucket_lifecycle(agent_a: Call, aws: dict[str, Any]) -> None:
    from crewhouse.bus.contexts import EXPIRY_TAG

    large = base64.b64encode(b"t" * (300 * KIB)).decode()
    lasting = create(agent_a, payload_base64=large)
    expiring = create(agent_a, name="for a week", payload_base64=large, ttl_seconds=3 * 86_400)

    def tags(context_id: str) -> dict[str, str]:
        [key] = [o["Key"] for o in aws["s3"].list_objects_v2(Bucket=BUCKET, Prefix=f"contexts/t1/{context_id}/")
                 .get("Contents", [])]
        return {t["Key"]: t["Value"] for t in aws["s3"].get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]}

    assert tags(lasting["id"]) == {}
    assert tags(expiring["id"]) == {EXPIRY_TAG: "7"}  # 3 days: the 7-day class outlives it
