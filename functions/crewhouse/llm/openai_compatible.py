"""OpenAI-compatible chat completions (OpenAI, Ollama, vLLM …), translated to and from Converse shapes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from crewhouse.llm.provider import ConverseResult, Message, ProviderError, ProviderUnavailable

STOP_REASONS = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens"}


def to_openai_messages(messages: list[Message], system: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if system:
        out.append({"role": "system", "content": "\n".join(b.get("text", "") for b in system)})
    for message in messages:
        texts = [b["text"] for b in message["content"] if "text" in b]
        tool_uses = [b["toolUse"] for b in message["content"] if "toolUse" in b]
        results = [b["toolResult"] for b in message["content"] if "toolResult" in b]
        for result in results:
            payload = result["content"][0].get("json", result["content"][0].get("text"))
            out.append({"role": "tool", "tool_call_id": result["toolUseId"],
                        "content": payload if isinstance(payload, str) else json.dumps(payload)})
        if texts or tool_uses:
            entry: dict[str, Any] = {"role": message["role"], "content": "\n".join(texts) or None}
            if tool_uses:
                entry["tool_calls"] = [{"id": t["toolUseId"], "type": "function", "function": {
                    "name": t["name"], "arguments": json.dumps(t["input"])}} for t in tool_uses]
            out.append(entry)
    return out


def to_openai_tools(tool_config: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not tool_config:
        return []
    return [{"type": "function", "function": {"name": t["toolSpec"]["name"],
                                              "description": t["toolSpec"].get("description", ""),
                                              "parameters": t["toolSpec"]["inputSchema"]["json"]}}
            for t in tool_config.get("tools", [])]


def from_openai_response(body: dict[str, Any], provider: str) -> ConverseResult:
    choice = body["choices"][0]
    message = choice["message"]
    content: list[dict[str, Any]] = []
    if message.get("content"):
        content.append({"text": message["content"]})
    for call in message.get("tool_calls") or []:
        content.append({"toolUse": {"toolUseId": call["id"], "name": call["function"]["name"],
                                    "input": json.loads(call["function"].get("arguments") or "{}")}})
    usage = body.get("usage") or {}
    return ConverseResult(
        message={"role": "assistant", "content": content},
        stop_reason=STOP_REASONS.get(choice.get("finish_reason", "stop"), "end_turn"),
        usage={"inputTokens": usage.get("prompt_tokens", 0), "outputTokens": usage.get("completion_tokens", 0),
               "totalTokens": usage.get("total_tokens", 0)},
        provider=provider,
    )


@dataclass
class OpenAICompatibleProvider:
    base_url: str  # e.g. https://api.openai.com/v1 or http://localhost:11434/v1
    model: str
    api_key: str | None = None  # from Secrets Manager in AWS (see factory.py)
    timeout: float = 60.0
    transport: Any = None  # an httpx transport, for tests
    name: str = "openai-compatible"

    def converse(self, *, messages: list[Message], system: list[dict[str, Any]] | None = None,
                 tool_config: dict[str, Any] | None = None, max_tokens: int = 1024,
                 temperature: float | None = None) -> ConverseResult:
        import httpx

        payload: dict[str, Any] = {"model": self.model, "messages": to_openai_messages(messages, system),
                                   "max_tokens": max_tokens}
        if temperature is not None:
            payload["temperature"] = temperature
        tools = to_openai_tools(tool_config)
        if tools:
            payload["tools"] = tools
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            with httpx.Client(timeout=self.timeout, transport=self.transport) as client:
                response = client.post(f"{self.base_url.rstrip('/')}/chat/completions", json=payload,
                                       headers=headers)
        except httpx.TransportError as exc:
            raise ProviderUnavailable(type(exc).__name__) from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise ProviderUnavailable(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise ProviderError(f"HTTP {response.status_code}: {response.text[:200]}")
        return from_openai_response(response.json(), self.name)
