"""The shared Converse tool loop (crewhouse.llm.tool_loop): tools run until the model answers in text, within the
tool-call limit; failures go back as error results; usage is summed over rounds."""

from __future__ import annotations

from typing import Any

from crewhouse.crews.runtime import Outcome
from crewhouse.llm.provider import text_message
from crewhouse.llm.tool_loop import LIMIT_RESULT, STOPPED_TEXT, run_tool_loop
from tests.unit.crews.fakes import ScriptedProvider, said, uses

CONFIG = {"tools": [{"toolSpec": {"name": "lookup", "description": "d", "inputSchema": {"json": {}}}}]}


def call(name: str, arguments: dict[str, Any]) -> Outcome:
    return Outcome(arguments.get("q") != "bad", {"answer": f"{name}:{arguments.get('q')}"})


def test_tools_run_until_the_model_answers_in_text() -> None:
    provider = ScriptedProvider({"Ann": [uses("lookup", {"q": "a"}), uses("lookup", {"q": "bad"}, 1), said("done")]})
    loop = run_tool_loop(provider, [text_message("user", "go")], system="You are Ann. x", tool_config=CONFIG,
                         call_tool=call, max_tool_calls=5)
    assert loop.text == "done" and loop.finished and loop.rounds == 3
    assert [(c["name"], c["ok"]) for c in loop.tool_calls] == [("lookup", True), ("lookup", False)]
    assert loop.tools_used == ["lookup"]
    assert loop.usage == {"inputTokens": 11, "outputTokens": 3, "totalTokens": 14}
    results = [b["toolResult"] for m in loop.messages if m["role"] == "user" for b in m["content"]]
    assert [r["status"] for r in results] == ["success", "error"]
    assert [m["role"] for m in loop.messages] == ["assistant", "user", "assistant", "user", "assistant"]


def test_the_tool_call_limit_answers_limit_errors_then_stops() -> None:
    provider = ScriptedProvider({"Ann": [uses("lookup", {"q": str(n)}, n) for n in range(10)]})
    loop = run_tool_loop(provider, [text_message("user", "go")], system="You are Ann. x", tool_config=CONFIG,
                         call_tool=call, max_tool_calls=2)
    assert len(loop.tool_calls) == 2 and loop.rounds == 4 and not loop.finished
    assert loop.text == STOPPED_TEXT and loop.messages[-1] == text_message("assistant", STOPPED_TEXT)
    last_results = loop.messages[-2]["content"][0]["toolResult"]
    assert last_results["status"] == "error" and last_results["content"][0]["json"] == LIMIT_RESULT


def test_no_tool_config_is_sent_without_tools() -> None:
    provider = ScriptedProvider({})
    loop = run_tool_loop(provider, [text_message("user", "hi")], system="You are Bo. x", tool_config={"tools": []},
                         call_tool=call)
    assert loop.text == "Bo done" and provider.calls[0]["tools"] == []
