"""crewhouse.core.events.Announcer: the one helper producers announce on the bus with (jobs, chat, flows, bus)."""

from __future__ import annotations

import json
from typing import Any

from crewhouse.chat.logic import RESULT_EVENT_CHARS, event_result
from crewhouse.core.events import Announcer


class Events:
    def __init__(self, fail: bool = False, refuse: bool = False) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.fail, self.refuse = fail, refuse

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        if self.fail:
            raise RuntimeError("AccessDeniedException")
        self.calls.append(Entries)
        return {"FailedEntryCount": len(Entries) if self.refuse else 0}


def test_events_go_in_order_ten_a_call_on_the_named_bus_and_source() -> None:
    events = Events()
    announcer = Announcer(events, "crewhouse", "crewhouse.flows")
    assert announcer.announce_many([("flow.execution_event", {"n": n}) for n in range(12)])
    assert [len(call) for call in events.calls] == [10, 2]
    entries = [entry for call in events.calls for entry in call]
    assert [json.loads(e["Detail"])["n"] for e in entries] == list(range(12))
    assert {(e["Source"], e["DetailType"], e["EventBusName"]) for e in entries} == {
        ("crewhouse.flows", "flow.execution_event", "crewhouse")}


def test_the_client_is_made_at_the_first_announcement_only() -> None:
    made: list[Events] = []

    def factory() -> Events:
        made.append(Events())
        return made[-1]

    announcer = Announcer(factory, "crewhouse", "crewhouse.chat")
    assert made == []  # a handler that never announces builds no client
    announcer.publish("chat.reply", {"a": 1})
    announcer.publish("chat.reply", {"a": 2})
    assert len(made) == 1 and len(made[0].calls) == 2


def test_a_failed_or_refused_announcement_is_false_never_raised() -> None:
    assert Announcer(Events(fail=True), "crewhouse", "s").publish("x", {}) is False
    assert Announcer(Events(refuse=True), "crewhouse", "s").publish("x", {}) is False


def test_a_chat_tool_calls_result_goes_whole_when_small_and_summed_up_when_large() -> None:
    assert event_result({"title": "milk"}) == {"result": {"title": "milk"}}
    large = event_result({"items": ["x" * 100] * (RESULT_EVENT_CHARS // 50)})
    assert large["result_truncated"] is True and isinstance(large["result"], str) and len(large["result"]) <= 200
