"""The shapes the flows API accepts and returns (other contexts may import these)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from crewhouse.flows.graph import FlowGraph

ExecutionStatus = Literal["running", "succeeded", "failed", "cancelled", "timed_out"]
ApprovalStatus = Literal["pending", "approved", "rejected"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled", "timed_out"})


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FlowCreate(_Body):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    graph: FlowGraph


class FlowUpdate(_Body):
    """A change; a new ``graph`` is validated, compiled and published as the next version."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    graph: FlowGraph | None = None


class Flow(BaseModel):
    id: str
    name: str
    description: str
    graph: FlowGraph
    latest_version: int = Field(description="The version the `live` alias runs")
    state_machine_arn: str
    alias_arn: str = Field(description="The `live` alias: new executions run the version it points to")
    console_url: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    version: int = Field(description="The item's version (the ETag); changes with every save")


class FlowVersion(BaseModel):
    flow_id: str
    number: int
    graph: FlowGraph
    state_machine_version_arn: str
    created_by: str
    created_at: datetime
    definition: dict[str, Any] | None = Field(default=None, description="The compiled ASL (single version reads)")


class ExecutionStart(_Body):
    input: dict[str, Any] = Field(default_factory=dict, description="Values for the start node's declared inputs")


class Execution(BaseModel):
    id: str
    flow_id: str
    flow_version: int
    status: ExecutionStatus
    started_by: str
    started_at: datetime
    stopped_at: datetime | None = None
    input: dict[str, Any] = Field(default_factory=dict)
    output: dict[str, Any] | None = Field(default=None, description="The flow's output: its end node and values")
    failed_node: str | None = Field(default=None, description="The node that failed the run")
    error: str | None = None
    cause: str | None = None
    execution_arn: str
    console_url: str = Field(description="The execution in the Step Functions console")
    redrive_count: int = Field(default=0, description="How often the execution was redriven (the same execution "
                                                       "continues from the node that failed)")
    redriven_at: datetime | None = None


class Approval(BaseModel):
    node_id: str
    prompt: str
    details: Any = None
    status: ApprovalStatus
    requested_at: datetime
    expires_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    comment: str | None = None


class ApprovalDecision(_Body):
    comment: str = Field(default="", max_length=4000)


class ExecutionEvent(BaseModel):
    at: datetime
    source: Literal["execution", "runner"] = Field(description="Step Functions' history or the node runner")
    type: str = Field(description="node_entered, node_exited, node_failed, execution_*; node_started, tool_called …")
    node_id: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class ExecutionEvents(BaseModel):
    items: list[ExecutionEvent]
    next: str = Field(description="Pass as `after` to get what happens next")
    status: ExecutionStatus
