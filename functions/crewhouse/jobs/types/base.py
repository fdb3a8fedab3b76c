"""What a job type is: a params model, and a ``run`` that turns params into a markdown result.

A type never touches DynamoDB, S3 or Step Functions itself. It gets a :class:`JobRun`: the validated
params, the LLM provider chain (Converse-shaped), a progress callback and read access to the owner's
notes and files (:class:`Sources`). The runner stores the :class:`JobOutput` as a note or a file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from crewhouse.llm.provider import LLMProvider


class PermanentJobError(Exception):
    """The job cannot succeed however often it is retried (bad source, unsupported content)."""


class TransientJobError(Exception):
    """Worth retrying: a provider or a store was unavailable."""


@dataclass(frozen=True)
class SourceDocument:
    kind: str  # "note" | "file" | "text"
    id: str
    title: str
    text: str
    content_type: str = "text/markdown"


@dataclass(frozen=True)
class SearchHit:
    kind: str  # "note" | "file" | "web"
    ref: str  # a note/file id, or a URL
    title: str
    snippet: str
    text: str = ""  # a web page's extracted text, when the provider read it (notes and files are read later)


class Sources(Protocol):
    """The job owner's own notes and files (tenant and owner enforced by the adapter)."""

    def note(self, note_id: str) -> SourceDocument: ...

    def file(self, file_id: str) -> SourceDocument: ...

    def file_bytes(self, file_id: str) -> tuple[str, str, bytes]: ...  # (name, content type, bytes)


TENANT_SEARCH = "tenant"  # the name of the search over the owner's own notes and files (the default provider)


class SearchProvider(Protocol):
    @property
    def name(self) -> str:  # TENANT_SEARCH, or e.g. "web": research reports say which one found their sources
        ...

    def search(self, query: str, limit: int) -> list[SearchHit]: ...


@dataclass
class JobRun:
    job_id: str
    params: BaseModel
    llm: LLMProvider
    sources: Sources
    search: SearchProvider
    progress: Callable[[int, str], None] = lambda percent, message: None


@dataclass
class JobOutput:
    title: str
    markdown: str
    citations: list[dict[str, Any]] = field(default_factory=list)
    provider: str = ""  # the LLM provider that answered ("offline" is labelled in the markdown too)


class JobType(Protocol):
    # Read-only, so that a type may declare its own params class (``params_model = SummarizeParams``).
    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def params_model(self) -> type[BaseModel]: ...

    def run(self, run: JobRun) -> JobOutput: ...
