"""The offline provider reads plain todo commands and answers like a tool-using model."""

from datetime import date
from typing import Any

import pytest

from crewhouse.llm.offline import LABEL, OfflineProvider, parse_intent
from crewhouse.llm.provider import text_message, tool_result_block

TODAY = date(2026, 11, 22)


def provider() -> OfflineProvider:
    return OfflineProvider(today=lambda: TODAY)


@pytest.mark.parametrize(("text", "action", "subject", "value", "index"), [
    ("add buy milk tomorrow priority A", "add", "buy milk tomorrow priority A", "", None),
    ("what's on today", "list", "", "", None),
    ("complete 2", "complete", "", "", 2),
    ("delete the bank task", "delete", "bank", "", None),
    ("move buy milk to B", "move", "buy milk", "B", None),
    ("rename buy milk to buy oat milk", "rename", "buy milk", "buy oat milk", None),
    ("sing me a song", "help", "", "", None),
])
def test_intents(text: str, action: str, subject: str, value: str, index: int | None) -> None:
    intent = parse_intent(text)
    assert (intent.action, intent.subject, intent.value, intent.index) == (action, subject, value, index)


def test_add_becomes_a_create_task_call_with_date_and_letter() -> None:
    result = provider().converse(messages=[text_message("user", "add buy milk tomorrow priority A")])
    assert result.stop_reason == "tool_use"
    (use,) = result.tool_uses
    assert use["name"] == "create_task"
    assert use["input"] == {"title": "buy milk", "priority": "A", "planned_date": "2026-11-23"}


def test_after_the_tool_result_it_answers_in_text_labelled_offline() -> None:
    first = provider().converse(messages=[text_message("user", "add buy milk")])
    messages = [text_message("user", "add buy milk"), first.message,
                {"role": "user", "content": [tool_result_block(first.tool_uses[0]["toolUseId"],
                                                               {"title": "buy milk", "label": "B1"}, True)]}]
    second = provider().converse(messages=messages)
    assert second.stop_reason == "end_turn"
    assert second.text.startswith(LABEL)
    assert "buy milk" in second.text and "B1" in second.text


def _turn(messages: list[dict[str, Any]], text: str, results: list[dict[str, Any]]) -> list[Any]:
    """Run a whole turn with canned tool results; returns the tool uses the provider made."""
    messages.append(text_message("user", text))
    uses: list[dict[str, Any]] = []
    for payload in [*results, None]:
        answer = provider().converse(messages=messages)
        messages.append(answer.message)
        if answer.stop_reason != "tool_use":
            return uses
        use = answer.tool_uses[0]
        uses.append(use)
        messages.append({"role": "user", "content": [tool_result_block(use["toolUseId"], payload or {}, True)]})
    return uses


def test_complete_n_uses_the_last_listing() -> None:
    messages: list[dict[str, Any]] = []
    listing = {"items": [{"id": "t1", "title": "one", "label": "A1"}, {"id": "t2", "title": "two", "label": "A2"}]}
    assert [u["name"] for u in _turn(messages, "what's on today", [listing])] == ["get_tasks"]
    uses = _turn(messages, "complete 2", [{"id": "t2", "title": "two", "status": "done"}])
    assert [(u["name"], u["input"]) for u in uses] == [("complete_task", {"id": "t2"})]


def test_delete_by_name_searches_first() -> None:
    uses = _turn([], "delete the bank task", [{"items": [{"id": "b", "title": "call the bank"}]},
                                              {"id": "b", "deleted": True}])
    assert [u["name"] for u in uses] == ["search_tasks", "delete_task"]
    assert uses[1]["input"] == {"id": "b"}


def test_ambiguous_names_are_asked_back() -> None:
    messages: list[dict[str, Any]] = []
    both = {"items": [{"id": "1", "title": "buy milk"}, {"id": "2", "title": "oat milk"}]}
    uses = _turn(messages, "delete milk", [both])
    assert [u["name"] for u in uses] == ["search_tasks"]
    assert "Which one" in messages[-1]["content"][0]["text"]


def test_tool_errors_are_reported() -> None:
    messages = [text_message("user", "complete buy milk")]
    first = provider().converse(messages=messages)
    messages += [first.message, {"role": "user", "content": [tool_result_block(
        first.tool_uses[0]["toolUseId"], {"detail": "No task x."}, False)]}]
    assert "No task x." in provider().converse(messages=messages).text
