from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class SessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=200)
    crew_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                                description="Bind the session to one of the tenant's crews: each message goes to it")


class Session(BaseModel):
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    message_count: int = 0
    crew_id: str | None = None


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=8000)


class ToolCall(BaseModel):
    name: str
    input: dict[str, Any]
    ok: bool
    result: dict[str, Any] | str = Field(description="The tool's result (shortened to text for a crew's agents)")
    agent_id: str | None = Field(default=None, description="The crew member that made the call (crew sessions)")


class AgentUse(BaseModel):
    """A crew member that worked on the reply, and the tools it used."""

    agent_id: str
    name: str
    tools_used: list[str]


# ``default_factory`` is a Python function, never the builtin ``list``: pydantic inspects the factory's
# signature, and a builtin's comes from its text signature, parsed with ``tokenize``, whose regular
# expressions compile on first use (~15 ms of the chat Lambda's cold start, nothing else needs them).
class ChatMessage(BaseModel):
    id: str
    role: Literal["user", "assistant"]
    text: str
    tool_calls: list[ToolCall] = Field(default_factory=lambda: [])
    agents: list[AgentUse] = Field(default_factory=lambda: [])
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
    crew_id: str | None = None
    agents: list[AgentUse] = Field(default_factory=lambda: [], description="A crew session's members that worked")
    provider: str
    usage: dict[str, int]
    timings: TurnTimings
