"""Crews in the synthesized template (nested stack folded in): the crew-run state machine from crew_run.asl.json with
its step function substituted, Retry/Catch and a Choice loop; each role allows what its function calls: the crews
API may start executions of this state machine only and stop its executions, the hosted agents' API writes the bus
registry, the step function runs agents (Converse) and the bus's hosted inbox consumer reads the crews table."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.test_files_stack import rendered_grants
from tests.infra.test_stack import props, resources
from tests.infra.test_tool_registry_stack import function_id

STEP = "crewhouse.crews.workers.step_handler"
CREWS_API = "crewhouse.crews.api.handler"
AGENTS_API = "crewhouse.crews.agents_api.handler"
HOSTED = "crewhouse.bus.hosted.handler"
CHAT = "crewhouse.chat.api.handler"  # a chat session bound to a crew runs its agents in the chat's function


def crew_machine(template_json: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    found = [(k, r) for k, r in resources(template_json, "AWS::StepFunctions::StateMachine").items()
             if "RunStep" in json.dumps(r["Properties"].get("DefinitionString"))]
    assert len(found) == 1
    return found[0]


def definition(machine: dict[str, Any]) -> dict[str, Any]:
    body = machine["Properties"]["DefinitionString"]
    text = body if isinstance(body, str) else "".join(p if isinstance(p, str) else "${X}" for p in body["Fn::Join"][1])
    return dict(json.loads(text))


def test_the_state_machine_loops_run_step_until_done_and_catches_into_mark_failed(template_json: dict[str, Any]
                                                                                   ) -> None:
    _logical_id, machine = crew_machine(template_json)
    states = definition(machine)["States"]
    assert definition(machine)["StartAt"] == "RunStep"
    run = states["RunStep"]
    assert run["Resource"] == "arn:aws:states:::lambda:invoke" and run["Next"] == "IsDone"
    assert "ProviderUnavailable" in run["Retry"][0]["ErrorEquals"]
    assert [c["Next"] for c in run["Catch"]] == ["Cancelled", "MarkFailed"]
    assert states["IsDone"]["Type"] == "Choice" and states["IsDone"]["Default"] == "RunStep"
    assert states["IsDone"]["Choices"][0]["Next"] == "Succeeded"
    assert states["MarkFailed"]["Next"] == "Failed" and states["Failed"]["Type"] == "Fail"
    step = function_id(template_json, STEP)
    assert step in json.dumps(machine["Properties"]["DefinitionSubstitutions"])
    assert props(template_json, step)["Timeout"] == 300


def test_the_crews_api_starts_and_stops_only_this_state_machines_executions(template_json: dict[str, Any]) -> None:
    logical_id, _ = crew_machine(template_json)
    api = function_id(template_json, CREWS_API)
    states = {(action, resource) for action, resource in rendered_grants(template_json, api)
              if action.startswith("states:")}
    assert {action for action, _ in states} == {"states:StartExecution", "states:StopExecution"}
    assert all(logical_id in resource for _, resource in states), states
    environment = props(template_json, api)["Environment"]["Variables"]
    assert logical_id in json.dumps(environment["CREW_STATE_MACHINE_ARN"])
    assert not any(action.startswith("bedrock:") for action, _ in rendered_grants(template_json, api))


def test_agents_run_where_an_agent_runs_and_hosted_agents_are_registry_entries(template_json: dict[str, Any]) -> None:
    crews_table = [k for k in resources(template_json, "AWS::DynamoDB::Table") if k.startswith("CrewsCrewsTable")]
    bus_table = [k for k in resources(template_json, "AWS::DynamoDB::Table") if k.startswith("BusBusTable")]
    assert len(crews_table) == 1 and len(bus_table) == 1
    agents_api = rendered_grants(template_json, function_id(template_json, AGENTS_API))
    assert any(a == "dynamodb:PutItem" and bus_table[0] in r for a, r in agents_api)
    for handler in (AGENTS_API, STEP, HOSTED, CHAT):
        grants = rendered_grants(template_json, function_id(template_json, handler))
        assert ("bedrock:InvokeModel" in {a for a, _ in grants}), handler
        assert any(a == "dynamodb:PutItem" and crews_table[0] in r for a, r in grants), handler
        assert any(a == "dynamodb:GetItem" and "ToolRegistryToolsTable" in r for a, r in grants), handler
    for handler in (HOSTED, CHAT):
        environment = props(template_json, function_id(template_json, handler))["Environment"]["Variables"]
        assert crews_table[0] in json.dumps(environment["CREWS_TABLE"]), handler
    step = rendered_grants(template_json, function_id(template_json, STEP))
    assert not any(a.startswith("states:") for a, _ in step)
    assert not any(bus_table[0] in r for _, r in step)


MCP = "crewhouse.mcp.api.handler"
TOOL_RUNNERS = (AGENTS_API, STEP, HOSTED, CHAT, "crewhouse.flows.runner.handler")
BUILTIN_ENVIRONMENT = ("TASKS_TABLE", "NOTES_TABLE", "FILES_TABLE", "FILES_BUCKET", "SEARCH_TABLE", "JOBS_TABLE",
                       "JOB_QUEUE_URL")


def test_every_function_that_runs_tools_runs_the_builtin_ones_with_the_mcp_servers_access(
        template_json: dict[str, Any]) -> None:
    """``builtin:create_task`` in a hosted agent, a crew step, a bus message, a crew chat or a flow's tool node reaches
    the same tables, bucket prefix and queue as the MCP server's (a policy of the parent stack on the nested role)."""
    mcp = function_id(template_json, MCP)
    expected = props(template_json, mcp)["Environment"]["Variables"]
    # Less what every API function gets from the HTTP API: the membership read (a crew step acts as the run's
    # starter) and the caller's rate-limit bucket (charged per HTTP request, not per tool call).
    needed = {(a, r) for a, r in rendered_grants(template_json, mcp)
              if "StoragePlatformTable" not in r and "RateLimitTable" not in r}
    assert {a for a, _ in needed} >= {"dynamodb:PutItem", "dynamodb:Query", "s3:PutObject", "sqs:SendMessage"}
    for handler in TOOL_RUNNERS:
        runner = function_id(template_json, handler)
        environment = props(template_json, runner)["Environment"]["Variables"]
        assert {name: environment.get(name) for name in BUILTIN_ENVIRONMENT} == {
            name: expected[name] for name in BUILTIN_ENVIRONMENT}, handler
        missing = needed - rendered_grants(template_json, runner)
        assert not missing, (handler, sorted(missing))
