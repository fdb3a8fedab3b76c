"""The realtime handlers (``$connect``, ``$default``, ``$disconnect``, the EventBridge fan-out) against
``moto.mock_aws``: the realtime, jobs, chat, bus and platform tables are created as the template defines them.
The credential check is a fake of the HTTP API authorizer port (its own tests prove the verification); the
management API is a fake port, or boto3's real ``apigatewaymanagementapi`` client under botocore's Stubber for
the ``GoneException`` path."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from crewhouse.core.keys import owner_pk
from crewhouse.core.settings import load_settings
from crewhouse.jobs.keys import job_sk
from crewhouse.realtime import handlers
from crewhouse.realtime.adapters import ManagementApi
from crewhouse.realtime.logic import RealtimeService
from crewhouse.realtime.settings import RealtimeSettings
from tests.support.events import lambda_context
from tests.support.members import seed_membership
from tests.support.tables import mocked_tables

TABLES = {"realtime": "RealtimeRealtimeTable", "jobs": "JobsJobsTable", "chat": "ChatChatTable",
          "bus": "BusBusTable", "platform": "StoragePlatformTable", "flows": "FlowsFlowsTable"}
CALLBACK = "https://abc123.execute-api.us-east-1.amazonaws.com/live"
TOKENS = {  # what the HTTP API authorizer answers for each bearer credential (its request context)
    "alice-token": {"sub": "alice", "tenant_id": "t1", "credential": "jwt", "iat": "1"},
    "eve-token": {"sub": "eve", "tenant_id": "t2", "credential": "jwt", "iat": "1"},
    "stranger-token": {"sub": "mallory", "tenant_id": "t1", "credential": "jwt", "iat": "1"},  # no membership
    "agent-token": {"sub": "agent-principal", "tenant_id": "t1", "credential": "agent-token", "agent_id": "a1"},
}


class FakeAuthorizer:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def caller_context(self, bearer: str) -> dict[str, Any] | None:
        self.asked.append(bearer)
        return TOKENS.get(bearer)


class FakeManagementApi:
    """The management API port: records each post; connections in ``gone`` answer as a GoneException does."""

    def __init__(self, gone: set[str] | None = None) -> None:
        self.sent: dict[str, list[dict[str, Any]]] = {}
        self.gone = gone or set()
        self.closed: list[str] = []

    def close(self, connection_id: str) -> None:
        self.closed.append(connection_id)

    def send(self, connection_id: str, message: dict[str, Any]) -> bool:
        if connection_id in self.gone:
            return False
        self.sent.setdefault(connection_id, []).append(message)
        return True


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in TABLES:
        monkeypatch.setenv(f"{name.upper()}_TABLE", name)
    monkeypatch.setenv("REALTIME_CALLBACK_URL", CALLBACK)
    monkeypatch.setenv("AUTHORIZER_FUNCTION", "crewhouse-authorizer")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    handlers._memberships.clear()  # the fan-out's warm-container membership cache: each test is a new cloud
    with mocked_tables(monkeypatch, dict(TABLES.items())) as client:
        seed_membership("t1", "alice", "member", table="platform", dynamodb=client)
        seed_membership("t2", "eve", "admin", table="platform", dynamodb=client)
        client.put_item(TableName="jobs", Item={"PK": {"S": owner_pk("t1", "alice")}, "SK": {"S": job_sk("j1")},
                                                "type": {"S": "content"}})
        client.put_item(TableName="bus", Item={"PK": {"S": "T#t1#AGENT#a1"}, "SK": {"S": "AGENT"}})
        client.put_item(TableName="flows", Item={"PK": {"S": "T#t1#RUN#x1"}, "SK": {"S": "RUN"}})  # flows.store
        yield client


def _service(sender: Any) -> RealtimeService:
    """The handlers' own wiring (tables from the environment), with the management API port replaced."""
    return dataclasses.replace(handlers.service_for(load_settings(RealtimeSettings)), sender=sender)


def _connect_event(connection_id: str, *, token: str | None = None, protocol: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"headers": {"Host": "abc123.execute-api.us-east-1.amazonaws.com"},
                             "requestContext": {"routeKey": "$connect", "eventType": "CONNECT", "stage": "live",
                                                "connectionId": connection_id, "apiId": "abc123"}}
    if token is not None:
        event["queryStringParameters"] = {"token": token}
    if protocol is not None:
        event["headers"]["Sec-WebSocket-Protocol"] = protocol
    return event


def _message_event(connection_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"body": json.dumps(body), "isBase64Encoded": False,
            "requestContext": {"routeKey": "$default", "eventType": "MESSAGE", "stage": "live",
                               "connectionId": connection_id, "apiId": "abc123", "messageId": "m1"}}


def _progress(tenant: str, user: str, job: str, percent: int) -> dict[str, Any]:
    return {"version": "0", "id": "e1", "source": "crewhouse.jobs", "detail-type": "job.progress",
            "account": "123456789012", "time": "2026-01-01T00:00:00Z", "region": "us-east-1", "resources": [],
            "detail": {"job": {"tenant_id": tenant, "user_id": user, "job_id": job, "run": 1},
                       "progress": percent, "message": f"step {percent}"}}


def _items(dynamodb: Any, pk: str) -> list[dict[str, Any]]:
    return list(dynamodb.query(TableName="realtime", KeyConditionExpression="PK = :pk",
                               ExpressionAttributeValues={":pk": {"S": pk}})["Items"])


def _connect(connection_id: str, token: str, **kwargs: Any) -> dict[str, Any]:
    return handlers.connect(_connect_event(connection_id, token=token, **kwargs), lambda_context(),
                            authorizer=FakeAuthorizer())


# --- $connect ----------------------------------------------------------------------------------------------

def test_connect_files_a_member_and_refuses_the_rest(dynamodb: Any) -> None:
    authorizer = FakeAuthorizer()
    assert handlers.connect(_connect_event("c0"), lambda_context(), authorizer=authorizer)["statusCode"] == 401
    assert authorizer.asked == []  # no credential: the authorizer is not even asked
    assert _connect("c1", "forged")["statusCode"] == 401
    assert _connect("c2", "stranger-token")["statusCode"] == 403  # a valid token, but no membership in t1
    assert _connect("c3", "alice-token") == {"statusCode": 200}
    for refused in ("c0", "c1", "c2"):
        assert _items(dynamodb, f"CONN#{refused}") == []
    (item,) = _items(dynamodb, "CONN#c3")
    assert (item["tenant_id"]["S"], item["user_id"]["S"], item["role"]["S"]) == ("t1", "alice", "member")
    assert int(item["expires_epoch"]["N"]) > 0  # the table's TTL attribute


def test_connect_takes_the_token_as_a_subprotocol_and_selects_bearer(dynamodb: Any) -> None:
    authorizer = FakeAuthorizer()
    answer = handlers.connect(_connect_event("c1", protocol="bearer, alice-token"), lambda_context(),
                              authorizer=authorizer)
    assert answer == {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": "bearer"}}
    assert authorizer.asked == ["alice-token"]
    assert len(_items(dynamodb, "CONN#c1")) == 1


# --- $default: subscribe authorization -----------------------------------------------------------------------

def test_subscribing_needs_a_resource_the_caller_can_read(dynamodb: Any) -> None:
    _connect("alice-c", "alice-token")
    _connect("eve-c", "eve-token")
    _connect("agent-c", "agent-token")
    sender = FakeManagementApi()
    service = _service(sender)
    for connection_id, topic in (("alice-c", "job:j1"), ("eve-c", "job:j1"), ("alice-c", "job:nope"),
                                 ("agent-c", "job:j1"), ("agent-c", "agent:a1"), ("alice-c", "chat:s1"),
                                 ("alice-c", "execution:x9")):
        handlers.default(_message_event(connection_id, {"action": "subscribe", "topic": topic}), lambda_context(),
                         service=service)
    alice, eve, agent = sender.sent["alice-c"], sender.sent["eve-c"], sender.sent["agent-c"]
    assert alice[0] == {"type": "subscribed", "topic": "job:j1", "replayed": 0, "last_event_id": 0}
    assert [(m["type"], m.get("status")) for m in alice[1:]] == [("error", 404)] * 3  # missing job, chat, flow
    assert (eve[0]["type"], eve[0]["status"], eve[0]["topic"]) == ("error", 404, "job:j1")  # another tenant's
    assert (agent[0]["type"], agent[0]["status"]) == ("error", 403)  # an agent follows only its own inbox
    assert agent[1]["type"] == "subscribed" and agent[1]["topic"] == "agent:a1"
    # Only the accepted subscriptions were filed, each under its owner's key.
    assert [i["SK"]["S"] for i in _items(dynamodb, "T#t1#U#alice#TOPIC#job:j1")] == ["CONN#alice-c"]
    assert [i["SK"]["S"] for i in _items(dynamodb, "T#t1#TOPIC#agent:a1")] == ["CONN#agent-c"]
    assert _items(dynamodb, "T#t2#U#eve#TOPIC#job:j1") == []


def test_a_message_on_an_unknown_connection_is_refused(dynamodb: Any) -> None:
    sender = FakeManagementApi()
    handlers.default(_message_event("ghost", {"action": "ping"}), lambda_context(), service=_service(sender))
    assert sender.sent["ghost"][0]["status"] == 401


# --- fan-out ------------------------------------------------------------------------------------------------

def test_fan_out_reaches_the_owners_subscribers_only(dynamodb: Any) -> None:
    _connect("alice-c", "alice-token")
    _connect("eve-c", "eve-token")
    sender = FakeManagementApi()
    service = _service(sender)
    handlers.default(_message_event("alice-c", {"action": "subscribe", "topic": "job:j1"}), lambda_context(),
                     service=service)
    sender.sent.clear()
    assert handlers.fan_out(_progress("t1", "alice", "j1", 40), lambda_context(), service=service) == \
        {"delivered": 1, "gone": 0, "failed": 0, "dropped": 0}
    # Eve (tenant t2) names the same job id: her own scope, which nobody subscribed to.
    assert handlers.fan_out(_progress("t2", "eve", "j1", 99), lambda_context(), service=service) == \
        {"delivered": 0, "gone": 0, "failed": 0, "dropped": 0}
    assert handlers.fan_out({"detail-type": "note.created", "detail": {}}, lambda_context(), service=service) == \
        {"delivered": 0, "gone": 0, "failed": 0, "dropped": 0}
    (event,) = sender.sent["alice-c"]
    assert (event["type"], event["topic"], event["id"], event["data"]["progress"]) == ("event", "job:j1", 1, 40)
    assert "eve-c" not in sender.sent


def test_a_gone_exception_removes_the_connection_and_its_subscriptions(dynamodb: Any) -> None:
    _connect("alice-c", "alice-token")
    _connect("alice-d", "alice-token")
    fake = FakeManagementApi()
    service = _service(fake)
    for connection_id in ("alice-c", "alice-d"):
        handlers.default(_message_event(connection_id, {"action": "subscribe", "topic": "job:j1"}),
                         lambda_context(), service=service)
    # boto3's own client for the stage, answering the post to alice-c with API Gateway's 410 GoneException.
    client = boto3.client("apigatewaymanagementapi", endpoint_url=CALLBACK, region_name="us-east-1")
    with Stubber(client) as stubber:
        stubber.add_client_error("post_to_connection", service_error_code="GoneException", http_status_code=410)
        stubber.add_response("post_to_connection", {})
        service = dataclasses.replace(service, sender=ManagementApi(lambda: client))
        answer = handlers.fan_out(_progress("t1", "alice", "j1", 10), lambda_context(), service=service)
        stubber.assert_no_pending_responses()
    assert answer == {"delivered": 1, "gone": 1, "failed": 0, "dropped": 0}
    # Subscribers are read in key order: alice-c got the GoneException, alice-d the event.
    assert [i["SK"]["S"] for i in _items(dynamodb, "T#t1#U#alice#TOPIC#job:j1")] == ["CONN#alice-d"]
    assert _items(dynamodb, "CONN#alice-c") == []  # the connection and its subscription records
    assert len(_items(dynamodb, "CONN#alice-d")) == 2


def test_another_management_api_error_keeps_the_connection_and_the_event_for_replay(dynamodb: Any) -> None:
    _connect("alice-c", "alice-token")
    service = _service(FakeManagementApi())
    handlers.default(_message_event("alice-c", {"action": "subscribe", "topic": "job:j1"}), lambda_context(),
                     service=service)
    client = boto3.client("apigatewaymanagementapi", endpoint_url=CALLBACK, region_name="us-east-1")
    with Stubber(client) as stubber:
        stubber.add_client_error("post_to_connection", service_error_code="LimitExceededException",
                                 http_status_code=429)
        with pytest.raises(Exception, match="LimitExceeded"):  # the adapter does not take it for a gone client
            ManagementApi(lambda: client).send("alice-c", {"type": "pong"})
        stubber.add_client_error("post_to_connection", service_error_code="LimitExceededException",
                                 http_status_code=429)
        # The fan-out does not raise (EventBridge would retry and number the event again): it counts the failure.
        answer = handlers.fan_out(_progress("t1", "alice", "j1", 70), lambda_context(),
                                  service=dataclasses.replace(service, sender=ManagementApi(lambda: client)))
    assert answer == {"delivered": 0, "gone": 0, "failed": 1, "dropped": 0}
    assert [i["SK"]["S"] for i in _items(dynamodb, "T#t1#U#alice#TOPIC#job:j1")] == ["CONN#alice-c"]
    sender = FakeManagementApi()  # the client reconnects with its last event id: the event is replayed
    handlers.default(_message_event("alice-c", {"action": "subscribe", "topic": "job:j1", "last_event_id": 0}),
                     lambda_context(), service=_service(sender))
    replayed, ack = sender.sent["alice-c"]
    assert (replayed["id"], replayed["data"]["progress"], ack["replayed"]) == (1, 70, 1)


def test_disconnect_forgets_the_connection_and_its_subscriptions(dynamodb: Any) -> None:
    _connect("alice-c", "alice-token")
    service = _service(FakeManagementApi())
    handlers.default(_message_event("alice-c", {"action": "subscribe", "topic": "job:j1"}), lambda_context(),
                     service=service)
    assert len(_items(dynamodb, "T#t1#U#alice#TOPIC#job:j1")) == 1
    event = {"requestContext": {"routeKey": "$disconnect", "eventType": "DISCONNECT", "connectionId": "alice-c"}}
    assert handlers.disconnect(event, lambda_context(), service=service) == {"statusCode": 200}
    assert _items(dynamodb, "CONN#alice-c") == []
    assert _items(dynamodb, "T#t1#U#alice#TOPIC#job:j1") == []


# --- the producers' events and the membership re-check ---------------------------------------------------------

def _bus_event(detail_type: str, source: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {"version": "0", "id": "e2", "source": source, "detail-type": detail_type, "detail": detail}


def test_a_flow_execution_is_followed_by_the_tenants_members_only(dynamodb: Any) -> None:
    _connect("alice-c", "alice-token")
    _connect("eve-c", "eve-token")
    sender = FakeManagementApi()
    service = _service(sender)
    for connection_id, topic in (("alice-c", "execution:x1"), ("alice-c", "execution:x2"),
                                 ("eve-c", "execution:x1")):
        handlers.default(_message_event(connection_id, {"action": "subscribe", "topic": topic}), lambda_context(),
                         service=service)
    assert [(m["type"], m.get("status")) for m in sender.sent["alice-c"]] == [("subscribed", None), ("error", 404)]
    assert sender.sent["eve-c"][0]["status"] == 404  # the run is t1's
    sender.sent.clear()
    event = _bus_event("flow.execution_event", "crewhouse.flows", {
        "tenant_id": "t1", "flow_id": "f1", "execution_id": "x1",
        "event": {"type": "node_started", "node_id": "n1", "at": "2026-01-01T00:00:00+00:00", "detail": {}}})
    assert handlers.fan_out(event, lambda_context(), service=service)["delivered"] == 1
    (message,) = sender.sent["alice-c"]
    assert (message["topic"], message["detail_type"], message["data"]["event"]["type"]) == (
        "execution:x1", "flow.execution_event", "node_started")


def test_a_member_removed_from_the_tenant_is_dropped_at_the_next_fan_out(dynamodb: Any) -> None:
    """The fan-out re-reads the membership (the platform table, at most once a minute per person and container):
    a removed member's connection is told why, closed and forgotten; the agent's connection is not a member's."""
    _connect("alice-c", "alice-token")
    _connect("agent-c", "agent-token")
    sender = FakeManagementApi()
    service = _service(sender)
    for connection_id in ("alice-c", "agent-c"):
        handlers.default(_message_event(connection_id, {"action": "subscribe", "topic": "agent:a1"}),
                         lambda_context(), service=service)
    message = _bus_event("bus.message", "crewhouse.bus", {"tenant_id": "t1", "agent_id": "a1",
                                                          "message": {"id": "m1", "payload": "hi"}})
    assert handlers.fan_out(message, lambda_context(), service=service) == \
        {"delivered": 2, "gone": 0, "failed": 0, "dropped": 0}
    dynamodb.delete_item(TableName="platform", Key={"PK": {"S": "TENANT#t1"}, "SK": {"S": "MEMBER#alice"}})
    handlers._memberships.clear()  # the minute of the container's cache has passed
    assert handlers.fan_out(message, lambda_context(), service=service) == \
        {"delivered": 1, "gone": 0, "failed": 0, "dropped": 1}
    assert sender.sent["alice-c"][-1]["status"] == 403 and sender.closed == ["alice-c"]
    assert _items(dynamodb, "CONN#alice-c") == []
    assert [i["SK"]["S"] for i in _items(dynamodb, "T#t1#TOPIC#agent:a1")] == ["CONN#agent-c"]
