"""Request and response shapes of hosted agents, crews and crew runs (the context's public shapes)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Capability = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._:/-]{0,63}$")]
TaskId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
ToolId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
AgentId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Process = Literal["sequential", "hierarchical"]
RunStatus = Literal["running", "succeeded", "failed", "cancelled"]
InputValue = str | int | float | bool


class ModelChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider_id: str | None = Field(default=None, max_length=64, description="One of the tenant's model providers")
    model: str | None = Field(default=None, max_length=200, description="A model id of that provider")


class HostedAgentFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    role: str = Field(min_length=1, max_length=500)
    goal: str = Field(min_length=1, max_length=2000)
    backstory: str = Field(default="", max_length=4000)
    description: str = Field(default="", max_length=2000)
    model: ModelChoice | None = None
    tools: list[ToolId] = Field(default_factory=list, max_length=32,
                                description="Tool registry ids (builtin:<name> for Crewhouse's own tools)")
    capabilities: list[Capability] = Field(default_factory=list, max_length=32)
    max_iterations: int = Field(default=8, ge=1, le=25, description="Tool calls per run, at most")
    temperature: float = Field(default=0.2, ge=0, le=1)
    memory: bool = Field(default=False, description="Keep the agent's recent runs and feed them back (bounded)")


class HostedAgentCreate(HostedAgentFields):
    pass


class HostedAgentUpdate(HostedAgentFields):
    """A whole new definition: every update is a new immutable version."""


class HostedAgent(HostedAgentFields):
    id: str
    version: int = Field(description="The latest version, which the agent runs (also the ETag)")
    kind: Literal["hosted"] = "hosted"
    created_at: str
    updated_at: str
    created_by: str


class HostedAgentVersion(HostedAgentFields):
    id: str
    version: int
    created_at: str
    created_by: str


class AgentRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str = Field(min_length=1, max_length=20_000)
    context: dict[str, Any] | None = None


class ToolCallSummary(BaseModel):
    name: str
    ok: bool
    result: str


class AgentRunOut(BaseModel):
    agent_id: str
    version: int
    text: str
    tools_used: list[str]
    tool_calls: list[ToolCallSummary]
    usage: dict[str, int]
    provider: str


class CrewTask(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: TaskId
    description: str = Field(min_length=1, max_length=4000, description="May name inputs as {name}")
    expected_output: str = Field(min_length=1, max_length=2000)
    agent_id: AgentId | None = Field(default=None, description="A member; optional in a hierarchical crew")
    context: list[TaskId] = Field(default_factory=list, max_length=20,
                                  description="Ids of earlier tasks whose outputs feed this one")


class CrewFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=2000)
    members: list[AgentId] = Field(min_length=1, max_length=20, description="Hosted agent ids")
    process: Process = "sequential"
    manager_agent_id: AgentId | None = Field(default=None, description="Required for a hierarchical crew")
    tasks: list[CrewTask] = Field(min_length=1, max_length=20)
    max_steps: int = Field(default=10, ge=1, le=50, description="Delegations a hierarchical run may make in all")


class CrewCreate(CrewFields):
    pass


class CrewUpdate(CrewFields):
    pass


class Crew(CrewFields):
    id: str
    version: int
    created_at: str
    updated_at: str
    created_by: str


class CrewRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inputs: dict[str, InputValue] = Field(default_factory=dict, max_length=50,
                                          description="Interpolated into task descriptions ({topic})")


class TaskOutput(BaseModel):
    task_id: str
    agent_id: str
    agent_version: int
    text: str
    tools_used: list[str]
    delegations: list[dict[str, Any]] = Field(default_factory=list)
    usage: dict[str, int]


class CrewRun(BaseModel):
    id: str
    crew_id: str
    crew_version: int
    status: RunStatus
    execution_arn: str | None = None
    console_url: str | None = None
    inputs: dict[str, Any]
    started_at: str
    finished_at: str | None = None
    outputs: list[TaskOutput]
    result: str | None = None
    agents_used: list[str]
    tools_used: list[str]
    usage: dict[str, int]
    steps: int
    failed_task: str | None = None
    error: str | None = None
