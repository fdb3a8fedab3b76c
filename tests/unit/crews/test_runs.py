"""Hosted agents and crew runs over the real store (MemoryTable) with a scripted provider: versions, memory, the
agent's own tools only, sequential context passing, hierarchical delegation, failures and cancellation."""

from __future__ import annotations

from typing import Any

import pytest

from crewhouse.core.errors import Conflict, NotFound, PreconditionFailed
from crewhouse.crews.logic import RunCancelled
from crewhouse.crews.models import CrewCreate, HostedAgentUpdate
from crewhouse.llm.provider import ProviderError
from tests.unit.crews.fakes import ALICE, MALLORY, World, said, uses


def define(**fields: Any) -> CrewCreate:
    return CrewCreate.model_validate(fields)


def test_every_update_is_a_new_version_and_the_registry_follows() -> None:
    world = World()
    agent_id = world.agent("Ann", capabilities=["research"])
    assert world.registry.entries[("t1", agent_id)]["capabilities"] == ["research"]
    body = HostedAgentUpdate(name="Ann", role="r2", goal="g2", capabilities=["write"])
    updated = world.agents.update(ALICE, agent_id, body, '"1"')
    assert updated["version"] == 2 and updated["role"] == "r2"
    assert world.agents.version(ALICE, agent_id, 1)["role"] == "Ann role"
    assert world.registry.entries[("t1", agent_id)]["capabilities"] == ["write"]
    with pytest.raises(PreconditionFailed):
        world.agents.update(ALICE, agent_id, body, '"1"')
    with pytest.raises(NotFound):
        world.agents.find(MALLORY, agent_id)
    world.agents.delete(ALICE, agent_id, None)
    assert ("t1", agent_id) not in world.registry.entries
    assert world.store.agent_version("t1", agent_id, 1) is None


def test_an_agent_sees_only_its_own_tools_and_its_memory_when_on() -> None:
    world = World({"Ann": [uses("search", {"q": "x"}), said("found it"), said("second")]})
    agent_id = world.agent("Ann", tools=["builtin:search"], memory=True, max_iterations=3)
    run = world.runtime.run(ALICE, agent_id, "find x")
    assert (run.text, run.tools_used, run.version) == ("found it", ["search"], 1)
    assert world.provider.calls[0]["tools"] == ["search"]
    world.runtime.run(ALICE, agent_id, "again")
    remembered = [b["text"] for m in world.provider.calls[-1]["messages"] for b in m["content"] if "text" in b]
    assert remembered == ["find x", "found it", "again"]


def sequential(world: World) -> tuple[dict[str, Any], str, str]:
    researcher = world.agent("Ann", tools=["builtin:search"])
    writer = world.agent("Bo")
    crew = world.crews.create(ALICE, define(name="c", members=[researcher, writer], tasks=[
        {"id": "research", "description": "Research {topic}", "expected_output": "facts", "agent_id": researcher},
        {"id": "write", "description": "Write about {topic}", "expected_output": "a post", "agent_id": writer,
         "context": ["research"]}]))
    return crew, researcher, writer


def test_a_sequential_run_feeds_context_and_stores_every_output() -> None:
    world = World({"Ann": [uses("search", {"q": "bees"}), said("bees pollinate")], "Bo": [said("A post on bees")]})
    crew, researcher, writer = sequential(world)
    run = world.crews.start_run(ALICE, crew["id"], {"topic": "bees"})
    assert run["status"] == "running" and world.executions.started[0][0] == run["id"]
    assert run["console_url"].endswith(run["execution_arn"])
    done = world.run_to_end(run)
    assert done["status"] == "succeeded" and done["result"] == "A post on bees" and done["steps"] == 2
    assert [o["task_id"] for o in done["outputs"]] == ["research", "write"]
    assert done["agents_used"] == [researcher, writer] and done["tools_used"] == ["search"]
    assert done["usage"]["totalTokens"] == 4 + 6 + 6
    first_prompt = world.provider.calls[0]["messages"][-1]["content"][0]["text"]
    assert first_prompt.startswith("Research bees") and "## Expected output\nfacts" in first_prompt
    writer_prompt = world.provider.calls[-1]["messages"][-1]["content"][0]["text"]
    assert "## Output of task research\nbees pollinate" in writer_prompt


def test_two_attempts_of_one_step_record_it_once() -> None:
    world = World()
    crew, _, _ = sequential(world)
    run = world.crews.start_run(ALICE, crew["id"], {})
    ids = {"tenant_id": "t1", "crew_id": crew["id"], "run_id": run["id"]}
    inner = world.provider.converse
    overlapped: list[Any] = []

    def converse(**kwargs: Any) -> Any:
        if not overlapped:  # a second attempt of the same step runs and records it meanwhile
            overlapped.append(None)
            overlapped[0] = world.steps.step(ids)
        return inner(**kwargs)

    world.provider.converse = converse  # type: ignore[method-assign]
    outer = world.steps.step(ids)
    assert overlapped[0].step == 1 and (outer.step, outer.done) == (1, False)
    stored = world.store.run("t1", crew["id"], run["id"])
    assert stored is not None and [o["task_id"] for o in stored["outputs"]] == ["research"]
    assert stored["next_step"] == 1


def test_a_failing_task_marks_the_run_failed_with_the_task_and_reason() -> None:
    class Broken:
        name = "broken"

        def converse(self, **_: Any) -> Any:
            raise ProviderError("model refused the request")

    world = World()
    crew, _, _ = sequential(world)
    world.runtime.provider_for = lambda *_: Broken()
    run = world.crews.start_run(ALICE, crew["id"], {})
    ids = {"tenant_id": "t1", "crew_id": crew["id"], "run_id": run["id"]}
    with pytest.raises(ProviderError):
        world.steps.step(ids)
    error = {"Error": "ProviderError", "Cause": '{"errorMessage": "model refused the request", '
                                                 '"errorType": "ProviderError"}'}
    assert world.steps.fail(ids, error) == {"status": "failed", "failed_task": "research"}
    failed = world.crews.run(ALICE, crew["id"], run["id"])
    assert failed["status"] == "failed" and failed["error"] == "ProviderError: model refused the request"
    assert failed["failed_task"] == "research" and failed["outputs"] == []


def test_cancelling_stops_the_execution_and_the_next_step() -> None:
    world = World()
    crew, _, _ = sequential(world)
    run = world.crews.start_run(ALICE, crew["id"], {})
    cancelled = world.crews.cancel(ALICE, crew["id"], run["id"])
    assert cancelled["status"] == "cancelled" and world.executions.stopped == [run["execution_arn"]]
    with pytest.raises(RunCancelled):
        world.steps.step({"tenant_id": "t1", "crew_id": crew["id"], "run_id": run["id"]})
    with pytest.raises(Conflict):
        world.crews.cancel(ALICE, crew["id"], run["id"])
    with pytest.raises(NotFound):
        world.crews.run(MALLORY, crew["id"], run["id"])


def test_the_manager_delegates_to_members_within_the_step_limit() -> None:
    world = World()
    researcher = world.agent("Ann", tools=["builtin:search"])
    writer = world.agent("Bo")
    manager = world.agent("Max", max_iterations=5)
    world.provider.scripts.update({
        "Max": [uses("delegate", {"agent_id": researcher, "task": "find facts on bees"}, 0),
                uses("delegate", {"agent_id": "stranger", "task": "x"}, 1),
                uses("delegate", {"agent_id": writer, "task": "write it up"}, 2),
                uses("delegate", {"agent_id": writer, "task": "once more"}, 3),
                said("Final: a post on bees")],
        "Ann": [uses("search", {"q": "bees"}), said("bees pollinate")],
        "Bo": [said("draft")]})
    crew = world.crews.create(ALICE, define(
        name="h", members=[researcher, writer], process="hierarchical", manager_agent_id=manager, max_steps=2,
        tasks=[{"id": "post", "description": "A post on {topic}", "expected_output": "a post"}]))
    done = world.run_to_end(world.crews.start_run(ALICE, crew["id"], {"topic": "bees"}))
    assert done["status"] == "succeeded" and done["result"] == "Final: a post on bees"
    [output] = done["outputs"]
    assert output["agent_id"] == manager
    assert [(d["agent_id"], d["task"]) for d in output["delegations"]] == [
        (researcher, "find facts on bees"), (writer, "write it up")]
    assert done["agents_used"] == [manager, researcher, writer] and done["tools_used"] == ["delegate", "search"]
    manager_results = [b["toolResult"] for m in world.provider.calls[-1]["messages"] if m["role"] == "user"
                       for b in m["content"] if "toolResult" in b]
    assert [r["status"] for r in manager_results] == ["success", "error", "success", "error"]
    assert manager_results[3]["content"][0]["json"]["error"] == "limit"
    assert "delegate" in world.provider.calls[0]["tools"] and world.provider.calls[1]["tools"] == ["search"]


def test_an_agents_temperature_reaches_the_model() -> None:
    world = World()
    warm = world.agent("Ann", temperature=0.7)
    world.runtime.run(ALICE, warm, "write a poem")
    cold = world.agent("Bo", temperature=0)
    world.runtime.run(ALICE, cold, "add 2 and 2")
    assert [call["temperature"] for call in world.provider.calls] == [0.7, 0.0]
