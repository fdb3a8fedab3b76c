"""One LLM interface, shaped like the Bedrock Converse API.

Messages, system prompts, tool configuration, ``toolUse``/``toolResult`` blocks, ``stopReason`` and token
``usage`` use Converse's own JSON shapes, so the Bedrock provider is a pass-through and every other
provider translates to and from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

Message = dict[str, Any]  # {"role": "user"|"assistant", "content": [block, ...]}


class ProviderUnavailable(Exception):
    """Throttling, a 5xx or a timeout: the next provider in the failover order should try."""


class ProviderError(Exception):
    """The request itself is wrong (4xx other than throttling): failing over would not help."""


@dataclass
class ConverseResult:
    message: Message
    stop_reason: str  # "end_turn" | "tool_use" | "max_tokens" | ...
    usage: dict[str, int] = field(default_factory=dict)
    provider: str = ""

    @property
    def text(self) -> str:
        return "".join(block.get("text", "") for block in self.message.get("content", []))

    @property
    def tool_uses(self) -> list[dict[str, Any]]:
        return [block["toolUse"] for block in self.message.get("content", []) if "toolUse" in block]


class LLMProvider(Protocol):
    name: str

    def converse(self, *, messages: list[Message], system: list[dict[str, Any]] | None = None,
                 tool_config: dict[str, Any] | None = None, max_tokens: int = 1024,
                 temperature: float | None = None) -> ConverseResult: ...


def text_message(role: str, text: str) -> Message:
    return {"role": role, "content": [{"text": text}]}


def tool_result_block(tool_use_id: str, content: dict[str, Any], ok: bool) -> dict[str, Any]:
    return {"toolResult": {"toolUseId": tool_use_id, "content": [{"json": content}],
                           "status": "success" if ok else "error"}}


@dataclass
class FailoverProvider:
    """Tries providers in order; moves on only when one is unavailable. Records token usage."""

    providers: list[LLMProvider]
    name: str = "failover"
    usage: dict[str, int] = field(default_factory=lambda: {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0})

    def converse(self, *, messages: list[Message], system: list[dict[str, Any]] | None = None,
                 tool_config: dict[str, Any] | None = None, max_tokens: int = 1024,
                 temperature: float | None = None) -> ConverseResult:
        failures: list[str] = []
        for provider in self.providers:
            try:
                result = provider.converse(messages=messages, system=system, tool_config=tool_config,
                                           max_tokens=max_tokens, temperature=temperature)
            except ProviderUnavailable as exc:
                failures.append(f"{provider.name}: {exc}")
                continue
            for key in self.usage:
                self.usage[key] += int(result.usage.get(key, 0))
            return result
        raise ProviderUnavailable("; ".join(failures) or "no provider configured")
