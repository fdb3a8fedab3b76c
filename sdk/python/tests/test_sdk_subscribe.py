"""subscribe(): long-polls, acks a message once the loop body finished it, nacks it when the body raises."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from bus_fakes import FakeBus, json_of
from crewhouse_bus import Message

INBOX = "/agents/a1/messages"


def message(n: int) -> dict[str, Any]:
    return {"id": f"m{n}", "kind": "direct", "from": "agent:a2", "to": "a1", "topic": None, "attributes": {},
            "payload": {"n": n}, "context_ref": None, "correlation_id": None, "reply_to": None,
            "sent_at": "2026-01-01T00:00:00Z", "receipt": f"r{n}", "delivery_count": 1}


def inbox(bus: FakeBus, *batches: list[dict[str, Any]]) -> None:
    answers = [httpx.Response(200, json={"messages": batch}) for batch in batches]
    bus.route("GET", INBOX, *answers, httpx.Response(200, json={"messages": []}))
    bus.route("POST", f"{INBOX}/ack", lambda r: httpx.Response(200, json={"acked": 1, "failed": []}))
    bus.route("POST", f"{INBOX}/nack", lambda r: httpx.Response(200, json={"nacked": 1, "failed": []}))


def settled(bus: FakeBus, verb: str) -> list[list[str]]:
    return [json_of(r)["receipts"] for r in bus.calls("POST", f"{INBOX}/{verb}")]


def test_each_message_is_acked_after_the_body_handled_it() -> None:
    bus = FakeBus()
    inbox(bus, [message(1), message(2)], [message(3)])
    seen: list[Any] = []
    client = bus.client()

    with client.subscribe("a1", wait=20, max=10) as messages:
        for received in messages:
            assert settled(bus, "ack") == [[f"r{n}"] for n in range(1, received["payload"]["n"])]  # not before
            seen.append(received["payload"]["n"])
            if len(seen) == 3:
                break

    assert seen == [1, 2, 3]
    assert settled(bus, "ack") == [["r1"], ["r2"], ["r3"]]
    assert settled(bus, "nack") == []
    poll = bus.calls("GET", INBOX)[0]
    assert (poll.url.params["wait"], poll.url.params["max"]) == ("20", "10")


def test_an_exception_in_the_body_nacks_that_message_and_releases_the_prefetched_ones() -> None:
    bus = FakeBus()
    inbox(bus, [message(1), message(2), message(3)])
    client = bus.client()

    with pytest.raises(RuntimeError, match="boom"), client.subscribe("a1", nack_delay=7) as messages:
        for received in messages:
            if received["id"] == "m2":
                raise RuntimeError("boom")

    assert settled(bus, "ack") == [["r1"]]
    nacks = [json_of(r) for r in bus.calls("POST", f"{INBOX}/nack")]
    assert nacks == [{"receipts": ["r2"], "delay_seconds": 7}, {"receipts": ["r3"], "delay_seconds": 0}]


def test_leaving_with_break_acks_the_message_in_hand() -> None:
    bus = FakeBus()
    inbox(bus, [message(1), message(2)])

    with bus.client().subscribe("a1") as messages:
        for _ in messages:
            break

    assert settled(bus, "ack") == [["r1"]]
    assert settled(bus, "nack") == [["r2"]]


def test_iterating_without_the_with_block_is_refused() -> None:
    bus = FakeBus()
    with pytest.raises(TypeError, match=r"with client\.subscribe"):
        iter(bus.client().subscribe("a1"))


def test_stop_ends_the_loop_after_the_current_poll() -> None:
    bus = FakeBus()
    inbox(bus, [message(1)])
    subscription = bus.client().subscribe("a1")
    handled = []
    with subscription as messages:
        for received in messages:
            handled.append(received["id"])
            subscription.stop()

    assert handled == ["m1"]
    assert settled(bus, "ack") == [["r1"]]
    assert len(bus.calls("GET", INBOX)) == 1


def test_consume_acks_successes_nacks_failures_and_keeps_going() -> None:
    bus = FakeBus()
    inbox(bus, [message(1), message(2)], [message(3)])

    def handler(received: Message) -> None:
        if received["id"] == "m2":
            raise ValueError("cannot handle m2")

    handled = bus.client().consume("a1", handler, limit=2, nack_delay=5)

    assert handled == 2
    assert settled(bus, "ack") == [["r1"], ["r3"]]
    assert [json_of(r) for r in bus.calls("POST", f"{INBOX}/nack")] == [{"receipts": ["r2"], "delay_seconds": 5}]


def test_consume_returns_when_the_stop_event_is_set() -> None:
    bus = FakeBus()
    stop = threading.Event()
    polls = []

    def empty_poll(request: httpx.Request) -> httpx.Response:
        polls.append(request)
        if len(polls) == 3:
            stop.set()
        return httpx.Response(200, json={"messages": []})

    bus.route("GET", INBOX, empty_poll)

    assert bus.client().consume("a1", lambda m: None, stop=stop) == 0
    assert len(polls) == 3


def test_a_receipt_the_queue_refused_is_not_counted_as_acked() -> None:
    bus = FakeBus()
    inbox(bus, [message(1), message(2)])
    bus.route("POST", f"{INBOX}/ack",
              httpx.Response(200, json={"acked": 0, "failed": [{"receipt": "r1", "code": "ReceiptHandleIsInvalid"}]}),
              httpx.Response(200, json={"acked": 1, "failed": []}))
    subscription = bus.client().subscribe("a1")

    with subscription as messages:
        for received in messages:
            if received["id"] == "m2":
                break

    assert settled(bus, "ack") == [["r1"], ["r2"]]
    assert subscription.acked == 1


def test_ack_and_nack_split_receipts_into_calls_of_at_most_100() -> None:
    bus = FakeBus()
    bus.route("POST", f"{INBOX}/ack", lambda r: httpx.Response(200, json={"acked": 1, "failed": []}))
    outcome = bus.client().ack("a1", [f"r{n}" for n in range(250)])
    assert [len(batch) for batch in settled(bus, "ack")] == [100, 100, 50]
    assert outcome["failed"] == []
