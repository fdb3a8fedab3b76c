"""The offline provider answers job requests deterministically, and labels every answer."""

from __future__ import annotations

import json

from crewhouse.llm.job_prompts import format_number, parse_request, section, source_block, system_prompt
from crewhouse.llm.offline import HELP, LABEL, OfflineProvider
from crewhouse.llm.offline_jobs import NOTICE, sentences_of
from crewhouse.llm.provider import ConverseResult, text_message

ARTICLE = """# Heat pumps

Heat pumps move heat instead of burning fuel. The weather in March was mild.
A heat pump delivers three units of heat for each unit of electricity.
Our cat prefers the sofa. Installing heat pumps in old houses needs good insulation first.

```
heat pump heat pump heat pump
```

- Many installers offer heat pump financing.
- Lunch was late today.
"""


def ask(job: str, options: dict[str, object], user_text: str, max_tokens: int = 1024) -> ConverseResult:
    return OfflineProvider().converse(messages=[text_message("user", user_text)],
                                      system=system_prompt(job, options, "Instructions for a real model."),
                                      max_tokens=max_tokens)


def summary_lines(result: ConverseResult) -> list[str]:
    return [line[2:] for line in result.text.splitlines() if line.startswith("- ")]


def test_the_wire_format_round_trips_titles_and_text_with_markup() -> None:
    user = "\n\n".join([section("topic", "Fish & chips"),
                        source_block(1, "note", "n-1", 'The "best" <shop>', "Text with </source> inside.\nLine 2"),
                        source_block(2, "file", "f-2", "menu.csv", "a,b\n1,2")])
    request = parse_request(system_prompt("research", {"depth": "quick"}, "Write."), user)
    assert request is not None
    assert (request.job, request.options, request.sections) == ("research", {"depth": "quick"},
                                                                {"topic": "Fish & chips"})
    first, second = request.sources
    assert (first.number, first.kind, first.ref, first.title) == (1, "note", "n-1", 'The "best" <shop>')
    assert first.text == "Text with </ source> inside.\nLine 2"
    assert (second.number, second.title, second.text) == (2, "menu.csv", "a,b\n1,2")


def test_a_request_without_the_tag_is_not_a_job() -> None:
    assert parse_request([{"text": "You are a helpful assistant."}], "<topic>\nx\n</topic>") is None
    assert parse_request(None, "hello") is None


def test_sentences_skip_headings_code_and_short_fragments() -> None:
    found = sentences_of(ARTICLE)
    assert found[0] == "Heat pumps move heat instead of burning fuel."
    assert "Heat pumps" not in found and not any("heat pump heat pump" in s for s in found)
    assert "Many installers offer heat pump financing." in found
    assert sentences_of("See [the docs](https://x.y) for **more** details. OK.") == ["See the docs for more details."]


def test_an_extractive_summary_keeps_the_top_sentences_in_their_order() -> None:
    # "heat" and "pump" are in 5 of the 7 sentences (weight 1), every other word in one (weight 0). Scores, the
    # weights over the root of the distinct words: financing 2/√5 = 0.89; burning fuel and units of heat 2/√6 = 0.82;
    # old houses 2/√9 = 0.67; the weather, the cat and lunch 0.
    result = ask("summarize", {"length": "short"}, source_block(1, "note", "n1", "Heat pumps", ARTICLE))
    assert summary_lines(result) == [
        "Heat pumps move heat instead of burning fuel.",
        "A heat pump delivers three units of heat for each unit of electricity.",
        "Many installers offer heat pump financing.",
    ]
    assert result.stop_reason == "end_turn" and result.provider == "offline"


def test_the_summary_is_the_same_on_every_run() -> None:
    user = source_block(1, "note", "n1", "Heat pumps", ARTICLE)
    answers = {ask("summarize", {"length": "medium"}, user).text for _ in range(3)}
    assert len(answers) == 1


def test_length_sets_the_number_of_sentences_and_focus_moves_the_choice() -> None:
    user = source_block(1, "note", "n1", "Heat pumps", ARTICLE)
    assert len(summary_lines(ask("summarize", {"length": "short"}, user))) == 3
    assert len(summary_lines(ask("summarize", {"length": "medium"}, user))) == 6
    focused = summary_lines(ask("summarize", {"length": "short", "focus": "insulation in old houses"}, user))
    assert "Installing heat pumps in old houses needs good insulation first." in focused
    off_topic = summary_lines(ask("summarize", {"length": "short", "focus": "the cat"}, user))
    assert "Our cat prefers the sofa." in off_topic  # it shares no word with the rest, yet it is the focus


def test_several_sources_are_cited_by_number() -> None:
    user = "\n\n".join([source_block(1, "note", "n1", "Heat pumps", ARTICLE),
                        source_block(2, "note", "n2", "More", "Heat pump grants cover part of the heat pump cost.")])
    lines = summary_lines(ask("summarize", {"length": "medium"}, user))
    assert len(lines) == 6 and all(line.endswith(("[1]", "[2]")) for line in lines)
    assert "Heat pump grants cover part of the heat pump cost. [2]" in lines


def test_every_job_answer_is_labelled_offline() -> None:
    answers = [
        ask("summarize", {}, source_block(1, "text", "text", "Text", ARTICLE)),
        ask("content", {"format": "email"}, section("brief", "Write an email about the team offsite.")),
        ask("research", {}, section("topic", "heat pumps") + "\n" + source_block(1, "note", "n1", "H", ARTICLE)),
        ask("analyze", {}, section("statistics", json.dumps({"dataset": {"rows": 1, "columns": 1}}))),
        ask("translate", {}, "anything"),
    ]
    for answer in answers:
        assert answer.text.startswith(f"{LABEL} {NOTICE}")


def test_chat_requests_still_reach_the_todo_assistant() -> None:
    result = OfflineProvider().converse(messages=[text_message("user", "sing me a song")],
                                        system=[{"text": "You are Crewhouse's assistant."}])
    assert result.text == f"{LABEL} {HELP}"


def test_usage_counts_words() -> None:
    result = ask("summarize", {"length": "short"}, source_block(1, "note", "n1", "Heat pumps", ARTICLE))
    system_words = len(system_prompt("summarize", {"length": "short"}, "Instructions for a real model.")[0]["text"]
                       .split())
    user_words = len(source_block(1, "note", "n1", "Heat pumps", ARTICLE).split())
    assert result.usage["inputTokens"] == system_words + user_words
    assert result.usage["outputTokens"] == len(result.text.split())
    assert result.usage["totalTokens"] == result.usage["inputTokens"] + result.usage["outputTokens"]


def test_an_answer_longer_than_max_tokens_is_cut() -> None:
    result = ask("summarize", {"length": "long"}, source_block(1, "note", "n1", "Heat pumps", ARTICLE), max_tokens=12)
    assert result.stop_reason == "max_tokens"
    assert len(result.text.split("\n\n", 1)[1].split()) <= 12


def test_a_blog_post_template_has_sections_from_the_brief() -> None:
    brief = ("Write a blog post about our new heat pump service. Highlight the free survey. "
             "Mention the grant of 7,500 euros.")
    text = ask("content", {"format": "blog_post", "tone": "friendly", "audience": "homeowners"},
               section("brief", brief)).text
    assert "# Our new heat pump service" in text
    assert "## The free survey" in text and "## The grant of 7,500 euros" in text
    assert "Hi there!" in text and "homeowners" in text and "## Conclusion" in text
    assert "[Add a concrete detail or example here.]" in text


def test_other_formats_and_the_word_limit() -> None:
    brief = section("brief", "Announce the new office in Lisbon. Mention the opening party on Friday.")
    email = ask("content", {"format": "email", "tone": "formal", "audience": "the team"}, brief).text
    assert "**Subject:** The new office in Lisbon" in email and "Hello the team," in email
    assert "Yours sincerely," in email
    social = ask("content", {"format": "social_post"}, brief).text.split("\n\n", 1)[1]
    assert len(social) <= 280 and "#" in social
    outline = ask("content", {"format": "outline", "max_words": 25}, brief).text.split("\n\n", 1)[1]
    assert outline.startswith("# The new office in Lisbon") and "1. Introduction" in outline
    assert len(outline.split()) <= 25


def test_research_cites_the_sources_per_question() -> None:
    user = "\n\n".join([
        section("topic", "heat pumps"), section("questions", "How efficient are they?\nWhat do they cost?"),
        source_block(1, "note", "n1", "Heat pumps", ARTICLE),
        source_block(2, "web", "https://example.org/cost", "Costs", "A heat pump costs about 12,000 euros to "
                     "install. Running costs depend on electricity prices."),
    ])
    text = ask("research", {}, user).text
    assert "## Overview" in text and "## How efficient are they?" in text and "## What do they cost?" in text
    cost_section = text.split("## What do they cost?")[1].split("##")[0]
    assert "A heat pump costs about 12,000 euros to install. [2]" in cost_section
    assert "- **[1] Heat pumps**:" in text and "- **[2] Costs**:" in text


def test_research_without_sources_says_so() -> None:
    text = ask("research", {}, section("topic", "tidal power")).text
    assert "No source with usable text was found for “tidal power”" in text


def test_the_analyze_narrative_restates_the_given_statistics() -> None:
    stats = {"dataset": {"name": "sales.csv", "rows": 5, "columns": 3},
             "numeric": [{"column": "amount", "count": 4, "missing": 1, "min": 5.0, "max": 30.0, "mean": 16.25,
                          "median": 15.0, "stdev": 11.0868}],
             "text": [{"column": "region", "count": 5, "missing": 0, "distinct": 3, "top": [["north", 2]]}],
             "group_by": {"column": "region", "total_groups": 3,
                          "groups": [{"value": "north", "rows": 2, "means": {"amount": 20.0}},
                                     {"value": "south", "rows": 2, "means": {"amount": 12.5}}]}}
    text = ask("analyze", {}, section("statistics", json.dumps(stats), format="json")).text
    assert "sales.csv has 5 rows and 3 columns (1 numeric, 1 text)." in text
    assert "amount ranges from 5 to 30, with a mean of 16.25 and a median of 15." in text
    assert "The most frequent region is “north” (2 of 5 values, 3 distinct)." in text
    assert "Values are missing in amount (1)." in text
    assert "The mean amount is highest for “north” (20) and lowest for “south” (12.5)." in text


def test_numbers_are_written_alike_everywhere() -> None:
    assert [format_number(v) for v in (3, 3.0, 16.25, 11.086778913041726, 1234567.0, None)] == [
        "3", "3", "16.25", "11.0868", "1,234,567", "n/a"]
