"""Jobs' REST (and MCP) shapes. Field names are the same everywhere."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, model_validator

Priority = Literal["high", "normal", "low"]
Status = Literal["scheduled", "queued", "running", "succeeded", "failed", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
CANCELLABLE: frozenset[str] = frozenset({"scheduled", "queued", "running"})


class ResultSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["note", "file"] = "note"
    notebook_id: str | None = Field(default=None, max_length=64, description="Only for note results")

    @model_validator(mode="after")
    def _notebook_only_for_notes(self) -> ResultSpec:
        if self.kind == "file" and self.notebook_id:
            raise ValueError("notebook_id applies to note results only")
        return self


class JobSubmit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=64, description="summarize | content | research | analyze")
    params: dict[str, Any] = Field(default_factory=dict, description="Validated against the type's JSON schema")
    priority: Priority = "normal"
    run_at: AwareDatetime | None = Field(default=None, description="Start at this time; in the past means now")
    result: ResultSpec = Field(default_factory=ResultSpec)


class JobError(BaseModel):
    code: str
    message: str


PREVIEW_CHARS = 500
PARTIAL_CHARS = 20_000  # what a failed job keeps of the agent's output, on the job item (DynamoDB: 400 KB an item)


class JobResult(BaseModel):
    kind: Literal["note", "file"]
    note_id: str | None = None
    file_id: str | None = None
    preview: str | None = Field(default=None, description=f"The result's first {PREVIEW_CHARS} characters "
                                                          "(markdown), kept with the job: no read of the note")


class PartialOutput(BaseModel):
    """What a failed job's finished steps produced (the agent's report, when storing it was what failed)."""

    title: str = ""
    markdown: str = Field(description=f"The agent's output, its first {PARTIAL_CHARS:,} characters")
    truncated: bool = False


class Job(BaseModel):
    id: str
    type: str
    params: dict[str, Any]
    priority: Priority
    status: Status = Field(description=(
        "The job's state, the one to trust: `succeeded` means the result is stored and readable. The Step "
        "Functions execution (execution_arn) may still be finishing its last state, emitting job.succeeded."))
    progress: int = Field(ge=0, le=100)
    message: str = ""
    eta: datetime | None = None
    attempts: int = 0
    error: JobError | None = None
    failed_step: str | None = Field(default=None, description="The step that failed: RunAgent or "
                                                              "StoreResult")
    partial: PartialOutput | None = Field(default=None, description="A failed job's output from the steps "
                                                                    "that finished, if any")
    result: JobResult | None = None
    result_spec: ResultSpec
    run_at: datetime | None = None
    execution_arn: str | None = None
    console_url: str | None = None
    dead_lettered: bool = False
    usage: dict[str, int] = Field(default_factory=dict)
    provider: str | None = None
    agent_ms: int | None = Field(default=None, description="How long the agent step itself took (last attempt)")
    created_at: datetime
    admitted_at: datetime | None = Field(default=None, description="When the job got its slot and was queued")
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class JobEvent(BaseModel):
    at: datetime
    type: str
    state: str | None = None
    detail: str = ""


class JobTimeline(BaseModel):
    job_id: str
    execution_arn: str | None
    events: list[JobEvent]


class JobTypeInfo(BaseModel):
    name: str
    description: str
    params_schema: dict[str, Any]


class WebSearchKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr = Field(min_length=8, max_length=512,
                               description="The workspace's web search API key (Brave Search API); write-only")


class WebSearchSetting(BaseModel):
    configured: bool = Field(description="Whether research reads the web; the key itself is never shown")
    updated_at: datetime | None = None
    endpoint: str = Field(description="The search API research calls")
