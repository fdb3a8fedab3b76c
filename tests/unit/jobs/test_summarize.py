"""``summarize`` over fake sources and the real offline provider."""

from __future__ import annotations

import pytest

from crewhouse.jobs.types.base import JobRun, PermanentJobError
from crewhouse.jobs.types.summarize import SummarizeJob, SummarizeParams
from crewhouse.llm.job_prompts import parse_request
from crewhouse.llm.offline import LABEL
from tests.unit.jobs.fakes import FakeSearch, FakeSources, Progress, RecordingLLM, note, run_job

GARDEN = ("Tomatoes need six hours of sun. Water tomatoes deeply twice a week. The shed door squeaks. "
          "Mulch keeps tomatoes moist in July. My neighbour bought a red bicycle.")
COMPOST = "Compost feeds tomatoes slowly. Turn the compost every two weeks. Coffee grounds suit the compost."
SOURCES = FakeSources(notes={"n1": note("n1", "Garden", GARDEN), "n2": note("n2", "Compost", COMPOST)},
                      files={"f1": ("plan.md", "text/markdown", b"# Plan\n\nPlant tomatoes in May. Stake them early.")})


def test_a_note_summary_is_extractive_labelled_and_cited() -> None:
    progress = Progress()
    output = run_job("summarize", {"note_ids": ["n1"], "length": "short"}, SOURCES, progress=progress)
    assert output.title == "Summary: Garden"
    assert output.provider == "offline"
    assert f"{LABEL} Generated offline, without a language model" in output.markdown
    bullets = [line[2:] for line in output.markdown.splitlines() if line.startswith("- ")]
    assert bullets == ["Tomatoes need six hours of sun.", "Water tomatoes deeply twice a week.",
                       "Mulch keeps tomatoes moist in July."]
    assert output.citations == [{"n": 1, "kind": "note", "ref": "n1", "title": "Garden"}]
    assert "1. Note: Garden (`n1`)" in output.markdown
    assert progress.percents == [10, 50, 90]


def test_several_notes_files_and_text_are_sources() -> None:
    both = run_job("summarize", {"note_ids": ["n1", "n2", "n1"]}, SOURCES)
    assert [c["ref"] for c in both.citations] == ["n1", "n2"]  # a repeated id is read once
    assert both.title == "Summary: 2 sources" and "[2]" in both.markdown
    from_file = run_job("summarize", {"file_ids": ["f1"]}, SOURCES)
    assert "Plant tomatoes in May." in from_file.markdown and from_file.citations[0]["kind"] == "file"
    from_text = run_job("summarize", {"text": GARDEN, "length": "long"}, SOURCES)
    assert from_text.citations == [{"n": 1, "kind": "text", "ref": "text", "title": "The supplied text"}]
    assert "1. Text: The supplied text" in from_text.markdown


def test_the_same_job_gives_the_same_summary() -> None:
    first = run_job("summarize", {"note_ids": ["n1", "n2"], "focus": "compost"}, SOURCES)
    second = run_job("summarize", {"note_ids": ["n1", "n2"], "focus": "compost"}, SOURCES)
    assert first.markdown == second.markdown


def test_a_missing_note_fails_for_good() -> None:
    with pytest.raises(PermanentJobError, match="n9"):
        run_job("summarize", {"note_ids": ["n1", "n9"]}, SOURCES)


def test_empty_sources_fail_for_good() -> None:
    empty = FakeSources(notes={"e": note("e", "Empty", "  \n")})
    with pytest.raises(PermanentJobError, match="no text"):
        run_job("summarize", {"note_ids": ["e"]}, empty)


def test_sources_over_the_budget_are_trimmed_with_a_note() -> None:
    long_note = note("big", "Big", "Tomatoes like sun. " * 400)  # 7,600 characters
    sources = FakeSources(notes={"big": long_note, "n2": note("n2", "Compost", COMPOST)})
    llm = RecordingLLM()
    output = SummarizeJob(budget_chars=2000).run(JobRun("j", SummarizeParams(note_ids=["big", "n2"]), llm, sources,
                                                        FakeSearch()))
    sent = parse_request(llm.requests[0]["system"], llm.user_text)
    assert sent is not None and sum(len(s.text) for s in sent.sources) <= 2000 + len(" […]")
    assert sent.sources[1].text == COMPOST
    assert "the sources are longer than the model's input budget (2,000 characters)" in output.markdown
    assert "“Big” was cut to its first" in output.markdown and "of 7,600 characters" in output.markdown
    assert "Compost”" not in output.markdown  # the short note fits whole
