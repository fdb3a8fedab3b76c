"""The Converse tool-use loop, shared by the chat and hosted agents (pure: no AWS, no storage).

Send the messages to the provider; each ``toolUse`` in its answer runs through ``call_tool`` and goes back as a
``toolResult`` (a failure with status ``error``), until the model answers in text, ``max_tool_calls`` tools ran
or the deadline passed. A tool asked for beyond the limit is not run: the model gets an ``error`` result saying
so, and one more round to answer in text. When even that round asks for tools the loop stops with
``STOPPED_TEXT``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from crewhouse.llm.provider import text_message, tool_result_block

if TYPE_CHECKING:
    from crewhouse.llm.provider import LLMProvider, Message

STOPPED_TEXT = "I stopped here: this message needed more steps or time than one turn allows."
NO_ANSWER = "(no answer)"
LIMIT_RESULT = {"error": "limit", "detail": "Tool call limit or time limit reached for this turn."}
SHORT_RESULT_CHARS = 200


class ToolResult(Protocol):
    """What a tool call answers (``crewhouse.tools.registry.ToolOutcome`` is one)."""

    @property
    def ok(self) -> bool: ...

    @property
    def content(self) -> dict[str, Any]: ...


ToolCallback = Callable[[str, dict[str, Any]], ToolResult]


@dataclass
class LoopResult:
    text: str  # the final answer (the model's, NO_ANSWER, or STOPPED_TEXT)
    tool_calls: list[dict[str, Any]]  # {"name", "input", "ok", "result"} for each tool that ran, in order
    usage: dict[str, int]  # inputTokens, outputTokens, totalTokens over every round
    provider: str
    messages: list[Message]  # the messages the loop added, the final assistant message last
    finished: bool = True  # False when the limit or the deadline stopped it
    model_ms: float = 0.0  # time spent waiting for the provider
    rounds: int = 0

    @property
    def tools_used(self) -> list[str]:
        return list(dict.fromkeys(call["name"] for call in self.tool_calls))


@dataclass
class _Totals:
    usage: dict[str, int] = field(default_factory=lambda: {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0})

    def add(self, usage: dict[str, Any]) -> None:
        for key in self.usage:
            self.usage[key] += int(usage.get(key, 0))


def short_result(content: Any, limit: int = SHORT_RESULT_CHARS) -> str:
    """A tool result in one line, for run records and chat replies."""
    import json

    text = content if isinstance(content, str) else json.dumps(content, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run_tool_loop(provider: LLMProvider, messages: list[Message], *, system: str | list[dict[str, Any]],
                  tool_config: dict[str, Any] | None, call_tool: ToolCallback, max_tool_calls: int = 8,
                  timeout_seconds: float = 25.0, max_tokens: int = 1024, temperature: float | None = None
                  ) -> LoopResult:
    """Run the loop from ``messages`` (ending with the user's turn); ``system`` is a prompt or Converse blocks;
    ``temperature`` None leaves the model's default."""
    system_blocks = [{"text": system}] if isinstance(system, str) else system
    config = tool_config if tool_config and tool_config.get("tools") else None
    added: list[Message] = []
    calls: list[dict[str, Any]] = []
    totals = _Totals()
    deadline = time.monotonic() + timeout_seconds
    provider_name = provider.name
    model_ms = 0.0
    rounds = 0
    for _ in range(max_tool_calls + 2):  # tool rounds, plus the answer after the limit
        asked = time.perf_counter()
        result = provider.converse(messages=messages + added, system=system_blocks, tool_config=config,
                                   max_tokens=max_tokens, temperature=temperature)
        model_ms += (time.perf_counter() - asked) * 1000
        rounds += 1
        provider_name = result.provider or provider_name
        totals.add(result.usage)
        added.append(result.message)
        uses = result.tool_uses
        if result.stop_reason != "tool_use" or not uses:
            return LoopResult(result.text or NO_ANSWER, calls, totals.usage, provider_name, added, True, model_ms,
                              rounds)
        blocks = []
        for use in uses:
            if len(calls) >= max_tool_calls or time.monotonic() > deadline:
                ok, content = False, dict(LIMIT_RESULT)
            else:
                arguments = dict(use.get("input") or {})
                outcome = call_tool(use["name"], arguments)
                ok, content = outcome.ok, outcome.content
                calls.append({"name": use["name"], "input": use.get("input") or {}, "ok": ok, "result": content})
            blocks.append(tool_result_block(use["toolUseId"], content, ok))
        added.append({"role": "user", "content": blocks})
        if time.monotonic() > deadline:
            break
    added.append(text_message("assistant", STOPPED_TEXT))
    return LoopResult(STOPPED_TEXT, calls, totals.usage, provider_name, added, False, model_ms, rounds)
