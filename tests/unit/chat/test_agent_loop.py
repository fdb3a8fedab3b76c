"""The agent loop with fakes of our own ports: bounds, errors, history trimming, titles, double texting."""

from datetime import UTC, datetime
from typing import Any

import pytest

from crewhouse.chat.logic import HISTORY_MESSAGES, ChatService, trim_history
from crewhouse.core.errors import Conflict
from crewhouse.core.identity import Identity
from crewhouse.llm.provider import ConverseResult, text_message
from crewhouse.tools.registry import ToolOutcome

ME = Identity("t", "u", "member", frozenset())


class MemoryStore:
    def __init__(self) -> None:
        self.sessions: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.locked: set[str] = set()
        self.history_reads = 0

    def create_session(self, owner: str, session_id: str, title: str, now: str, crew_id: str | None = None
                       ) -> dict[str, Any]:
        self.sessions[session_id] = {"id": session_id, "title": title, "created_at": now, "updated_at": now,
                                     "message_count": 0, "crew_id": crew_id}
        return self.sessions[session_id]

    def get_session(self, owner: str, session_id: str) -> dict[str, Any] | None:
        return self.sessions.get(session_id)

    def acquire_turn(self, owner: str, session_id: str, now_epoch: int, hold_seconds: int
                     ) -> dict[str, Any] | None:
        if session_id not in self.sessions:
            return None
        if session_id in self.locked:
            raise Conflict("busy")
        self.locked.add(session_id)
        return dict(self.sessions[session_id])

    def finish_turn(self, owner: str, session_id: str, messages: list[dict[str, Any]], first_seq: int,
                    now: str, title: str | None, lock: int | None = None,
                    context: list[dict[str, Any]] | None = None) -> None:
        self.messages.setdefault(session_id, []).extend(messages)
        self.sessions[session_id]["message_count"] = first_seq + len(messages)
        if title:
            self.sessions[session_id]["title"] = title
        if context is not None:
            self.sessions[session_id]["context"] = context
        self.locked.discard(session_id)

    def release_turn(self, owner: str, session_id: str) -> None:
        self.locked.discard(session_id)

    def recent_converse(self, owner: str, session_id: str, limit: int, count: int | None = None
                        ) -> list[dict[str, Any]]:
        self.history_reads += 1
        return [m["converse"] for m in self.messages.get(session_id, [])[:count][-limit:]]


class ScriptedProvider:
    name = "scripted"

    def __init__(self, answers: list[ConverseResult]) -> None:
        self.answers = answers
        self.seen: list[list[dict[str, Any]]] = []

    def converse(self, *, messages: list[dict[str, Any]], **_: Any) -> ConverseResult:
        self.seen.append(list(messages))
        return self.answers.pop(0) if self.answers else ConverseResult(text_message("assistant", "done"), "end_turn")


def tool_use(name: str, n: int = 0) -> ConverseResult:
    return ConverseResult({"role": "assistant", "content": [
        {"toolUse": {"toolUseId": f"u{n}", "name": name, "input": {"x": n}}}]}, "tool_use", {"totalTokens": 3})


def service(provider: Any, store: MemoryStore | None = None, tool: Any = None) -> tuple[ChatService, MemoryStore]:
    store = store or MemoryStore()
    run = tool or (lambda name, args: ToolOutcome(True, {"ran": name, **args}))
    return ChatService(store, provider, run, clock=lambda: datetime(2026, 11, 22, tzinfo=UTC)), store


def test_multi_step_tool_use_then_text() -> None:
    provider = ScriptedProvider([tool_use("search_tasks", 1), tool_use("delete_task", 2),
                                 ConverseResult(text_message("assistant", "Deleted."), "end_turn")])
    chat, store = service(provider)
    session = chat.create_session(ME, None)
    outcome = chat.send(ME, session["id"], "delete the bank task")
    assert outcome.reply_text == "Deleted."
    assert [c["name"] for c in outcome.tool_calls] == ["search_tasks", "delete_task"]
    last_request = provider.seen[-1]
    assert last_request[-1]["content"][0]["toolResult"]["status"] == "success"
    assert store.sessions[session["id"]]["title"] == "delete the bank task"


def test_tool_errors_go_back_as_error_results() -> None:
    provider = ScriptedProvider([tool_use("complete_task"), ConverseResult(text_message("assistant", "No."),
                                                                           "end_turn")])
    chat, _ = service(provider, tool=lambda name, args: ToolOutcome(False, {"detail": "No task."}))
    session = chat.create_session(ME, None)
    chat.send(ME, session["id"], "complete it")
    result = provider.seen[-1][-1]["content"][0]["toolResult"]
    assert result["status"] == "error"
    assert result["content"][0]["json"] == {"detail": "No task."}


def test_at_most_eight_tool_calls_per_turn() -> None:
    provider = ScriptedProvider([tool_use("get_tasks", n) for n in range(20)])
    calls: list[str] = []
    def record(name: str, args: dict[str, Any]) -> ToolOutcome:
        calls.append(name)
        return ToolOutcome(True, {})

    chat, _ = service(provider, tool=record)
    session = chat.create_session(ME, None)
    outcome = chat.send(ME, session["id"], "loop forever")
    assert len(calls) == 8
    assert len(outcome.tool_calls) == 8
    assert len(provider.seen) <= 10


def test_a_second_message_during_a_turn_is_409() -> None:
    store = MemoryStore()
    chat, _ = service(ScriptedProvider([]), store)
    session = chat.create_session(ME, None)
    store.locked.add(session["id"])
    with pytest.raises(Conflict):
        chat.send(ME, session["id"], "hello?")


def test_a_failed_turn_releases_the_lock() -> None:
    class Broken:
        name = "broken"

        def converse(self, **_: Any) -> ConverseResult:
            raise RuntimeError("model down")

    store = MemoryStore()
    chat, _ = service(Broken(), store)
    session = chat.create_session(ME, None)
    with pytest.raises(RuntimeError):
        chat.send(ME, session["id"], "hi")
    assert session["id"] not in store.locked


def test_history_is_trimmed_oldest_turns_first_keeping_whole_turns() -> None:
    old = [text_message("user", "x" * 4000), text_message("assistant", "y" * 400)]
    recent = [text_message("user", "short question"), text_message("assistant", "short answer")]
    kept = trim_history(old + recent, budget=200)
    assert kept == recent
    assert trim_history(old + recent, budget=10_000) == old + recent


def test_history_reaches_the_model_on_the_next_turn() -> None:
    provider = ScriptedProvider([])
    chat, _ = service(provider)
    session = chat.create_session(ME, None)
    chat.send(ME, session["id"], "first")
    chat.send(ME, session["id"], "second")
    texts = [b.get("text") for m in provider.seen[-1] for b in m["content"]]
    assert texts[:2] == ["first", "done"] and texts[-1] == "second"


def test_the_stored_context_is_what_the_full_history_would_give() -> None:
    """Each turn sends the context the previous turn stored with the session (no read of the messages), and it
    equals trimming the newest messages of the whole conversation, as reading them would give."""
    def sizeable(name: str, n: int) -> ConverseResult:
        return ConverseResult({"role": "assistant", "content": [
            {"toolUse": {"toolUseId": f"u{n}", "name": name, "input": {"pad": "p" * (40 * (n % 7))}}}]}, "tool_use")

    answers: list[ConverseResult] = []
    for n in range(30):
        answers += [sizeable("get_tasks", n)] * (n % 3) + [ConverseResult(text_message("assistant", "a" * (n * 9)),
                                                                          "end_turn")]
    provider = ScriptedProvider(answers)
    store = MemoryStore()
    chat, _ = service(provider, store)
    chat.token_budget = 400
    session = chat.create_session(ME, None)
    for n in range(30):
        everything = [m["converse"] for m in store.messages.get(session["id"], [])]
        expected = trim_history(everything[-HISTORY_MESSAGES:], 400)
        chat.send(ME, session["id"], f"message {n} " + "w" * (n * 11))
        sent = provider.seen[-(n % 3) - 1]  # the turn's first request
        assert sent[:-1] == expected, f"turn {n}"
    assert store.history_reads == 0


def test_a_session_stored_without_context_reads_its_newest_messages() -> None:
    provider = ScriptedProvider([])
    store = MemoryStore()
    chat, _ = service(provider, store)
    session = chat.create_session(ME, None)
    chat.send(ME, session["id"], "first")
    del store.sessions[session["id"]]["context"]  # as stored before sessions kept their context
    chat.send(ME, session["id"], "second")
    assert store.history_reads == 1
    texts = [b.get("text") for m in provider.seen[-1] for b in m["content"]]
    assert texts == ["first", "done", "second"]
