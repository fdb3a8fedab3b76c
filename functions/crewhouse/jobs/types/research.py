"""``research``: a topic becomes a report with numbered citations, from what the search provider finds."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from crewhouse.jobs.registry import register
from crewhouse.jobs.types.base import (
    TENANT_SEARCH,
    JobOutput,
    JobRun,
    PermanentJobError,
    SearchHit,
    SourceDocument,
)
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
from crewhouse.llm.job_prompts import section

SOURCES_BY_DEPTH = {"quick": 3, "standard": 6, "deep": 10}

Question = Annotated[str, Field(min_length=1, max_length=300)]


class ResearchParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topic: str = Field(min_length=1, max_length=500)
    depth: Literal["quick", "standard", "deep"] = Field(
        default="standard", description="How many sources to read: quick 3, standard 6, deep 10")
    questions: list[Question] | None = Field(default=None, min_length=1, max_length=10,
                                             description="Questions the report should answer")


INSTRUCTIONS = """You write a research report on the topic in <topic>, using only the numbered <source> sections
(they come from {scope}). After every claim, cite its source number in brackets, like [2]; make no claim that no
source supports. Structure: "## Overview", then one "## <question>" section for each question in <questions>
(say so plainly when the sources do not answer it), then "## Key points by source". Answer in markdown, without a
title and without a list of sources (one is added)."""


def tenant_only_notice(provider_name: str) -> str:
    if provider_name == TENANT_SEARCH:
        return ("> **Sources:** no web search key is set for this workspace (an admin sets one with "
                "`PUT /research/web-search`), so this report searched only your own notes and files.")
    if provider_name == "web":
        return "> **Sources:** the web (pages read for this report) and your own notes and files."
    return f"> **Sources:** found with the `{provider_name}` search provider."


class ResearchJob:
    name = "research"
    description = ("Research a topic and write a report with citations, from the web (with the workspace's search "
                   "key) and your own notes and files.")
    params_model = ResearchParams

    def __init__(self, budget_chars: int = DEFAULT_BUDGET_CHARS) -> None:
        self.budget_chars = budget_chars

    @staticmethod
    def _search(run: JobRun, params: ResearchParams, limit: int) -> list[SearchHit]:
        """The hits for the topic and for each question, taken in turn, without repeats, up to ``limit``."""
        results = [run.search.search(query, limit) for query in [params.topic, *(params.questions or [])]]
        chosen: dict[tuple[str, str], SearchHit] = {}
        for rank in range(limit):
            for hits in results:
                if rank < len(hits) and len(chosen) < limit:
                    chosen.setdefault((hits[rank].kind, hits[rank].ref), hits[rank])
        return list(chosen.values())

    @staticmethod
    def _read(run: JobRun, hit: SearchHit) -> SourceDocument:
        """A note or file hit read whole (its snippet when it cannot be read); a web hit is its page's text (its
        snippet when the page could not be read)."""
        if hit.kind in ("note", "file"):
            try:
                document = run.sources.note(hit.ref) if hit.kind == "note" else run.sources.file(hit.ref)
            except PermanentJobError:
                document = None  # deleted since it was indexed, or a file type without text
            if document is not None and document.text.strip():
                return document
        return SourceDocument(kind=hit.kind, id=hit.ref, title=hit.title, text=hit.text or hit.snippet)

    def run(self, run: JobRun) -> JobOutput:
        params = params_as(run, ResearchParams)
        scope = {TENANT_SEARCH: "your own notes and files",
                 "web": "the web and your own notes and files"}.get(run.search.name, f"{run.search.name} search")
        run.progress(10, f"Searching {scope}")
        hits = self._search(run, params, SOURCES_BY_DEPTH[params.depth])
        run.progress(30, f"Reading {len(hits)} source{'s' if len(hits) != 1 else ''}")
        documents = [self._read(run, hit) for hit in hits]
        fitted, notes = fit_to_budget(documents, self.budget_chars)
        run.progress(60, "Writing the report")
        questions = "\n".join(params.questions or [])
        user_text = "\n\n".join([section("topic", params.topic), section("questions", questions),
                                 source_blocks(fitted)])
        options = {"depth": params.depth, "search": run.search.name}
        report, provider = ask(run, self.name, options, INSTRUCTIONS.format(scope=scope), user_text)
        run.progress(90, "Formatting the report")
        citations = [citation(n, d.kind, d.id, d.title) for n, d in enumerate(documents, 1)]
        title = f"Research: {params.topic[:150]}"
        markdown = assemble(f"# {title}", tenant_only_notice(run.search.name), trimmed_notice(notes, self.budget_chars),
                            report, sources_section(citations), footer(self.name, provider))
        return JobOutput(title=title, markdown=markdown, citations=citations, provider=provider)


register(ResearchJob())
