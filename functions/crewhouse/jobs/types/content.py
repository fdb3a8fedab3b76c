"""``content``: a brief becomes a draft (blog post, email, social post or outline)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from crewhouse.jobs.registry import register
from crewhouse.jobs.types.base import JobOutput, JobRun
from crewhouse.jobs.types.common import ask, assemble, footer, params_as
from crewhouse.llm.job_prompts import section

Format = Literal["blog_post", "email", "social_post", "outline"]
Tone = Literal["professional", "friendly", "casual", "formal", "enthusiastic"]

_FORMATS: dict[str, tuple[str, str]] = {  # label, what the model is asked for
    "blog_post": ("Blog post", "a blog post in markdown: a # title, an introduction, ## sections, a conclusion"),
    "email": ("Email", "an email: a **Subject:** line, a greeting, a short body and a sign-off"),
    "social_post": ("Social post", "one social media post of at most 280 characters, with up to three hashtags"),
    "outline": ("Outline", "a numbered outline in markdown with a # title and two or three bullets per point"),
}
_TITLE = re.compile(r"^(?:# |\*\*Subject:\*\*\s*|Subject:\s*)(.+)$", re.MULTILINE)
_ANSWER_TOKENS_PER_WORD = 2  # generous: markdown and punctuation cost tokens too


class ContentParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    brief: str = Field(min_length=1, max_length=5000, description="What to write: subject, key points, call to action")
    format: Format = "blog_post"
    tone: Tone = "professional"
    audience: str | None = Field(default=None, min_length=1, max_length=200, description="Who will read it")
    max_words: int | None = Field(default=None, ge=20, le=3000, description="An upper bound on the draft's length")


INSTRUCTIONS = """You are a writer. Write {what} from the user's brief (in the <brief> section), in a {tone}
tone{audience}. Cover every point of the brief and invent no facts: where a detail is needed that the brief does
not give, put a bracketed placeholder such as [date]. {length}Answer with the draft only."""


class ContentJob:
    name = "content"
    description = "Turn a brief into a draft: a blog post, an email, a social post or an outline."
    params_model = ContentParams

    def run(self, run: JobRun) -> JobOutput:
        params = params_as(run, ContentParams)
        run.progress(10, "Reading the brief")
        label, what = _FORMATS[params.format]
        audience = f" for {params.audience}" if params.audience else ""
        length = f"Use at most {params.max_words} words. " if params.max_words else ""
        instructions = INSTRUCTIONS.format(what=what, tone=params.tone, audience=audience, length=length)
        options = {"format": params.format, "tone": params.tone, "audience": params.audience,
                   "max_words": params.max_words}
        run.progress(50, "Drafting")
        max_tokens = min(8192, max(1024, (params.max_words or 1500) * _ANSWER_TOKENS_PER_WORD))
        draft, provider = ask(run, self.name, options, instructions, section("brief", params.brief), max_tokens)
        run.progress(90, "Formatting the draft")
        title = f"{label}: {_title_in(draft) or _headline(params.brief)}"
        return JobOutput(title=title, markdown=assemble(draft, footer(self.name, provider)), provider=provider)


def _title_in(draft: str) -> str | None:
    """The draft's own title: its first ``# heading`` or an email's subject line."""
    match = _TITLE.search(draft)
    return match.group(1).strip()[:150] if match else None


def _headline(brief: str, words: int = 10) -> str:
    parts = brief.split()
    return " ".join(parts[:words]) + ("…" if len(parts) > words else "")


register(ContentJob())
