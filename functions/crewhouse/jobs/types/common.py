"""What the built-in job types share: the model's input budget, the model call, citations and the footer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, TypeVar

from pydantic import BaseModel

from crewhouse.jobs.types.base import JobRun, SourceDocument, TransientJobError
from crewhouse.llm.job_prompts import source_block, system_prompt
from crewhouse.llm.provider import text_message

# About 15k tokens of source text: it leaves room for the instructions and the answer in every model we use.
DEFAULT_BUDGET_CHARS = 60_000
MAX_ANSWER_TOKENS = 4096

ParamsT = TypeVar("ParamsT", bound=BaseModel)

_KIND_LABELS = {"note": "Note", "file": "File", "text": "Text", "web": "Web page"}


def params_as(run: JobRun, model: type[ParamsT]) -> ParamsT:
    """The run's params as the type's own model (the runner hands over the validated instance)."""
    if isinstance(run.params, model):
        return run.params
    return model.model_validate(run.params.model_dump())


def _allowance(sizes: Sequence[int], budget: int) -> int:
    """The largest per-document size such that the documents together fit ``budget``: short documents keep all
    their text and the long ones share what the short ones leave."""
    remaining = budget
    ordered = sorted(sizes)
    for index, size in enumerate(ordered):
        share = remaining // (len(ordered) - index)
        if size > share:
            return share
        remaining -= size
    return max(ordered, default=0)


def fit_to_budget(documents: Sequence[SourceDocument], budget: int) -> tuple[list[SourceDocument], list[str]]:
    """The documents cut to fit ``budget`` characters together, and a note for each one that was cut."""
    allowance = _allowance([len(d.text) for d in documents], budget)
    fitted, notes = [], []
    for document in documents:
        if len(document.text) <= allowance:
            fitted.append(document)
            continue
        cut = document.text[:allowance]
        cut = cut.rsplit(None, 1)[0] if " " in cut[-200:] or "\n" in cut[-200:] else cut  # end at a word
        fitted.append(replace(document, text=cut + " […]"))
        notes.append(f"“{document.title}” was cut to its first {len(cut):,} of {len(document.text):,} characters")
    return fitted, notes


def trimmed_notice(notes: Sequence[str], budget: int) -> str:
    if not notes:
        return ""
    return (f"> **Note:** the sources are longer than the model's input budget ({budget:,} characters), so they "
            f"were trimmed: {'; '.join(notes)}.")


def source_blocks(documents: Sequence[SourceDocument]) -> str:
    return "\n\n".join(source_block(n, d.kind, d.id, d.title, d.text) for n, d in enumerate(documents, 1))


def ask(run: JobRun, job: str, options: dict[str, Any], instructions: str, user_text: str,
        max_tokens: int = MAX_ANSWER_TOKENS) -> tuple[str, str]:
    """One Converse call with the job's tagged system prompt: ``(answer text, provider that answered)``."""
    result = run.llm.converse(messages=[text_message("user", user_text)],
                              system=system_prompt(job, options, instructions), max_tokens=max_tokens)
    text = result.text.strip()
    if not text:
        raise TransientJobError(f"the model ({result.provider or run.llm.name}) returned no text")
    return text, result.provider or run.llm.name


def citation(number: int, kind: str, ref: str, title: str) -> dict[str, Any]:
    return {"n": number, "kind": kind, "ref": ref, "title": title}


def sources_section(citations: Sequence[dict[str, Any]]) -> str:
    if not citations:
        return ""
    lines = ["## Sources", ""]
    for c in citations:
        where = f" <{c['ref']}>" if c["kind"] == "web" else (f" (`{c['ref']}`)" if c["kind"] != "text" else "")
        lines.append(f"{c['n']}. {_KIND_LABELS.get(c['kind'], c['kind'].title())}: {c['title']}{where}")
    return "\n".join(lines)


def footer(job: str, provider: str) -> str:
    return f"---\n*Written by the `{job}` agent job with the `{provider}` model provider.*"


def assemble(*parts: str) -> str:
    """Markdown blocks joined by blank lines (empty ones left out)."""
    return "\n\n".join(part.strip("\n") for part in parts if part and part.strip()) + "\n"
