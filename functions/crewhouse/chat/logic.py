"""The chat agent: a bounded Converse tool-use loop over the same tools the MCP server exposes.

A turn sends the recent history (trimmed to a token budget, oldest turns first) and the user's text to
the provider; each ``toolUse`` runs in-process through the tool registry and goes back as a
``toolResult`` (errors with status ``error``), until the model answers in text, 8 tool calls were made,
or the turn's time is up. Only one turn per session runs at a time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, Protocol

from ulid import ULID

from crewhouse.core.errors import NotFound
from crewhouse.core.identity import Identity
from crewhouse.llm.provider import ConverseResult, LLMProvider, Message, text_message, tool_result_block
from crewhouse.tools.registry import ToolContext, ToolOutcome, call_tool, tools

SYSTEM_PROMPT = (
    "You are Crewhouse's assistant. You manage the user's tasks with the tools provided. Tasks have a "
    "priority letter A (most important), B or C, and labels such as A1 show their order within a day. "
    "Use tools to read and change tasks; never invent ids. Answer briefly."
)
CHAT_TOOLS = ("create_task", "get_tasks", "update_task", "complete_task", "delete_task", "prioritize_tasks",
              "search_tasks")
HISTORY_MESSAGES = 40


class ChatStore(Protocol):
    def create_session(self, owner: str, session_id: str, title: str, now: str) -> dict[str, Any]: ...

    def get_session(self, owner: str, session_id: str) -> dict[str, Any] | None: ...

    def acquire_turn(self, owner: str, session_id: str, now_epoch: int, hold_seconds: int
                     ) -> dict[str, Any] | None: ...

    def finish_turn(self, owner: str, session_id: str, messages: list[dict[str, Any]], first_seq: int,
                    now: str, title: str | None) -> None: ...

    def release_turn(self, owner: str, session_id: str) -> None: ...

    def recent_converse(self, owner: str, session_id: str, limit: int) -> list[dict[str, Any]]: ...


ToolCaller = Callable[[str, dict[str, Any]], ToolOutcome]


@dataclass
class TurnOutcome:
    reply_text: str
    tool_calls: list[dict[str, Any]]
    provider: str
    usage: dict[str, int]
    stored: list[dict[str, Any]]
    model_ms: float = 0.0  # time spent waiting for the provider: what our own code adds is the rest


def owner_of(identity: Identity) -> str:
    return f"T#{identity.tenant_id}#U#{identity.user_id}"


@cache
def tool_config(names: tuple[str, ...] = CHAT_TOOLS) -> dict[str, Any]:
    """The Converse ``toolConfig`` for the chat's tools, from the registry's input schemas."""
    specs = []
    for tool in tools():
        if tool.name in names:
            specs.append({"toolSpec": {"name": tool.name, "description": tool.description,
                                       "inputSchema": {"json": tool.input_model.model_json_schema()}}})
    return {"tools": specs}


def estimate_tokens(message: Message) -> int:
    return max(1, len(str(message.get("content", ""))) // 4)


def trim_history(history: list[Message], budget: int) -> list[Message]:
    """Keep the newest whole turns that fit the budget; a turn starts at a user text message."""
    starts = [i for i, m in enumerate(history) if m["role"] == "user" and any("text" in b for b in m["content"])]
    for start in starts:
        kept = history[start:]
        if sum(estimate_tokens(m) for m in kept) <= budget:
            return kept
    return []


def title_from(text: str) -> str:
    words = text.strip().split()
    title = " ".join(words[:8])
    return title if len(words) <= 8 else f"{title}…"


class ChatService:
    def __init__(self, store: ChatStore, provider: LLMProvider, run_tool: ToolCaller, *,
                 max_tool_calls: int = 8, timeout_seconds: float = 25.0, token_budget: int = 6000,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.provider = provider
        self.run_tool = run_tool
        self.max_tool_calls = max_tool_calls
        self.timeout_seconds = timeout_seconds
        self.token_budget = token_budget
        self.clock = clock

    def create_session(self, identity: Identity, title: str | None) -> dict[str, Any]:
        return self.store.create_session(owner_of(identity), str(ULID()), title or "New chat",
                                         self.clock().isoformat())

    def session(self, identity: Identity, session_id: str) -> dict[str, Any]:
        found = self.store.get_session(owner_of(identity), session_id)
        if found is None:
            raise NotFound(f"No chat session {session_id}.")
        return found

    def send(self, identity: Identity, session_id: str, text: str) -> TurnOutcome:
        owner = owner_of(identity)
        session = self.store.acquire_turn(owner, session_id, int(time.time()), int(self.timeout_seconds) + 5)
        if session is None:
            raise NotFound(f"No chat session {session_id}.")
        try:
            outcome = self._turn(owner, session_id, text)
        except BaseException:
            self.store.release_turn(owner, session_id)
            raise
        title = title_from(text) if session["message_count"] == 0 and session["title"] == "New chat" else None
        self.store.finish_turn(owner, session_id, outcome.stored, session["message_count"],
                               self.clock().isoformat(), title)
        return outcome

    def _turn(self, owner: str, session_id: str, text: str) -> TurnOutcome:
        history = self.store.recent_converse(owner, session_id, HISTORY_MESSAGES)
        context = trim_history(history, self.token_budget)
        user = text_message("user", text)
        new_messages: list[Message] = [user]
        stored: list[dict[str, Any]] = [{"role": "user", "text": text, "converse": user}]
        calls: list[dict[str, Any]] = []
        usage = {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0}
        deadline = time.monotonic() + self.timeout_seconds
        provider_name = self.provider.name
        config = tool_config()
        model_ms = 0.0
        for _ in range(self.max_tool_calls + 2):  # tool rounds, plus the answer after the limit
            asked = time.perf_counter()
            result: ConverseResult = self.provider.converse(
                messages=context + new_messages, system=[{"text": SYSTEM_PROMPT}], tool_config=config)
            model_ms += (time.perf_counter() - asked) * 1000
            provider_name = result.provider or provider_name
            for key in usage:
                usage[key] += int(result.usage.get(key, 0))
            new_messages.append(result.message)
            uses = result.tool_uses
            if result.stop_reason != "tool_use" or not uses:
                reply = result.text or "(no answer)"
                stored.append({"role": "assistant", "text": reply, "converse": result.message,
                               "tool_calls": calls})
                return TurnOutcome(reply, calls, provider_name, usage, stored, model_ms)
            results = []
            for use in uses:
                if len(calls) >= self.max_tool_calls or time.monotonic() > deadline:
                    outcome = ToolOutcome(False, {"error": "limit", "detail": "Tool call limit or time limit "
                                                                              "reached for this turn."})
                else:
                    outcome = self.run_tool(use["name"], dict(use.get("input") or {}))
                    calls.append({"name": use["name"], "input": use.get("input") or {}, "ok": outcome.ok,
                                  "result": outcome.content})
                results.append(tool_result_block(use["toolUseId"], outcome.content, outcome.ok))
            tool_turn = {"role": "user", "content": results}
            new_messages.append(tool_turn)
            stored.append({"role": "assistant", "text": result.text, "converse": result.message})
            stored.append({"role": "user", "text": "", "converse": tool_turn})
            if time.monotonic() > deadline:
                break
        reply = "I stopped here: this message needed more steps or time than one turn allows."
        stored.append({"role": "assistant", "text": reply, "converse": text_message("assistant", reply),
                       "tool_calls": calls})
        return TurnOutcome(reply, calls, provider_name, usage, stored, model_ms)


def registry_caller(identity: Identity, settings_for: Callable[[type], Any]) -> ToolCaller:
    context = ToolContext(identity=identity, settings_for=settings_for)
    return lambda name, arguments: call_tool(name, arguments, context)
