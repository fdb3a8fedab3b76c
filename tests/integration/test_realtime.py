"""Live updates on the embedded cloud, through real WebSockets (crewhouse.local.websockets) and the template's
WebSocket API: a job's progress reaches its owner's subscribed client; another tenant's client is refused the
job's topic and receives nothing; a client that reconnects with its last event id misses nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import jwt
import pytest

from crewhouse.local.cloud import EmbeddedCloud
from crewhouse.local.endpoint import local_client
from crewhouse.local.seed import SignedInUser
from crewhouse.local.websockets import HandshakeRefused, WebSocketClient
from tests.integration.conftest import bearer


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
        while not any(m["detail_type"] == "job.succeeded" for m in by_id.values()):
            message = client.receive_json(timeout=30)
            assert message["type"] in ("event", "subscribed"), message
            if message["type"] == "event":
                by_id.setdefault(int(message["id"]), message)
    received = [by_id[i] for i in sorted(by_id)]
    progress = [(m["data"]["progress"], m["data"]["message"]) for m in received
                if m["detail_type"] == "job.progress"]
    assert progress == [(10, "Reading the sources"), (50, "Summarizing"), (90, "Formatting the summary")]
    assert sorted(by_id) == list(range(1, len(received) + 1))  # none missing
    assert received[-1]["data"]["job"]["job_id"] == job_id
