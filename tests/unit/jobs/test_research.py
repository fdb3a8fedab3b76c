"""``research`` over a fake search provider and fake sources, with the real offline provider."""

from __future__ import annotations

from crewhouse.jobs.types.base import SearchHit
from tests.unit.jobs.fakes import FakeSearch, FakeSources, Progress, RecordingLLM, note, run_job

BEES = note("n1", "Bees", "Bees pollinate most fruit trees. A hive needs a sunny, sheltered spot. "
                          "Varroa mites are the main threat to honey bees.")
HONEY = note("n2", "Honey", "One hive can yield twenty kilograms of honey a year. Harvest honey in late summer.")
HITS = [SearchHit("note", "n1", "Bees", "Bees pollinate…"), SearchHit("note", "n2", "Honey", "One hive…"),
        SearchHit("file", "gone", "old.pdf", "Bees were first kept in clay hives."),
        SearchHit("web", "https://example.org/bees", "Bee facts", "Honey bees visit two million flowers for a "
                                                                  "pound of honey.")]
SOURCES = FakeSources(notes={"n1": BEES, "n2": HONEY})


def test_a_report_cites_its_sources_and_says_it_searched_only_the_tenant() -> None:
    progress = Progress()
    search = FakeSearch(HITS)
    output = run_job("research", {"topic": "honey bees", "questions": ["What threatens bees?"]}, SOURCES,
                     search, progress=progress)
    assert output.title == "Research: honey bees"
    assert "searched only your own notes and files" in output.markdown
    assert "Varroa mites are the main threat to honey bees. [1]" in output.markdown.split("## What threatens")[1]
    assert [c["ref"] for c in output.citations] == ["n1", "n2", "gone", "https://example.org/bees"]
    assert "1. Note: Bees (`n1`)" in output.markdown
    assert "4. Web page: Bee facts <https://example.org/bees>" in output.markdown
    assert "(offline assistant) Generated offline" in output.markdown
    assert search.queries == ["honey bees", "What threatens bees?"]
    assert progress.percents == [10, 30, 60, 90]


def test_notes_are_read_whole_and_unreadable_hits_keep_their_snippet() -> None:
    llm = RecordingLLM()
    run_job("research", {"topic": "bees"}, SOURCES, FakeSearch(HITS), llm=llm)
    sent = llm.user_text
    assert "Varroa mites are the main threat" in sent  # not in the hit's snippet: the note was read
    assert "Bees were first kept in clay hives." in sent  # the file is gone: its snippet stands in
    assert 'kind="web"' in sent


def test_depth_sets_how_many_sources_are_read() -> None:
    quick = run_job("research", {"topic": "bees", "depth": "quick"}, SOURCES, FakeSearch(HITS * 3))
    assert len(quick.citations) == 3
    deep = run_job("research", {"topic": "bees", "depth": "deep"}, SOURCES, FakeSearch(HITS))
    assert len(deep.citations) == 4  # all there is


def test_another_search_provider_is_named_in_the_report() -> None:
    output = run_job("research", {"topic": "bees"}, SOURCES, FakeSearch(HITS, name="wiki"))
    assert "found with the `wiki` search provider" in output.markdown
    assert "only your own notes" not in output.markdown
    web = run_job("research", {"topic": "bees"}, SOURCES, FakeSearch(HITS, name="web"))
    assert "the web (pages read for this report) and your own notes and files" in web.markdown


def test_nothing_found_is_a_report_that_says_so() -> None:
    output = run_job("research", {"topic": "tidal power"}, SOURCES, FakeSearch([]))
    assert "No source with usable text was found for “tidal power”" in output.markdown
    assert output.citations == []
