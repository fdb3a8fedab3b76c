from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class SessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=200)


class Session(BaseModel):
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    message_count: int = 0


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=8000)


class ToolCall(BaseModel):
    name: str
    input: dict[str, Any]
    ok: bool
    result: dict[str, Any]


# ``default_factory`` is a Python function, never the builtin ``list``: pydantic inspects the factory's
# signature, and a builtin's comes from its text signature, parsed with ``tokenize``, whose regular
# expressions compile on first use (~15 ms of the chat Lambda's cold start, nothing else needs them).
class ChatMessage(BaseModel):
    id: str
    role: Literal["user", "assistant"]
    text: str
    tool_calls: list[ToolCall] = Field(default_factory=lambda: [])
    created_at: datetime


class TurnTimings(BaseModel):
    total_ms: float
    model_ms: float

    @property
    def overhead_ms(self) -> float:
        return self.total_ms - self.model_ms


class TurnResult(BaseModel):
    reply: ChatMessage
    tool_calls: list[ToolCall]
    provider: str
    usage: dict[str, int]
    timings: TurnTimings
