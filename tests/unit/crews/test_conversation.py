"""Chat with a crew (``CrewConversation``): the manager of a hierarchical crew answers and delegates; a sequential
crew runs its tasks in order on the message; the reply names every agent that worked and each tool call; a crew
of another tenant is 404; no task starts after the turn's time."""

from __future__ import annotations

from typing import Any

import pytest

from crewhouse.core.errors import Conflict, NotFound
from crewhouse.crews.logic import CrewConversation
from crewhouse.crews.models import CrewCreate
from tests.unit.crews.fakes import ALICE, MALLORY, World, said, uses


def conversation(world: World, **options: Any) -> CrewConversation:
    return CrewConversation(world.store, world.runtime, **options)


def hierarchical(world: World) -> tuple[str, str, str]:
    manager = world.agent("Max")
    researcher = world.agent("Ann", tools=["builtin:search"])
    crew = world.crews.create(ALICE, CrewCreate.model_validate({
        "name": "Desk", "members": [manager, researcher], "process": "hierarchical", "manager_agent_id": manager,
        "tasks": [{"id": "t", "description": "unused in chat", "expected_output": "x"}]}))
    return str(crew["id"]), manager, researcher


def test_the_manager_answers_delegating_and_the_reply_names_agents_and_tool_calls() -> None:
    world = World({"Max": [uses("delegate", {"agent_id": "?", "task": "find bees"}), said("Bees: found")],
                   "Ann": [uses("search", {"q": "bees"}), said("bees pollinate")]})
    crew_id, manager, researcher = hierarchical(world)
    world.provider.scripts["Max"][0].message["content"][0]["toolUse"]["input"]["agent_id"] = researcher
    reply = conversation(world).reply(ALICE, crew_id, "what about bees?", "User: hi\nCrew: hello")
    assert reply.text == "Bees: found" and reply.finished
    assert [(a["agent_id"], a["name"], a["tools_used"]) for a in reply.agents] == [
        (manager, "Max", ["delegate"]), (researcher, "Ann", ["search"])]
    assert [(c["agent_id"], c["name"], c["input"], c["ok"]) for c in reply.tool_calls] == [
        (manager, "delegate", {"agent_id": researcher, "task": "find bees"}, True),
        (researcher, "search", {"q": "bees"}, True)]
    manager_prompt = world.provider.calls[0]["messages"][-1]["content"][0]["text"]
    assert manager_prompt.startswith("what about bees?") and "## Conversation so far\nUser: hi\nCrew: hello" in \
        manager_prompt
    assert reply.usage["totalTokens"] == 4 + 6 + 4 + 6


def test_a_sequential_crew_runs_its_tasks_on_the_message() -> None:
    world = World({"Ann": [said("facts on otters")], "Bo": [said("A post on otters")]})
    ann, bo = world.agent("Ann"), world.agent("Bo")
    crew = world.crews.create(ALICE, CrewCreate.model_validate({
        "name": "Blog", "members": [ann, bo], "process": "sequential", "tasks": [
            {"id": "research", "description": "Research: {message}", "expected_output": "facts", "agent_id": ann},
            {"id": "write", "description": "Write it up", "expected_output": "a post", "agent_id": bo,
             "context": ["research"]}]}))
    reply = conversation(world).reply(ALICE, crew["id"], "otters")
    assert reply.text == "A post on otters" and [a["name"] for a in reply.agents] == ["Ann", "Bo"]
    first, second = (call["messages"][-1]["content"][0]["text"] for call in world.provider.calls)
    assert first.startswith("Research: otters")
    assert "## Message\notters" in second and "## Output of task research\nfacts on otters" in second


def test_no_task_starts_after_the_turns_time() -> None:
    world = World()
    ann, bo = world.agent("Ann"), world.agent("Bo")
    crew = world.crews.create(ALICE, CrewCreate.model_validate({
        "name": "Slow", "members": [ann, bo], "process": "sequential", "tasks": [
            {"id": "a", "description": "one", "expected_output": "x", "agent_id": ann},
            {"id": "b", "description": "two", "expected_output": "x", "agent_id": bo}]}))
    ticks = iter([0.0, 100.0])
    reply = conversation(world, timeout_seconds=25, clock=lambda: next(ticks)).reply(ALICE, crew["id"], "go")
    assert not reply.finished and len(world.provider.calls) == 1
    assert reply.text.endswith("(The crew ran out of time after 1 of 2 tasks.)")


def test_another_tenants_crew_is_404_and_a_crew_missing_an_agent_is_409() -> None:
    world = World()
    crew_id, manager, _ = hierarchical(world)
    with pytest.raises(NotFound):
        conversation(world).reply(MALLORY, crew_id, "hi")
    world.agents.delete(ALICE, manager, None)
    with pytest.raises(Conflict):
        conversation(world).reply(ALICE, crew_id, "hi")
