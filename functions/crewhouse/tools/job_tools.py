"""Agent-job tools: queue research and content jobs, then read their status and result.

They call the same :class:`~crewhouse.jobs.logic.JobService` as ``POST /jobs`` and ``GET /jobs/{id}``, so
admission, priorities and ownership are the REST API's own.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from crewhouse.jobs.logic import JobService
from crewhouse.jobs.models import Job, JobSubmit, Priority, ResultSpec
from crewhouse.jobs.settings import JobsSettings
from crewhouse.tools.registry import Tool, ToolContext, register


def _build(settings: JobsSettings) -> JobService:
    from crewhouse.jobs.adapters import job_service

    return job_service(settings)


def _service(context: ToolContext) -> JobService:
    return context.service_from("jobs", JobsSettings, _build)


class ResearchInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topic: str = Field(min_length=1, max_length=500, description="What to research")
    depth: Literal["quick", "standard", "deep"] = "standard"
    questions: list[str] = Field(default_factory=list, max_length=10, description="Questions the report answers")
    priority: Priority = "normal"
    notebook_id: str | None = Field(default=None, description="Put the report note in this notebook")


class ContentInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    brief: str = Field(min_length=1, max_length=5000, description="What to write")
    format: Literal["blog_post", "email", "social_post", "outline"] = "blog_post"
    tone: str = Field(default="neutral", max_length=50)
    audience: str | None = Field(default=None, max_length=200)
    priority: Priority = "normal"
    notebook_id: str | None = None


class JobIdInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: str = Field(min_length=1, max_length=64, description="The id a queue_* tool returned")


class JobResultOutput(BaseModel):
    job: Job
    title: str | None = None
    markdown: str | None = Field(default=None, description="The result note's body, once the job succeeded")


def _submit(context: ToolContext, job_type: str, params: dict[str, object], priority: str,
            notebook_id: str | None) -> Job:
    body = JobSubmit.model_validate({"type": job_type, "params": params, "priority": priority,
                                     "result": ResultSpec(kind="note", notebook_id=notebook_id).model_dump()})
    return _service(context).submit(context.identity, body)


def _research(context: ToolContext, args: ResearchInput) -> Job:
    params: dict[str, object] = {"topic": args.topic, "depth": args.depth}
    if args.questions:
        params["questions"] = args.questions
    return _submit(context, "research", params, args.priority, args.notebook_id)


def _content(context: ToolContext, args: ContentInput) -> Job:
    params: dict[str, object] = {"brief": args.brief, "format": args.format, "tone": args.tone}
    if args.audience:
        params["audience"] = args.audience
    return _submit(context, "content", params, args.priority, args.notebook_id)


def _status(context: ToolContext, args: JobIdInput) -> Job:
    return _service(context).get(context.identity, args.job_id)


def _result(context: ToolContext, args: JobIdInput) -> JobResultOutput:
    job = _status(context, args)
    if job.status != "succeeded" or job.result is None or not job.result.note_id:
        return JobResultOutput(job=job)
    from crewhouse.tools.note_tools import note_service

    note = note_service(context).get(context.identity, job.result.note_id)
    return JobResultOutput(job=job, title=note.title, markdown=note.body)


register(Tool("queue_research_task", "Queue a research job: a report with citations, written to a note.",
              ResearchInput, Job, _research))
register(Tool("queue_content_generation", "Queue a content job: a brief becomes a draft, written to a note.",
              ContentInput, Job, _content))
register(Tool("get_task_status", "An agent job's status, progress (0-100), message and ETA.", JobIdInput, Job,
              _status, read_only=True))
register(Tool("get_task_result", "An agent job's result: the note it wrote, once it succeeded.", JobIdInput,
              JobResultOutput, _result, read_only=True))
