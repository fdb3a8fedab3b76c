"""The rest of the surface: discovery pagination, contexts with If-Match, request-reply, heartbeats."""

from __future__ import annotations

import base64
import threading
import time

import httpx
import pytest
from bus_fakes import FakeBus, json_of, problem
from crewhouse_bus import ReplyTimeoutError


def agent(n: int) -> dict[str, object]:
    return {"id": f"a{n}", "name": f"agent {n}", "kind": "external", "capabilities": ["echo"]}


def test_discovery_follows_the_cursor_lazily() -> None:
    bus = FakeBus()
    bus.route("GET", "/agents",
              httpx.Response(200, json={"items": [agent(1), agent(2)], "next_cursor": "c2"}),
              httpx.Response(200, json={"items": [agent(3)], "next_cursor": None}))
    client = bus.client()

    found = client.list_agents(capability="echo", status="online", page_size=2)
    assert bus.api_calls() == []  # nothing fetched before iteration
    assert [a["id"] for a in found] == ["a1", "a2", "a3"]

    first, second = bus.calls("GET", "/agents")
    assert dict(first.url.params) == {"capability": "echo", "status": "online", "limit": "2"}
    assert dict(second.url.params) == {"capability": "echo", "status": "online", "limit": "2", "cursor": "c2"}


def test_discover_stops_at_its_limit_without_fetching_more_pages() -> None:
    bus = FakeBus()
    bus.route("GET", "/agents", httpx.Response(200, json={"items": [agent(1), agent(2)], "next_cursor": "more"}))
    assert [a["id"] for a in bus.client().discover("echo", limit=2)] == ["a1", "a2"]
    assert len(bus.calls("GET", "/agents")) == 1


def test_contexts_create_and_update_with_if_match() -> None:
    bus = FakeBus()
    bus.route("POST", "/contexts", httpx.Response(201, json={"id": "c1", "version": 1}))
    bus.route("PUT", "/contexts/c1", httpx.Response(200, json={"id": "c1", "version": 2}))
    client = bus.client()

    client.create_context("notes", payload_bytes=b"\x00\x01", scope="group", members=["a2"], tags=["t"])
    client.update_context("c1", payload=None, if_match=1, tags=["u"])

    assert json_of(bus.calls("POST", "/contexts")[0]) == {
        "name": "notes", "scope": "group", "members": ["a2"], "tags": ["t"],
        "payload_base64": base64.b64encode(b"\x00\x01").decode()}
    update = bus.calls("PUT", "/contexts/c1")[0]
    assert update.headers["if-match"] == '"1"'
    assert json_of(update) == {"tags": ["u"], "payload": None}


def test_wait_version_long_polls_with_a_longer_read_timeout() -> None:
    bus = FakeBus()
    bus.route("GET", "/contexts/c1", httpx.Response(200, json={"id": "c1", "version": 3}))
    bus.client().get_context("c1", wait_version=3)
    request = bus.calls("GET", "/contexts/c1")[0]
    assert request.url.params["wait_version"] == "3"
    assert request.extensions["timeout"]["read"] > 25


def test_a_synchronous_request_returns_the_reply() -> None:
    bus = FakeBus()
    bus.route("POST", "/messages/requests", httpx.Response(200, json={
        "correlation_id": "k1", "status": "replied", "id": "m1",
        "reply": {"id": "m2", "kind": "reply", "from": "agent:a2", "correlation_id": "k1", "payload": {"echo": "hi"}}}))

    reply = bus.client().request("a2", {"say": "hi"}, timeout_seconds=40)

    assert reply["payload"] == {"echo": "hi"}
    assert json_of(bus.calls("POST", "/messages/requests")[0]) == {
        "to": "a2", "payload": {"say": "hi"}, "timeout_seconds": 25, "wait": True}


def test_a_synchronous_request_that_times_out_names_its_correlation_id() -> None:
    bus = FakeBus()
    bus.route("POST", "/messages/requests",
              httpx.Response(202, json={"correlation_id": "k9", "status": "pending", "reply": None}))
    with pytest.raises(ReplyTimeoutError) as caught:
        bus.client().request("a2", {})
    assert caught.value.correlation_id == "k9"


def test_an_asynchronous_request_and_its_reply_fetched_later() -> None:
    bus = FakeBus()
    bus.route("POST", "/messages/requests",
              httpx.Response(202, json={"correlation_id": "k2", "status": "pending", "reply": None, "id": "m1"}))
    bus.route("GET", "/replies/k2", httpx.Response(202, json={"correlation_id": "k2", "status": "pending"}),
              httpx.Response(200, json={"correlation_id": "k2", "status": "replied",
                                        "reply": {"kind": "reply", "correlation_id": "k2", "payload": 42}}))
    client = bus.client()

    correlation_id = client.request_async("a2", {"q": 1})
    assert json_of(bus.calls("POST", "/messages/requests")[0])["wait"] is False
    assert client.get_reply(correlation_id) is None
    reply = client.get_reply(correlation_id, wait=5)
    assert reply is not None and reply["payload"] == 42
    assert bus.calls("GET", "/replies/k2")[1].url.params["wait"] == "5"


def test_reply_posts_the_payload_to_the_correlation_id() -> None:
    bus = FakeBus()
    bus.route("POST", "/replies/k3", httpx.Response(201, json={"correlation_id": "k3", "status": "replied"}))
    bus.client().reply("k3", {"ok": True})
    assert json_of(bus.calls("POST", "/replies/k3")[0]) == {"payload": {"ok": True}}


def test_the_heartbeat_loop_beats_until_stopped_and_survives_a_failure() -> None:
    bus = FakeBus()
    beats = threading.Semaphore(0)

    def beat(request: httpx.Request) -> httpx.Response:
        beats.release()
        return httpx.Response(200, json={"status": "online", "next_heartbeat_before": "x", "offline_after": "y"})

    bus.route("PUT", "/agents/a1/heartbeat", problem(403, "nope"), beat)
    loop = bus.client().start_heartbeat("a1", interval=0.01)
    assert beats.acquire(timeout=5) and beats.acquire(timeout=5)
    loop.stop()

    assert not loop.running
    assert loop.failures == 1 and loop.beats >= 2
    count = len(bus.calls("PUT", "/agents/a1/heartbeat"))
    time.sleep(0.05)
    assert len(bus.calls("PUT", "/agents/a1/heartbeat")) == count


def test_the_heartbeat_interval_defaults_to_the_agents_own() -> None:
    bus = FakeBus()
    bus.route("GET", "/agents/a1", httpx.Response(200, json={**agent(1), "heartbeat_interval_seconds": 45}))
    bus.route("PUT", "/agents/a1/heartbeat", httpx.Response(200, json={}))
    loop = bus.client().start_heartbeat("a1")
    loop.stop()
    assert loop.interval == 45
