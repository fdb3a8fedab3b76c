"""``content`` with the real offline provider: templated drafts shaped by format, tone and length."""

from __future__ import annotations

from crewhouse.llm.job_prompts import parse_request
from crewhouse.llm.offline import LABEL
from tests.unit.jobs.fakes import Progress, RecordingLLM, run_job

BRIEF = "Write about our spring volunteering day. Mention the park clean-up. Invite families to join."


def test_a_blog_post_draft_is_titled_from_the_draft_and_labelled() -> None:
    progress = Progress()
    output = run_job("content", {"brief": BRIEF, "tone": "enthusiastic"}, progress=progress)
    assert output.title == "Blog post: Our spring volunteering day"
    assert output.markdown.startswith(f"{LABEL} Generated offline, without a language model")
    assert "## The park clean-up" in output.markdown and "## Families to join" in output.markdown
    assert "Big news: our spring volunteering day!" in output.markdown
    assert output.provider == "offline" and output.citations == []
    assert progress.percents == [10, 50, 90]


def test_an_email_is_titled_by_its_subject() -> None:
    output = run_job("content", {"brief": BRIEF, "format": "email", "audience": "neighbours"})
    assert output.title == "Email: Our spring volunteering day"
    assert "Hello neighbours," in output.markdown and "[Your name]" in output.markdown


def test_the_model_is_told_the_format_tone_audience_and_length() -> None:
    llm = RecordingLLM()
    run_job("content", {"brief": BRIEF, "format": "outline", "tone": "formal", "audience": "the board",
                        "max_words": 40}, llm=llm)
    request = parse_request(llm.requests[0]["system"], llm.user_text)
    assert request is not None and request.sections == {"brief": BRIEF}
    assert request.options == {"format": "outline", "tone": "formal", "audience": "the board", "max_words": 40}
    instructions = llm.requests[0]["system"][0]["text"]
    assert "numbered outline" in instructions and "formal" in instructions and "for the board" in instructions
    assert "at most 40 words" in instructions


def test_max_words_bounds_the_offline_draft() -> None:
    output = run_job("content", {"brief": BRIEF + " Thank the sponsors. List the meeting points.",
                                 "max_words": 30})
    draft = output.markdown.split("\n\n", 1)[1].split("\n---\n")[0]
    assert len(draft.split()) <= 30
