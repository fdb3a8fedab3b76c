"""Live updates on the embedded cloud, through real WebSockets (crewhouse.local.websockets) and the template's
WebSocket API: a job's progress reaches its owner's subscribed client; another tenant's client is refused the
job's topic and receives nothing; a client that reconnects with its last event id misses nothing. A chat turn's tool
call and reply, a flow execution's node events and end, and a bus message reach their topics' subscribers (and no
other tenant's); a member removed from the tenant stops receiving and is disconnected."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest

from crewhouse.local.cloud import EmbeddedCloud
from crewhouse.local.endpoint import local_client
from crewhouse.local.seed import SignedInUser
from crewhouse.local.websockets import HandshakeRefused, WebSocketClient
from crewhouse.realtime import handlers as realtime_handlers
from tests.integration.conftest import bearer
from tests.integration.test_bus import Agent
from tests.integration.test_tenancy import join
from tests.support.flows import simple_flow


def _tenant(user: SignedInUser) -> str:
    return str(jwt.decode(user.id_token, options={"verify_signature": False})["tenant_id"])


def _job(api: httpx.Client, user: SignedInUser) -> str:
    answer = api.post("/jobs", headers={**bearer(user.id_token), "Idempotency-Key": uuid.uuid4().hex},
                      json={"type": "content", "params": {"brief": "Live", "format": "blog_post"},
                            "run_at": "2099-01-01T00:00:00Z"})
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def _progress(user: SignedInUser, job_id: str, percent: int) -> None:
    """What the job runner puts on the bus after a progress write (crewhouse.jobs.runner.progress_announcer)."""
    answer = local_client("events").put_events(Entries=[{
        "Source": "crewhouse.jobs", "DetailType": "job.progress", "EventBusName": "crewhouse",
        "Detail": json.dumps({"job": {"tenant_id": _tenant(user), "user_id": user.user_id, "job_id": job_id,
                                      "run": 1}, "progress": percent, "message": f"step {percent}"})}])
    assert answer["FailedEntryCount"] == 0


def _connect(cloud: EmbeddedCloud, user: SignedInUser) -> WebSocketClient:
    assert cloud.websocket_url
    return WebSocketClient.connect(f"{cloud.websocket_url}?token={user.id_token}")


def _events(client: WebSocketClient, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while len(found) < count:
        message = client.receive_json(timeout)
        if message["type"] == "event":
            found.append(message)
    return found


@pytest.fixture(scope="module")
def owner_job(api: httpx.Client, user: SignedInUser) -> str:
    return _job(api, user)


def test_a_connection_without_a_valid_token_is_refused(cloud: EmbeddedCloud) -> None:
    assert cloud.websocket_url
    with pytest.raises(HandshakeRefused) as refused:
        WebSocketClient.connect(cloud.websocket_url)
    assert refused.value.status == 401
    with pytest.raises(HandshakeRefused) as refused:
        WebSocketClient.connect(f"{cloud.websocket_url}?token=not-a-token")
    assert refused.value.status == 401


def test_the_token_may_come_as_a_subprotocol(cloud: EmbeddedCloud, user: SignedInUser) -> None:
    assert cloud.websocket_url
    with WebSocketClient.connect(cloud.websocket_url, protocols=["bearer", user.id_token]) as client:
        assert client.protocol == "bearer"
        client.send({"action": "ping"})
        assert client.receive_json() == {"type": "pong"}


def test_job_progress_reaches_the_owner_and_not_another_tenant(cloud: EmbeddedCloud, user: SignedInUser,
                                                               new_user: Any, owner_job: str) -> None:
    stranger = new_user()
    assert _tenant(stranger) != _tenant(user)
    with _connect(cloud, user) as mine, _connect(cloud, stranger) as theirs:
        mine.send({"action": "subscribe", "topic": f"job:{owner_job}"})
        assert mine.receive_json()["type"] == "subscribed"
        theirs.send({"action": "subscribe", "topic": f"job:{owner_job}"})
        refusal = theirs.receive_json()
        assert refusal["type"] == "error" and refusal["status"] == 404
        _progress(user, owner_job, 40)
        event = _events(mine, 1)[0]
        assert event["topic"] == f"job:{owner_job}" and event["detail_type"] == "job.progress"
        assert event["data"]["progress"] == 40
        # The stranger's connection got nothing: a ping is answered, and nothing came before the pong.
        theirs.send({"action": "ping"})
        assert theirs.receive_json() == {"type": "pong"}


def test_a_client_reconnecting_with_its_last_event_id_misses_nothing(cloud: EmbeddedCloud, api: httpx.Client,
                                                                     user: SignedInUser) -> None:
    job_id = _job(api, user)
    with _connect(cloud, user) as client:
        client.send({"action": "subscribe", "topic": f"job:{job_id}"})
        assert client.receive_json()["type"] == "subscribed"
        for percent in (10, 20):
            _progress(user, job_id, percent)
        seen = _events(client, 2)
        while not {10, 20} <= {e["data"]["progress"] for e in seen}:  # at least once: a repeat has its own id
            seen += _events(client, 1)
    last = max(e["id"] for e in seen)
    cloud.settle(timeout=10)  # nothing of the first two still on its way
    for percent in (30, 40, 50):  # while disconnected
        _progress(user, job_id, percent)
    cloud.settle(timeout=10)
    with _connect(cloud, user) as client:
        client.send({"action": "subscribe", "topic": f"job:{job_id}", "last_event_id": last})
        replayed = _events(client, 3)
        while not {30, 40, 50} <= {e["data"]["progress"] for e in replayed}:
            replayed += _events(client, 1)
        ack = client.receive_json()
    # Nothing missed, in id order: EventBridge keeps no order between events (nor does it in AWS), so the ids, not
    # the order of the puts, are what a client resumes from; a repeated delivery takes an id of its own.
    assert [e["id"] for e in replayed] == list(range(last + 1, last + 1 + len(replayed)))
    assert ack == {"type": "subscribed", "topic": f"job:{job_id}", "replayed": len(replayed),
                   "last_event_id": last + len(replayed), "complete": True}



def test_a_running_jobs_own_progress_and_outcome_reach_its_subscriber(cloud: EmbeddedCloud, api: httpx.Client,
                                                                        user: SignedInUser) -> None:
    """The producer end to end: the job runner's job.progress (its role's events:PutEvents, enforced by the
    embedded cloud) and the state machine's job.succeeded reach the owner's client. The job may start before the
    subscription: subscribing with last_event_id 0 replays what came first."""
    answer = api.post("/jobs", headers={**bearer(user.id_token), "Idempotency-Key": uuid.uuid4().hex},
                      json={"type": "summarize", "params": {"text": "Solar batteries store the day's sun for the "
                                                                   "night. Installers train in April.",
                                                           "length": "short"}})
    assert answer.status_code == 202, answer.text
    job_id = str(answer.json()["id"])
    with _connect(cloud, user) as client:
        client.send({"action": "subscribe", "topic": f"job:{job_id}", "last_event_id": 0})
        by_id: dict[int, dict[str, Any]] = {}  # an event appended while subscribing may come live and replayed

        def kinds() -> list[str]:
            return [m["detail_type"] for m in by_id.values()]

        # The outcome comes from the state machine and the progress from the runner, each through EventBridge: the
        # last progress event may be stored after the outcome (EventBridge does not order deliveries).
        while "job.succeeded" not in kinds() or kinds().count("job.progress") < 3:
            message = client.receive_json(timeout=30)
            assert message["type"] in ("event", "subscribed"), message
            if message["type"] == "event":
                by_id.setdefault(int(message["id"]), message)
    received = [by_id[i] for i in sorted(by_id)]
    progress = [(m["data"]["progress"], m["data"]["message"]) for m in received
                if m["detail_type"] == "job.progress"]
    assert progress == [(10, "Reading the sources"), (50, "Summarizing"), (90, "Formatting the summary")]
    assert sorted(by_id) == list(range(1, len(received) + 1))  # none missing
    (outcome,) = [m for m in received if m["detail_type"] == "job.succeeded"]
    assert outcome["data"]["job"]["job_id"] == job_id


# --- chat turns, flow executions and bus messages (the producers of issue 16's other topics) ---------------------

def _until(client: WebSocketClient, done: Callable[[dict[int, dict[str, Any]]], bool],
           timeout: float = 10.0) -> list[dict[str, Any]]:
    """The topic's events (by id: a live one may come replayed too) until ``done`` holds of them, in id order."""
    by_id: dict[int, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while not done(by_id):
        message = client.receive_json(timeout=max(0.1, deadline - time.monotonic()))
        assert message["type"] in ("event", "subscribed"), message
        if message["type"] == "event":
            by_id.setdefault(int(message["id"]), message)
    return [by_id[i] for i in sorted(by_id)]


def _subscribed(client: WebSocketClient, topic: str, last_event_id: int | None = None) -> None:
    client.send({"action": "subscribe", "topic": topic,
                 **({"last_event_id": last_event_id} if last_event_id is not None else {})})
    if last_event_id is None:  # with a replay, the ack comes after the replayed events (read by _until)
        answer = client.receive_json()
        assert answer["type"] == "subscribed", answer


def _refused(cloud: EmbeddedCloud, stranger: SignedInUser, topic: str) -> WebSocketClient:
    """Another tenant's connection: refused the topic (404, as for a missing one); it stays open to show later
    that nothing of the topic reached it."""
    client = _connect(cloud, stranger)
    client.send({"action": "subscribe", "topic": topic})
    refusal = client.receive_json()
    assert (refusal["type"], refusal["status"]) == ("error", 404), refusal
    return client


def _received_nothing(client: WebSocketClient) -> None:
    client.send({"action": "ping"})
    assert client.receive_json() == {"type": "pong"}  # nothing came before the pong


def test_a_chat_turn_streams_its_tool_call_and_its_reply(cloud: EmbeddedCloud, api: httpx.Client,
                                                         user: SignedInUser, new_user: Any) -> None:
    session = api.post("/chat/sessions", json={}, headers=bearer(user.id_token)).json()["id"]
    topic = f"chat:{session}"
    with _connect(cloud, user) as client, _refused(cloud, new_user(), topic) as stranger:
        _subscribed(client, topic)
        answer = api.post(f"/chat/sessions/{session}/messages", json={"text": "add buy oat milk tomorrow"},
                          headers=bearer(user.id_token))
        assert answer.status_code == 200, answer.text
        events = _until(client, lambda seen: {m["detail_type"] for m in seen.values()} >= {"chat.tool_call",
                                                                                            "chat.reply"})
        _received_nothing(stranger)
    # Separate PutEvents: EventBridge keeps no order between them, so each is found by its type, not its place.
    (tool_call,) = [e["data"] for e in events if e["detail_type"] == "chat.tool_call"]
    (reply,) = [e["data"] for e in events if e["detail_type"] == "chat.reply"]
    assert (tool_call["tool_call"]["name"], tool_call["tool_call"]["ok"], tool_call["index"]) == ("create_task",
                                                                                                   True, 1)
    assert tool_call["tool_call"]["result"]["title"] == answer.json()["tool_calls"][0]["result"]["title"]
    assert reply["reply"]["text"] == answer.json()["reply"]["text"]
    assert reply["reply"]["tool_calls"] == [{"name": "create_task", "ok": True}]
    assert {e["topic"] for e in events} == {topic}


def test_a_flow_execution_streams_its_node_events_and_its_end(cloud: EmbeddedCloud, api: httpx.Client,
                                                               user: SignedInUser, new_user: Any) -> None:
    created = api.post("/flows", json={"name": "live", "graph": simple_flow()},
                       headers={**bearer(user.id_token), "Idempotency-Key": uuid.uuid4().hex})
    assert created.status_code == 201, created.text
    started = api.post(f"/flows/{created.json()['id']}/executions", json={"input": {"topic": "otters"}},
                       headers=bearer(user.id_token))
    assert started.status_code == 201, started.text
    topic = f"execution:{started.json()['id']}"
    with _connect(cloud, user) as client, _refused(cloud, new_user(), topic) as stranger:
        # The execution may have begun before the subscription: last_event_id 0 replays what came first.
        _subscribed(client, topic, last_event_id=0)
        events = _until(client, lambda seen: any(m["data"]["event"]["type"] == "flow_succeeded"
                                                 for m in seen.values()))
        _received_nothing(stranger)
    kinds = [(e["data"]["event"]["type"], e["data"]["event"]["node_id"]) for e in events]
    assert sorted(kinds, key=str) == sorted([("node_started", "draft"), ("llm_tokens_used", "draft"),
                                            ("node_finished", "draft"), ("flow_succeeded", None)], key=str)
    assert {(e["detail_type"], e["data"]["execution_id"]) for e in events} == {("flow.execution_event",
                                                                                started.json()["id"])}
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))  # none missing


def test_a_bus_message_reaches_the_agents_subscribers(cloud: EmbeddedCloud, api: httpx.Client,
                                                      user: SignedInUser, new_user: Any) -> None:
    sender, receiver = Agent(api, user, name="live-sender"), Agent(api, user, name="live-receiver")
    topic = f"agent:{receiver.id}"
    assert cloud.websocket_url
    receiver_token = receiver.headers["Authorization"].removeprefix("Bearer ")
    with _connect(cloud, user) as person, \
            WebSocketClient.connect(f"{cloud.websocket_url}?token={receiver_token}") as agent, \
            _refused(cloud, new_user(), topic) as stranger:
        _subscribed(person, topic)
        _subscribed(agent, topic)  # the agent follows its own inbox with its own token
        sent = api.post("/messages", json={"to": receiver.id, "payload": {"hello": "live"}},
                        headers={**sender.headers, "Idempotency-Key": uuid.uuid4().hex})
        assert sent.status_code == 202, sent.text
        for client in (person, agent):
            (event,) = _until(client, lambda seen: bool(seen))
            assert (event["topic"], event["detail_type"]) == (topic, "bus.message")
            message = event["data"]["message"]
            assert (message["id"], message["from"], message["payload"]) == (sent.json()["id"], f"agent:{sender.id}",
                                                                             {"hello": "live"})
        _received_nothing(stranger)


def test_a_member_removed_from_the_tenant_stops_receiving_and_is_disconnected(
        cloud: EmbeddedCloud, api: httpx.Client, new_user: Any) -> None:
    owner = new_user()
    member = join(api, owner, new_user(), "member")
    sender, receiver = Agent(api, owner, name="removal-sender"), Agent(api, owner, name="removal-receiver")
    topic = f"agent:{receiver.id}"

    def send(n: int) -> None:
        sent = api.post("/messages", json={"to": receiver.id, "payload": {"n": n}},
                        headers={**sender.headers, "Idempotency-Key": uuid.uuid4().hex})
        assert sent.status_code == 202, sent.text

    with _connect(cloud, owner) as staying, _connect(cloud, member) as leaving:
        _subscribed(staying, topic)
        _subscribed(leaving, topic)
        send(1)
        for client in (staying, leaving):
            assert _until(client, lambda seen: bool(seen))[0]["data"]["message"]["payload"] == {"n": 1}
        removed = api.delete(f"/tenant/members/{member.user_id}", headers=bearer(owner.id_token))
        assert removed.status_code == 204, removed.text
        # The fan-out trusts a membership read for a minute per warm container: let that minute pass.
        realtime_handlers._memberships.clear()
        send(2)
        assert _until(staying, lambda seen: bool(seen))[0]["data"]["message"]["payload"] == {"n": 2}
        told = leaving.receive_json()
        assert (told["type"], told["status"]) == ("error", 403), told
        with pytest.raises(ConnectionError):  # closed by the server (DeleteConnection)
            leaving.receive_json()


def test_a_new_notification_reaches_the_recipients_notifications_topic(cloud: EmbeddedCloud, api: httpx.Client,
                                                                       user: SignedInUser, new_user: Any) -> None:
    me = api.get("/me", headers=bearer(user.id_token)).json()
    stranger = new_user()
    with _connect(cloud, user) as client, _connect(cloud, stranger) as other:
        _subscribed(client, "notifications")
        _subscribed(other, "notifications")  # their own inbox: nothing of this tenant's reaches it
        sent = api.post("/notifications", json={"recipient_id": me["user_id"], "category": "system",
                                                "title": "Live inbox"},
                        headers={**bearer(user.id_token), "Idempotency-Key": uuid.uuid4().hex})
        assert sent.status_code == 201, sent.text
        (event,) = _until(client, lambda seen: bool(seen))
        _received_nothing(other)
    assert (event["topic"], event["detail_type"]) == ("notifications", "notification.created")
    assert event["data"]["notification"]["id"] == sent.json()["notifications"][0]["id"]
