"""Crew definitions: every problem at once, with its path; context must name earlier tasks."""

from __future__ import annotations

from typing import Any

import pytest

from crewhouse.core.errors import ValidationProblem
from crewhouse.crews.logic import crew_problems, interpolate
from crewhouse.crews.models import CrewCreate
from tests.unit.crews.fakes import ALICE, World


def crew(**fields: Any) -> CrewCreate:
    base: dict[str, Any] = {"name": "c", "members": ["a", "b"], "tasks": [
        {"id": "research", "description": "d", "expected_output": "e", "agent_id": "a"},
        {"id": "write", "description": "d", "expected_output": "e", "agent_id": "b", "context": ["research"]}]}
    return CrewCreate(**{**base, **fields})


def test_a_valid_sequential_crew_has_no_problems() -> None:
    assert crew_problems(crew(), {"a", "b"}) == []


def test_every_problem_is_listed_at_once_with_its_path() -> None:
    bad = crew(members=["a", "ghost", "a"], tasks=[
        {"id": "one", "description": "d", "expected_output": "e", "agent_id": "b", "context": ["two", "nope"]},
        {"id": "two", "description": "d", "expected_output": "e", "context": ["two"]},
        {"id": "one", "description": "d", "expected_output": "e", "agent_id": "a"}])
    problems = {(p["path"], p["type"]) for p in crew_problems(bad, {"a", "b"})}
    assert problems == {
        ("body.members.1", "unknown-agent"), ("body.members.2", "duplicate-member"),
        ("body.tasks.0.agent_id", "not-a-member"), ("body.tasks.0.context.0", "context-order"),
        ("body.tasks.0.context.1", "unknown-task"), ("body.tasks.1.agent_id", "agent-required"),
        ("body.tasks.1.context.0", "context-order"), ("body.tasks.2.id", "duplicate-task")}


def test_a_later_task_in_context_names_both_tasks() -> None:
    bad = crew(tasks=[{"id": "a1", "description": "d", "expected_output": "e", "agent_id": "a", "context": ["b1"]},
                      {"id": "b1", "description": "d", "expected_output": "e", "agent_id": "b"}])
    [problem] = crew_problems(bad, {"a", "b"})
    assert problem["message"] == "Task a1 uses b1, which comes later."


def test_hierarchical_needs_a_known_manager_and_allows_unassigned_tasks() -> None:
    tasks = [{"id": "t", "description": "d", "expected_output": "e"}]
    assert [p["type"] for p in crew_problems(crew(process="hierarchical", tasks=tasks), {"a", "b"})] == [
        "manager-required"]
    assert [p["type"] for p in crew_problems(crew(process="hierarchical", tasks=tasks, manager_agent_id="m"),
                                             {"a", "b"})] == ["unknown-agent"]
    assert crew_problems(crew(process="hierarchical", tasks=tasks, manager_agent_id="m"), {"a", "b", "m"}) == []


def test_the_service_answers_422_naming_the_problems() -> None:
    world = World()
    a = world.agent("Ann")
    with pytest.raises(ValidationProblem) as raised:
        world.crews.create(ALICE, crew(members=[a, "ghost"], tasks=[
            {"id": "t", "description": "d", "expected_output": "e", "agent_id": a, "context": ["later"]}]))
    assert {e["path"] for e in raised.value.extra["errors"]} == {"body.members.1", "body.tasks.0.context.0"}


def test_inputs_fill_placeholders_and_unknown_ones_stay() -> None:
    assert interpolate("About {topic} for {who}", {"topic": "bees"}) == "About bees for {who}"
