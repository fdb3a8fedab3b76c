"""The registry Lambda in-process against moto: registration with client credentials, the token exchange and the
API's authorizer, heartbeats and the offline sweep, discovery, roles, rate limits, cards and the audit trail."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest

from crewhouse.bus.agents_api import handler
from crewhouse.bus.agents_store import DynamoAgents
from crewhouse.bus.workers import sweep
from crewhouse.core.settings import function_environment
from crewhouse.core.table import Table
from crewhouse.platform import authorizer
from tests.support.bus import (
    BUS_TABLE,
    HASH_KEY,
    PLATFORM,
    Call,
    agent_claims,
    as_agent,
    as_person,
    create_bus_resources,
    invoke,
)
from tests.support.events import http_event, lambda_context
from tests.support.mock import mocked_aws

EXTERNAL = {"name": "Researcher", "capabilities": ["research.web", "summarize"], "role": "agent-full",
            "heartbeat_interval_seconds": 10}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mocked_aws(monkeypatch):
        yield create_bus_resources()


@pytest.fixture
def admin(aws: Any) -> Call:
    return as_person(handler, "ada", role="admin")


def register(admin: Call, **fields: Any) -> dict[str, Any]:
    status, body, headers = admin("POST", "/agents", {**EXTERNAL, **fields})
    assert status == 201, body
    assert headers["location"] == f"/agents/{body['id']}"
    return dict(body)


def exchange(fields: dict[str, str], headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
    event = http_event("POST", "/bus/token", raw_body=urlencode(fields),
                       headers={"content-type": "application/x-www-form-urlencoded", **(headers or {})})
    assert "authorizer" not in event["requestContext"]  # a public route: no authorizer ran
    return invoke(handler, event)


def token_for(credentials: dict[str, str]) -> str:
    status, body, headers = exchange({"grant_type": "client_credentials", "client_id": credentials["client_id"],
                                      "client_secret": credentials["client_secret"]})
    assert status == 200, body
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and headers["cache-control"] == "no-store"
    return str(body["access_token"])


def authorize(token: str) -> dict[str, Any]:
    event = {"type": "REQUEST", "routeKey": "GET /agents", "headers": {"authorization": f"Bearer {token}"}}
    with function_environment({"PLATFORM_TABLE": PLATFORM, "TOKEN_HASH_KEY": HASH_KEY, "USER_POOL_ID": "p",
                               "API_AUDIENCES": "x", "AWS_REGION": "us-east-1"}):
        return dict(authorizer.handler(event, lambda_context("authorizer")))


def with_token(token: str) -> Call:
    """The registry called with what the authorizer said about ``token``."""
    claims = {k: str(v) for k, v in authorize(token)["context"].items()}

    def call(method: str, path: str, body: Any = None, *, query: str = "",
             headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        return invoke(handler, http_event(method, path, body=body, claims=claims, query=query, headers=headers))

    return call


def test_registration_answers_credentials_once_and_keeps_only_their_hash(aws: Any, admin: Call) -> None:
    agent = register(admin)
    credentials = agent["credentials"]
    assert credentials["client_id"] == agent["id"] and credentials["client_secret"].startswith("chs_")
    assert credentials["token_url"] == "https://api.test/bus/token"
    stored = json.dumps([aws.scan(TableName=t)["Items"] for t in (BUS_TABLE, PLATFORM)])
    assert credentials["client_secret"] not in stored
    status, shown, _ = admin("GET", f"/agents/{agent['id']}")
    assert status == 200 and "credentials" not in shown and shown["has_credentials"] is True
    assert shown["status"] == "offline" and shown["capabilities"] == ["research.web", "summarize"]
    # Its inbox exists, with a dead-letter queue after max_deliveries receives.
    queues = boto3.client("sqs", region_name="us-east-1").list_queues()["QueueUrls"]
    assert any(url.endswith(f"crewhouse-bus-{agent['id']}") for url in queues)
    assert any(url.endswith(f"crewhouse-bus-{agent['id']}-dlq") for url in queues)


def test_an_exchanged_token_passes_the_authorizer_and_acts_as_the_agent(aws: Any, admin: Call) -> None:
    agent = register(admin)
    token = token_for(agent["credentials"])
    assert token.startswith("cha_") and token not in json.dumps(aws.scan(TableName=PLATFORM)["Items"])
    context = authorize(token)["context"]
    assert (context["credential"], context["agent_id"], context["tenant_id"]) == ("agent-token", agent["id"], "t1")
    me = with_token(token)
    status, beat, headers = me("PUT", f"/agents/{agent['id']}/heartbeat")
    assert status == 200 and beat["status"] == "online", beat
    assert headers["ratelimit-limit"] == "1000" and int(headers["ratelimit-remaining"]) == 999
    assert admin("GET", f"/agents/{agent['id']}")[1]["status"] == "online"
    # Basic authentication works as well as form fields (RFC 6749 2.3.1).
    basic = base64.b64encode(f"{agent['id']}:{agent['credentials']['client_secret']}".encode()).decode()
    assert exchange({"grant_type": "client_credentials"}, {"authorization": f"Basic {basic}"})[0] == 200


@pytest.mark.parametrize("fields, status, error", [
    ({"grant_type": "client_credentials", "client_secret": "wrong"}, 401, "invalid_client"),
    ({"grant_type": "client_credentials", "client_secret": "chs_" + "A" * 36}, 401, "invalid_client"),
    ({"grant_type": "password", "client_secret": "x"}, 400, "unsupported_grant_type"),
    ({"grant_type": "client_credentials"}, 400, "invalid_request"),
])
def test_the_token_exchange_refuses_bad_requests(admin: Call, fields: dict[str, str], status: int,
                                                 error: str) -> None:
    agent = register(admin)
    answer, body, _ = exchange({"client_id": agent["id"], **fields})
    assert (answer, body["error"]) == (status, error), body
    assert body["status"] == status and body["type"].startswith("https://crewhouse.dev/problems/")


def test_rotation_and_revocation_stop_earlier_tokens_and_secrets(admin: Call) -> None:
    agent = register(admin)
    old_token = token_for(agent["credentials"])
    old = with_token(old_token)
    assert old("GET", "/agents")[0] == 200
    status, rotated, _ = admin("POST", f"/agents/{agent['id']}/credentials")
    assert status == 200 and rotated["client_secret"] != agent["credentials"]["client_secret"]
    assert old("GET", "/agents")[0] == 401  # issued before the rotation
    assert exchange({"grant_type": "client_credentials", "client_id": agent["id"],
                     "client_secret": agent["credentials"]["client_secret"]})[0] == 401
    new = with_token(token_for(rotated))
    assert new("GET", "/agents")[0] == 200
    assert admin("DELETE", f"/agents/{agent['id']}/credentials")[0] == 204
    assert new("GET", "/agents")[0] == 401
    assert exchange({"grant_type": "client_credentials", "client_id": agent["id"],
                     "client_secret": rotated["client_secret"]})[0] == 401
    assert admin("GET", f"/agents/{agent['id']}")[1]["has_credentials"] is False


def test_discovery_by_capability_kind_and_status_stays_in_the_tenant(aws: Any, admin: Call) -> None:
    researcher = register(admin)
    writer = register(admin, name="Writer", capabilities=["write"])
    hosted = register(admin, name="Planner", kind="hosted", capabilities=["plan", "summarize"])
    other_tenant = as_person(handler, "bob", tenant="t2", role="admin")
    assert other_tenant("POST", "/agents", {**EXTERNAL, "name": "Elsewhere"})[0] == 201
    as_agent(handler, researcher["id"])("PUT", f"/agents/{researcher['id']}/heartbeat")

    def names(query: str) -> list[str]:
        status, page, _ = admin("GET", "/agents", query=query)
        assert status == 200, page
        return sorted(agent["name"] for agent in page["items"])

    assert names("") == ["Planner", "Researcher", "Writer"]
    assert names("capability=summarize") == ["Planner", "Researcher"]
    assert names("kind=hosted") == ["Planner"]
    assert names("kind=external&capability=summarize") == ["Researcher"]
    assert names("status=online") == ["Planner", "Researcher"]
    assert names("status=offline") == ["Writer"]
    assert admin("GET", "/agents", query="status=asleep")[0] == 422
    # Pages: a cursor moves on, and is refused for another list.
    status, first, _ = admin("GET", "/agents", query="limit=2")
    assert status == 200 and len(first["items"]) == 2 and first["next_cursor"]
    status, rest, _ = admin("GET", "/agents", query=f"limit=2&cursor={first['next_cursor']}")
    # Listed by kind, then name: external ones first.
    assert [a["name"] for a in first["items"] + rest["items"]] == ["Researcher", "Writer", "Planner"]
    assert rest["next_cursor"] is None and hosted["id"] != writer["id"]
    assert admin("GET", "/agents", query=f"kind=hosted&cursor={first['next_cursor']}")[0] == 400
    # Another tenant's agent reads as missing.
    assert other_tenant("GET", f"/agents/{researcher['id']}")[0] == 404


def test_roles_decide_who_registers_and_an_agent_acts_for_itself_only(aws: Any, admin: Call) -> None:
    consumer = register(admin, role="agent-consumer")
    other = register(admin, name="Other")
    observer = as_person(handler, "olga", role="member")
    assert observer("GET", "/agents")[0] == 200
    status, refused, _ = observer("POST", "/agents", EXTERNAL)
    assert status == 403 and refused["type"].endswith("/bus-role")
    me = as_agent(handler, consumer["id"])
    assert me("POST", "/agents", EXTERNAL)[0] == 403
    assert me("PUT", f"/agents/{other['id']}/heartbeat")[0] == 403
    assert me("PUT", f"/agents/{consumer['id']}/heartbeat")[0] == 200
    assert me("PATCH", f"/agents/{consumer['id']}", {"capabilities": ["review"]})[0] == 200
    assert me("PATCH", f"/agents/{consumer['id']}", {"role": "agent-full"})[0] == 403
    assert me("GET", "/audit")[0] == 403 and observer("GET", "/audit")[0] == 403
    assert as_agent(handler, "01nosuchagent0000000000000")("GET", "/agents")[0] == 401


def test_an_agent_over_its_rate_limit_gets_429_with_the_headers(admin: Call) -> None:
    agent = register(admin, rate_limit_per_minute=3)
    me = as_agent(handler, agent["id"])
    answers = [me("GET", f"/agents/{agent['id']}") for _ in range(4)]
    assert [status for status, _, _ in answers] == [200, 200, 200, 429]
    _, problem, headers = answers[-1]
    assert problem["type"].endswith("/rate-limited") and problem["status"] == 429
    assert headers["ratelimit-limit"] == "3" and headers["ratelimit-remaining"] == "0"
    assert int(headers["retry-after"]) >= 1 and int(headers["ratelimit-reset"]) >= 1
    assert [h["ratelimit-remaining"] for _, _, h in answers[:3]] == ["2", "1", "0"]
    # Another agent has its own bucket.
    assert as_agent(handler, register(admin, name="Calm")["id"])("GET", "/agents")[0] == 200


def _stored(aws: Any, agent_id: str, sort_key: str) -> dict[str, Any] | None:
    item = aws.get_item(TableName=BUS_TABLE, ConsistentRead=True,
                        Key={"PK": {"S": f"T#t1#AGENT#{agent_id}"}, "SK": {"S": sort_key}}).get("Item")
    return dict(item) if item else None


def test_admissions_write_the_agents_gate_never_its_indexed_record(aws: Any, admin: Call) -> None:
    # The record is in GSI1, GSI2 and (online) GSI3: a bucket on it would rewrite three index entries a request.
    agent = register(admin, rate_limit_per_minute=3)
    record = _stored(aws, agent["id"], "AGENT")
    assert record is not None and "rate_tat_ms" not in record and "GSI1PK" in record and "GSI2PK" in record
    me = as_agent(handler, agent["id"])
    assert [me("GET", "/agents")[0] for _ in range(4)] == [200, 200, 200, 429]  # the limit is unchanged
    assert _stored(aws, agent["id"], "AGENT") == record  # untouched by four admissions
    gate = _stored(aws, agent["id"], "GATE")
    assert gate is not None and int(gate["rate_tat_ms"]["N"]) > 0
    assert not [name for name in gate if name.startswith("GSI")]  # in no index
    # What admission hands on comes from the gate, so writes to the record's copied fields reach it too.
    assert admin("PATCH", f"/agents/{agent['id']}", {"role": "agent-consumer", "rate_limit_per_minute": 60})[0] == 200
    gate = _stored(aws, agent["id"], "GATE")
    assert gate is not None and gate["role"] == {"S": "agent-consumer"} and gate["rate_tat_ms"] == {"N": "0"}
    assert me("POST", "/agents", EXTERNAL)[0] == 403
    assert [me("GET", "/agents")[0] for _ in range(3)] == [200, 200, 200]  # a refilled bucket of the new limit


def test_an_agent_registered_before_gates_gets_one_at_its_first_request(aws: Any, admin: Call) -> None:
    agent = register(admin, rate_limit_per_minute=2)
    key = {"PK": {"S": f"T#t1#AGENT#{agent['id']}"}}
    aws.delete_item(TableName=BUS_TABLE, Key={**key, "SK": {"S": "GATE"}})
    # As such a record was: the bucket on it.
    aws.update_item(TableName=BUS_TABLE, Key={**key, "SK": {"S": "AGENT"}},
                    UpdateExpression="SET rate_tat_ms = :zero, rate_gate_ms = :zero",
                    ExpressionAttributeValues={":zero": {"N": "0"}})
    token = token_for(agent["credentials"])
    me = with_token(token)
    assert [me("GET", "/agents")[0] for _ in range(3)] == [200, 200, 429]
    gate = _stored(aws, agent["id"], "GATE")
    assert gate is not None and gate["role"] == {"S": "agent-full"} and gate["rate_limit_per_minute"] == {"N": "2"}
    # A revocation of a gate-less agent leaves a partial gate; the next admission fills it and refuses the token.
    other = register(admin, name="Other")
    other_token = token_for(other["credentials"])
    aws.delete_item(TableName=BUS_TABLE, Key={"PK": {"S": f"T#t1#AGENT#{other['id']}"}, "SK": {"S": "GATE"}})
    assert admin("DELETE", f"/agents/{other['id']}/credentials")[0] == 204
    assert with_token(other_token)("GET", "/agents")[0] == 401
    gate = _stored(aws, other["id"], "GATE")
    assert gate is not None and "rate_interval_ms" in gate and gate["role"] == {"S": "agent-full"}


def test_updates_are_versioned_and_unregistering_removes_the_inbox(aws: Any, admin: Call) -> None:
    agent = register(admin)
    path = f"/agents/{agent['id']}"
    status, updated, headers = admin("PATCH", path, {"description": "Reads the web"}, headers={"if-match": '"1"'})
    assert status == 200 and updated["version"] == 2 and headers["etag"] == '"2"'
    assert admin("PATCH", path, {"description": "stale"}, headers={"if-match": '"1"'})[0] == 412
    status, patched, _ = admin("PATCH", path, {"capabilities": ["write"], "rate_limit_per_minute": 5})
    assert status == 200 and patched["capabilities"] == ["write"] and patched["rate_limit_per_minute"] == 5
    assert admin("GET", "/agents", query="capability=summarize")[1]["items"] == []
    assert [a["id"] for a in admin("GET", "/agents", query="capability=write")[1]["items"]] == [agent["id"]]
    token = token_for(agent["credentials"])
    assert admin("DELETE", path)[0] == 204
    assert admin("GET", path)[0] == 404 and admin("DELETE", path)[0] == 404
    assert with_token(token)("GET", "/agents")[0] == 401
    queues = boto3.client("sqs", region_name="us-east-1").list_queues().get("QueueUrls", [])
    assert not [url for url in queues if agent["id"] in url]
    assert aws.query(TableName=BUS_TABLE, KeyConditionExpression="PK = :pk",
                     ExpressionAttributeValues={":pk": {"S": f"T#t1#AGENT#{agent['id']}"}})["Items"] == []


def test_the_sweep_marks_overdue_agents_offline_once(aws: Any, admin: Call) -> None:
    late = register(admin, name="Late", heartbeat_interval_seconds=5)
    punctual = register(admin, name="Punctual", heartbeat_interval_seconds=60)
    for agent in (late, punctual):
        assert as_agent(handler, agent["id"])("PUT", f"/agents/{agent['id']}/heartbeat")[0] == 200
    store = DynamoAgents(Table(aws, BUS_TABLE))
    events: list[dict[str, Any]] = []

    class Events:
        def put_events(self, Entries: list[dict[str, Any]]) -> None:  # boto3's name
            events.extend(Entries)

    record = store.get("t1", late["id"])
    assert record is not None
    due = int(record["heartbeat_due_ms"])  # twice 5 s from the heartbeat; the punctual one has 120 s
    assert sweep(store, Events(), "crewhouse", due - 1) == []
    assert sweep(store, Events(), "crewhouse", due + 1) == [late["id"]]
    assert sweep(store, Events(), "crewhouse", due + 2) == []  # once per transition
    assert [(e["DetailType"], json.loads(e["Detail"])["agent_id"]) for e in events] == [
        ("agent.offline", late["id"])]
    # A heartbeat brings it back.
    assert as_agent(handler, late["id"])("PUT", f"/agents/{late['id']}/heartbeat")[0] == 200
    assert sorted(a["name"] for a in admin("GET", "/agents", query="status=online")[1]["items"]) == [
        "Late", "Punctual"]


def test_cards_follow_a2a_and_the_bus_card_is_public(admin: Call) -> None:
    hosted = register(admin, name="Planner", kind="hosted", capabilities=["plan"], description="Plans work")
    status, card, _ = admin("GET", f"/agents/{hosted['id']}/card")
    assert status == 200 and card["name"] == "Planner" and card["description"] == "Plans work"
    assert card["supportedInterfaces"] == [{"url": f"https://api.test/a2a/agents/{hosted['id']}",
                                            "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}]
    assert [skill["id"] for skill in card["skills"]] == ["plan"]
    event = http_event("GET", "/.well-known/agent-card.json")
    status, own, _ = invoke(handler, event)
    assert status == 200 and own["name"] == "Crewhouse Agentic Context Bus" and own["skills"]


def test_every_mutation_is_audited_and_only_admins_read_the_trail(admin: Call) -> None:
    agent = register(admin)
    admin("PATCH", f"/agents/{agent['id']}", {"description": "x"})
    admin("POST", f"/agents/{agent['id']}/credentials")
    status, page, _ = admin("GET", "/audit")
    assert status == 200, page
    assert [r["action"] for r in page["items"]] == ["agent.credentials.rotate", "agent.update", "agent.register"]
    record = page["items"][-1]
    assert (record["actor"], record["actor_role"], record["credential"], record["resource"], record["result"]) == (
        "user:ada", "admin", "cognito", f"agent/{agent['id']}", "ok")
    assert record["request_id"]
    assert [r["action"] for r in admin("GET", "/audit", query="resource=agent/none")[1]["items"]] == []
    assert len(admin("GET", "/audit", query=f"resource=agent/{agent['id']}")[1]["items"]) == 3
    assert len(admin("GET", "/audit", query="actor=user:ada&limit=2")[1]["items"]) == 2
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    assert admin("GET", "/audit", query=f"since={since}")[1]["items"] == []
    assert admin("GET", "/audit", query="since=2026-01-01T00:00:00")[0] == 400


def test_an_agent_token_claims_shape_matches_the_authorizer(admin: Call) -> None:
    """tests.support.bus.agent_claims stands for the authorizer in other tests: it must say the same."""
    agent = register(admin)
    context = authorize(token_for(agent["credentials"]))["context"]
    assert set(agent_claims("t1", agent["id"])) <= set(context)


def test_a_hosted_agent_answers_a2a_send_message(admin: Call) -> None:
    from crewhouse.bus import a2a_api

    hosted = register(admin, name="Helper", kind="hosted", capabilities=["help"])
    external = register(admin, name="Asker")
    request = {"jsonrpc": "2.0", "id": "r1", "method": "SendMessage",
               "params": {"message": {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "help"}]}}}
    env = {"LLM_PROVIDERS": "offline"}
    asker = as_agent(a2a_api.handler, external["id"])
    status, answer, _ = invoke(a2a_api.handler, http_event("POST", f"/a2a/agents/{hosted['id']}", body=request,
                                                           claims=agent_claims("t1", external["id"])), env)
    assert status == 200, answer
    assert answer["id"] == "r1" and answer["result"]["message"]["role"] == "ROLE_AGENT"
    assert answer["result"]["message"]["parts"][0]["text"]
    status, refused, _ = invoke(a2a_api.handler, http_event(
        "POST", f"/a2a/agents/{hosted['id']}", body={**request, "method": "tasks/get"},
        claims=agent_claims("t1", external["id"])), env)
    assert status == 200 and refused["error"]["code"] == -32601
    assert asker("POST", f"/a2a/agents/{external['id']}", request)[0] == 404  # not hosted
    assert as_person(a2a_api.handler, "olga", role="member")("POST", f"/a2a/agents/{hosted['id']}",
                                                            request)[0] == 403


def test_an_expired_agent_token_is_refused_by_the_authorizer(aws: Any, admin: Call) -> None:
    agent = register(admin)
    token = token_for(agent["credentials"])
    assert authorize(token)["isAuthorized"] is True
    [item] = [i for i in aws.scan(TableName=PLATFORM)["Items"] if i.get("agent_id", {}).get("S") == agent["id"]
              and i["SK"]["S"] == "TOKEN"]
    aws.update_item(TableName=PLATFORM, Key={"PK": item["PK"], "SK": item["SK"]},
                    UpdateExpression="SET expires_epoch = :past", ExpressionAttributeValues={":past": {"N": "1"}})
    with pytest.raises(Exception, match=r"^Unauthorized$"):  # API Gateway's 401
        authorize(token)
    with pytest.raises(Exception, match=r"^Unauthorized$"):  # a typo fails its checksum before any lookup
        authorize(token[:-1] + ("A" if token[-1] != "A" else "B"))
