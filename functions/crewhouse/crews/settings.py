"""What the crews functions read from their environment."""

from __future__ import annotations

from crewhouse.llm.factory import LlmSettings


class CrewsSettings(LlmSettings):
    # Hosted agents (heads, versions, memory), crews and crew runs (PK/SK).
    crews_table: str = "crewhouse-crews"
    # The crew-run state machine (crew_run.asl.json); set on the functions that start and stop runs.
    crew_state_machine_arn: str | None = None
    # How long one agent run may take: the API's synchronous try-out stays under API Gateway's 30 s.
    agent_timeout_seconds: float = 25.0
