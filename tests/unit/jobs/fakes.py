"""Small fakes of our own job ports (sources, search), for running job types without AWS."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crewhouse.jobs import registry
from crewhouse.jobs.types.base import (
    TENANT_SEARCH,
    JobOutput,
    JobRun,
    PermanentJobError,
    SearchHit,
    SourceDocument,
)
from crewhouse.llm.offline import OfflineProvider
from crewhouse.llm.provider import ConverseResult, FailoverProvider, LLMProvider


@dataclass
class FakeSources:
    notes: dict[str, SourceDocument] = field(default_factory=dict)
    files: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)  # id -> (name, content type, bytes)

    def note(self, note_id: str) -> SourceDocument:
        if note_id not in self.notes:
            raise PermanentJobError(f"Note {note_id} was not found.")
        return self.notes[note_id]

    def file(self, file_id: str) -> SourceDocument:
        name, content_type, data = self.file_bytes(file_id)
        return SourceDocument(kind="file", id=file_id, title=name, text=data.decode(), content_type=content_type)

    def file_bytes(self, file_id: str) -> tuple[str, str, bytes]:
        if file_id not in self.files:
            raise PermanentJobError(f"File {file_id} was not found.")
        return self.files[file_id]


@dataclass
class FakeSearch:
    hits: list[SearchHit] = field(default_factory=list)
    name: str = TENANT_SEARCH
    queries: list[str] = field(default_factory=list)

    def search(self, query: str, limit: int) -> list[SearchHit]:
        self.queries.append(query)
        return self.hits[:limit]


@dataclass
class RecordingLLM:
    """The offline provider, keeping every request it was sent."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    name: str = "offline"

    def converse(self, *, messages: list[dict[str, Any]], system: list[dict[str, Any]] | None = None,
                 tool_config: dict[str, Any] | None = None, max_tokens: int = 1024,
                 temperature: float | None = None) -> ConverseResult:
        self.requests.append({"messages": messages, "system": system, "max_tokens": max_tokens})
        return OfflineProvider().converse(messages=messages, system=system, max_tokens=max_tokens)

    @property
    def user_text(self) -> str:
        return str(self.requests[-1]["messages"][-1]["content"][0]["text"])


@dataclass
class Progress:
    steps: list[tuple[int, str]] = field(default_factory=list)

    def __call__(self, percent: int, message: str) -> None:
        self.steps.append((percent, message))

    @property
    def percents(self) -> list[int]:
        return [p for p, _ in self.steps]


def note(note_id: str, title: str, text: str) -> SourceDocument:
    return SourceDocument(kind="note", id=note_id, title=title, text=text)


def run_job(type_name: str, params: dict[str, Any], sources: FakeSources | None = None,
            search: FakeSearch | None = None, llm: LLMProvider | None = None,
            progress: Progress | None = None) -> JobOutput:
    """Validate params as the API does, then run the type as the runner does (offline provider by default)."""
    job_type = registry.get_type(type_name)
    assert job_type is not None
    run = JobRun(job_id="job-1", params=registry.validate_params(type_name, params),
                 llm=llm or FailoverProvider([OfflineProvider()]), sources=sources or FakeSources(),
                 search=search or FakeSearch(), progress=progress or Progress())
    return job_type.run(run)
