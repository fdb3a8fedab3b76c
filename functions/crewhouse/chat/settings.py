from __future__ import annotations

from crewhouse.llm.factory import LlmSettings


class ChatSettings(LlmSettings):
    chat_table: str = "crewhouse-chat"
    tasks_table: str = "crewhouse-tasks"
    search_table: str = "crewhouse-search"
    max_tool_calls_per_turn: int = 8
    turn_timeout_seconds: float = 25.0
    history_token_budget: int = 6000
