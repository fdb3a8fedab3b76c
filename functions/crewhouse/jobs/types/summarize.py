"""``summarize``: notes, files or a text become a summary."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from crewhouse.jobs.registry import register
from crewhouse.jobs.types.base import JobOutput, JobRun, PermanentJobError, SourceDocument
from crewhouse.jobs.types.common import (
    DEFAULT_BUDGET_CHARS,
    ask,
    assemble,
    citation,
    fit_to_budget,
    footer,
    params_as,
    source_blocks,
    sources_section,
    trimmed_notice,
)

MAX_TEXT_CHARS = 200_000
_SOURCE_FIELDS = ("note_ids", "file_ids", "text")
_LENGTHS = {"short": "three to four sentences", "medium": "one or two paragraphs",
            "long": "a detailed summary of several paragraphs"}

Id = Annotated[str, Field(min_length=1, max_length=64)]


class SummarizeParams(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        # In the JSON schema too, so that the 422 lists it with the other schema errors.
        json_schema_extra={"oneOf": [{"required": [name]} for name in _SOURCE_FIELDS]},
    )

    note_ids: list[Id] | None = Field(default=None, min_length=1, max_length=20,
                                       description="Notes to summarize together (1-20)")
    file_ids: list[Id] | None = Field(default=None, min_length=1, max_length=20,
                                       description="Files to summarize together (1-20): text, markdown, CSV, JSON, "
                                                   "or images and PDFs with extracted text")
    text: str | None = Field(default=None, min_length=1, max_length=MAX_TEXT_CHARS,
                             description="A text to summarize (at most 200,000 characters)")
    length: Literal["short", "medium", "long"] = "medium"
    focus: str | None = Field(default=None, min_length=1, max_length=200,
                              description="What the summary should concentrate on")

    @model_validator(mode="after")
    def _exactly_one_source(self) -> SummarizeParams:
        given = [name for name in _SOURCE_FIELDS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of note_ids, file_ids or text")
        return self


INSTRUCTIONS = """You summarize the user's own documents. The sources are in <source> sections, numbered by n.
Write {length_words}{focus_words}. Stay faithful to the sources: add nothing they do not say. When there is more
than one source, cite the source numbers in brackets, like [2]. Answer in markdown, without a heading."""


class SummarizeJob:
    name = "summarize"
    description = "Summarize notes, files or a text (extractive when offline)."
    params_model = SummarizeParams

    def __init__(self, budget_chars: int = DEFAULT_BUDGET_CHARS) -> None:
        self.budget_chars = budget_chars

    def _documents(self, run: JobRun, params: SummarizeParams) -> list[SourceDocument]:
        if params.text is not None:
            return [SourceDocument(kind="text", id="text", title="The supplied text", text=params.text)]
        if params.note_ids:
            return [run.sources.note(i) for i in dict.fromkeys(params.note_ids)]
        return [run.sources.file(i) for i in dict.fromkeys(params.file_ids or [])]

    def run(self, run: JobRun) -> JobOutput:
        params = params_as(run, SummarizeParams)
        run.progress(10, "Reading the sources")
        documents = [d for d in self._documents(run, params) if d.text.strip()]
        if not documents:
            raise PermanentJobError("The sources hold no text to summarize.")
        fitted, notes = fit_to_budget(documents, self.budget_chars)
        run.progress(50, "Summarizing")
        focus = f", concentrating on {params.focus}" if params.focus else ""
        options = {"length": params.length, "focus": params.focus}
        instructions = INSTRUCTIONS.format(length_words=_LENGTHS[params.length], focus_words=focus)
        summary, provider = ask(run, self.name, options, instructions, source_blocks(fitted))
        run.progress(90, "Formatting the summary")
        citations = [citation(n, d.kind, d.id, d.title) for n, d in enumerate(documents, 1)]
        subject = documents[0].title if len(documents) == 1 else f"{len(documents)} sources"
        title = f"Summary: {subject}"
        markdown = assemble(f"# {title}", trimmed_notice(notes, self.budget_chars), summary,
                            sources_section(citations), footer(self.name, provider))
        return JobOutput(title=title, markdown=markdown, citations=citations, provider=provider)


register(SummarizeJob())
