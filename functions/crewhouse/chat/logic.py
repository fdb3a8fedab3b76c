"""The chat agent: a bounded Converse tool-use loop over the same tools the MCP server exposes.

A turn sends the recent history (trimmed to a token budget, oldest turns first) and the user's text to
the provider (the shared loop of :mod:`crewhouse.llm.tool_loop`); each ``toolUse`` runs in-process through the
tool registry and goes back as a
``toolResult`` (errors with status ``error``), until the model answers in text, 8 tool calls were made,
or the turn's time is up. Only one turn per session runs at a time.

A session bound to a crew (``crew_id``) sends each message to that crew instead (the crews context's
``CrewConversation``: its manager agent in a hierarchical crew, its tasks in order in a sequential one), with the
conversation so far as context; the reply names the agents that worked and every tool call each made.

The history comes with the session: taking the turn lock returns the context the previous turn stored
(:func:`next_context`), so a turn reads no messages. Its own DynamoDB work is three requests: the lock, the
turn's messages in one batch, and the commit (see ``store.py``); the rest is the tools' work.

Live updates (crewhouse.realtime, topic ``chat:<session id>`` of the session's owner): each tool call is put on the
``crewhouse`` bus as ``chat.tool_call`` when it returns, and the reply as ``chat.reply`` once the turn is stored: one
``PutEvents`` per tool call and one per turn. A lost announcement is only a missed live update (the messages are
stored), so it never fails the turn.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from crewhouse.core.business_metrics import BusinessMetric, record
from crewhouse.core.errors import NotFound
from crewhouse.core.identity import Identity

if TYPE_CHECKING:  # the provider layer and the tool registry load with the first turn, not with the module
    from crewhouse.crews.logic import CrewReply
    from crewhouse.llm.provider import LLMProvider
    from crewhouse.tools.registry import ToolOutcome

Message = dict[str, Any]  # a Converse message (crewhouse.llm.provider.Message)

SYSTEM_PROMPT = (
    "You are Crewhouse's assistant. You manage the user's tasks with the tools provided. Tasks have a "
    "priority letter A (most important), B or C, and labels such as A1 show their order within a day. "
    "Use tools to read and change tasks; never invent ids. Answer briefly."
)
CHAT_TOOLS = ("create_task", "get_tasks", "update_task", "complete_task", "delete_task", "prioritize_tasks",
              "search_tasks")
HISTORY_MESSAGES = 40


class ChatStore(Protocol):
    def create_session(self, owner: str, session_id: str, title: str, now: str, crew_id: str | None = None
                       ) -> dict[str, Any]: ...

    def get_session(self, owner: str, session_id: str) -> dict[str, Any] | None: ...

    def acquire_turn(self, owner: str, session_id: str, now_epoch: int, hold_seconds: int
                     ) -> dict[str, Any] | None: ...

    def finish_turn(self, owner: str, session_id: str, messages: list[dict[str, Any]], first_seq: int,
                    now: str, title: str | None, lock: int | None = None,
                    context: list[dict[str, Any]] | None = None) -> None: ...

    def release_turn(self, owner: str, session_id: str) -> None: ...

    def recent_converse(self, owner: str, session_id: str, limit: int, count: int | None = None
                        ) -> list[dict[str, Any]]: ...


ToolCaller = Callable[[str, dict[str, Any]], "ToolOutcome"]


class Crews(Protocol):
    """The crews context's ``CrewConversation``: a crew of the caller's tenant (404 otherwise) and its reply."""

    def crew(self, identity: Identity, crew_id: str) -> dict[str, Any]: ...

    def reply(self, identity: Identity, crew_id: str, text: str, transcript: str = "") -> CrewReply: ...


class Announcing(Protocol):
    """Puts an event on the ``crewhouse`` bus (``crewhouse.core.events.Announcer``); never raises."""

    def publish(self, detail_type: str, detail: dict[str, Any]) -> Any: ...


TRANSCRIPT_CHARS = 6000  # of the conversation so far, sent to a crew as context
EVENT_SOURCE = "crewhouse.chat"
TOOL_CALL_EVENT = "chat.tool_call"  # each tool call of a turn, as it returns
REPLY_EVENT = "chat.reply"  # the turn's reply, once it is stored
REPLY_EVENT_CHARS = 16_000  # of the reply's text in the event (the whole reply is in the session's messages)
RESULT_EVENT_CHARS = 8_000  # a tool's result in its event, as JSON; a larger one goes as a one-line summary


def event_result(content: Any) -> dict[str, Any]:
    """A tool's result for its ``chat.tool_call`` event: whole when small, else summed up (``result_truncated``);
    the whole result is in the session's messages."""
    import json

    from crewhouse.llm.tool_loop import short_result  # with the first turn, as the loop itself

    if len(json.dumps(content, default=str)) <= RESULT_EVENT_CHARS:
        return {"result": content}
    return {"result": short_result(content), "result_truncated": True}


@dataclass
class TurnOutcome:
    reply_text: str
    tool_calls: list[dict[str, Any]]
    provider: str
    usage: dict[str, int]
    stored: list[dict[str, Any]]
    model_ms: float = 0.0  # time spent waiting for the provider: what our own code adds is the rest
    agents: list[dict[str, Any]] | None = None  # a crew session's members that worked on the reply
    crew_id: str | None = None


def owner_of(identity: Identity) -> str:
    return f"T#{identity.tenant_id}#U#{identity.user_id}"


@cache
def tool_config(names: tuple[str, ...] = CHAT_TOOLS) -> dict[str, Any]:
    """The Converse ``toolConfig`` for the chat's tools, from the registry's input schemas (built once)."""
    from crewhouse.tools.registry import get_tool

    load_chat_tools()
    specs = []
    for name in names:
        tool = get_tool(name)
        if tool is not None:
            specs.append({"toolSpec": {"name": tool.name, "description": tool.description,
                                       "inputSchema": {"json": tool.input_model.model_json_schema()}}})
    return {"tools": specs}


@cache
def load_chat_tools() -> None:
    """Register the chat's tools (the task tools) only: notes, files and jobs tools are not loaded here."""
    import crewhouse.tools.task_tools  # noqa: F401  (registers itself)


def estimate_tokens(message: Message) -> int:
    return max(1, len(str(message.get("content", ""))) // 4)


def trim_history(history: list[Message], budget: int) -> list[Message]:
    """Keep the newest whole turns that fit the budget; a turn starts at a user text message."""
    total = 0
    kept_from = len(history)
    for i in range(len(history) - 1, -1, -1):  # newest first: each message is estimated once
        total += estimate_tokens(history[i])
        if total > budget:
            break
        message = history[i]
        if message["role"] == "user" and any("text" in b for b in message["content"]):
            kept_from = i
    return history[kept_from:]


def next_context(history: list[Message], new: list[Message], budget: int) -> list[Message]:
    """The conversation context after a turn: what the next turn sends (the newest whole turns within
    ``HISTORY_MESSAGES`` messages and the token budget). Stored with the session, it spares the next turn a
    read of the messages; trimming it again gives the same context as trimming the full history would."""
    return trim_history([*history, *new][-HISTORY_MESSAGES:], budget)


def title_from(text: str) -> str:
    words = text.strip().split()
    title = " ".join(words[:8])
    return title if len(words) <= 8 else f"{title}…"


def find_session(store: ChatStore, identity: Identity, session_id: str) -> dict[str, Any]:
    """The caller's session; another user's or tenant's id answers 404 exactly like a missing one."""
    found = store.get_session(owner_of(identity), session_id)
    if found is None:
        raise NotFound(f"No chat session {session_id}.")
    return found


def create_session(store: ChatStore, identity: Identity, title: str | None, now: datetime,
                   crew_id: str | None = None, crews: Callable[[], Crews] | None = None) -> dict[str, Any]:
    """A new, empty conversation (one write; no provider or tool is needed for it). A crew session checks that the
    crew is the tenant's first (a missing or foreign crew is 404)."""
    from ulid import ULID

    if crew_id:
        if crews is None:
            raise NotFound(f"No crew {crew_id}.")
        found = crews().crew(identity, crew_id)
        title = title or f"Chat with {found['name']}"
    return store.create_session(owner_of(identity), str(ULID()), title or "New chat", now.isoformat(), crew_id)


def transcript(history: list[Message], limit: int = TRANSCRIPT_CHARS) -> str:
    """The conversation's text turns, newest kept within ``limit`` characters (tool rounds left out)."""
    lines = []
    for message in history:
        said = "".join(block.get("text", "") for block in message.get("content", []))
        if said:
            lines.append(f"{'User' if message['role'] == 'user' else 'Crew'}: {said}")
    return "\n".join(lines)[-limit:]


class ChatService:
    def __init__(self, store: ChatStore, provider: LLMProvider, run_tool: ToolCaller, *,
                 max_tool_calls: int = 8, timeout_seconds: float = 25.0, token_budget: int = 6000,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 crews: Callable[[], Crews] | None = None, announcer: Announcing | None = None) -> None:
        self.store = store
        self.announcer = announcer
        self.provider = provider
        self.run_tool = run_tool
        self.crews = crews
        self.max_tool_calls = max_tool_calls
        self.timeout_seconds = timeout_seconds
        self.token_budget = token_budget
        self.clock = clock

    def create_session(self, identity: Identity, title: str | None, crew_id: str | None = None) -> dict[str, Any]:
        return create_session(self.store, identity, title, self.clock(), crew_id, self.crews)

    def send(self, identity: Identity, session_id: str, text: str) -> TurnOutcome:
        owner = owner_of(identity)
        session = self.store.acquire_turn(owner, session_id, int(time.time()), int(self.timeout_seconds) + 5)
        if session is None:
            raise NotFound(f"No chat session {session_id}.")
        try:
            count = int(session["message_count"])
            history = session.get("context")  # the context the previous turn stored with the session
            if history is None:  # a session stored without it: read the newest messages instead
                history = self.store.recent_converse(owner, session_id, HISTORY_MESSAGES, count) if count else []
            context = trim_history(history, self.token_budget)
            crew_id = session.get("crew_id")
            about = {"tenant_id": identity.tenant_id, "user_id": identity.user_id, "session_id": session_id}
            outcome = self._crew_turn(identity, str(crew_id), context, text) if crew_id else self._turn(
                context, text, self._announcing(about))
        except BaseException:
            self.store.release_turn(owner, session_id)
            raise
        title = title_from(text) if count == 0 and session["title"] == "New chat" else None
        after = next_context(context, [m["converse"] for m in outcome.stored], self.token_budget)
        self.store.finish_turn(owner, session_id, outcome.stored, count, self.clock().isoformat(), title,
                               session.get("lock"), after)
        record(BusinessMetric.CHAT_TURNS, identity.tenant_id)
        record(BusinessMetric.CHAT_TOOL_CALLS, identity.tenant_id, len(outcome.tool_calls))
        if self.announcer is not None:
            self.announcer.publish(REPLY_EVENT, {**about, "reply": {
                "text": outcome.reply_text[:REPLY_EVENT_CHARS], "provider": outcome.provider, "usage": outcome.usage,
                "tool_calls": [{"name": c["name"], "ok": c["ok"]} for c in outcome.tool_calls],
                "crew_id": outcome.crew_id}})
        return outcome

    def _announcing(self, about: dict[str, Any]) -> ToolCaller:
        """The tool caller, announcing each call (``chat.tool_call``) as it returns: live updates of a turn that
        is still running (crewhouse.realtime). One PutEvents per tool call; the loop's contract is unchanged."""
        announcer = self.announcer
        if announcer is None:
            return self.run_tool
        calls = 0

        def call(name: str, arguments: dict[str, Any]) -> ToolOutcome:
            nonlocal calls
            outcome = self.run_tool(name, arguments)
            calls += 1
            announcer.publish(TOOL_CALL_EVENT, {**about, "index": calls, "tool_call": {
                "name": name, "input": arguments, "ok": outcome.ok, **event_result(outcome.content)}})
            return outcome

        return call

    def _turn(self, context: list[Message], text: str, call_tool: ToolCaller | None = None) -> TurnOutcome:
        from crewhouse.llm.provider import text_message
        from crewhouse.llm.tool_loop import run_tool_loop

        user = text_message("user", text)
        loop = run_tool_loop(self.provider, [*context, user], system=SYSTEM_PROMPT, tool_config=tool_config(),
                             call_tool=call_tool or self.run_tool, max_tool_calls=self.max_tool_calls,
                             timeout_seconds=self.timeout_seconds)
        stored: list[dict[str, Any]] = [{"role": "user", "text": text, "converse": user}]
        *rounds, final = loop.messages
        for message in rounds:  # each tool round: the model's tool uses, then the results as the user's turn
            said = "".join(block.get("text", "") for block in message["content"]) if message["role"] == "assistant" \
                else ""
            stored.append({"role": message["role"], "text": said, "converse": message})
        stored.append({"role": "assistant", "text": loop.text, "converse": final, "tool_calls": loop.tool_calls})
        return TurnOutcome(loop.text, loop.tool_calls, loop.provider, loop.usage, stored, loop.model_ms)

    def _crew_turn(self, identity: Identity, crew_id: str, context: list[Message], text: str) -> TurnOutcome:
        from crewhouse.llm.provider import text_message

        if self.crews is None:
            raise NotFound(f"No crew {crew_id}.")
        started = time.perf_counter()
        answer = self.crews().reply(identity, crew_id, text, transcript(context))
        model_ms = (time.perf_counter() - started) * 1000  # the agents' work, tools included
        stored: list[dict[str, Any]] = [
            {"role": "user", "text": text, "converse": text_message("user", text)},
            {"role": "assistant", "text": answer.text, "converse": text_message("assistant", answer.text or "…"),
             "tool_calls": answer.tool_calls, "agents": answer.agents}]
        return TurnOutcome(answer.text, answer.tool_calls, answer.provider, answer.usage, stored, model_ms,
                           answer.agents, crew_id)


def registry_caller(identity: Identity, settings_for: Callable[[type], Any]) -> ToolCaller:
    """Run the chat's tools in-process through the registry (never through the MCP transport)."""
    from crewhouse.tools.registry import ToolContext, call_tool

    load_chat_tools()
    context = ToolContext(identity=identity, settings_for=settings_for)
    return lambda name, arguments: call_tool(name, arguments, context)
