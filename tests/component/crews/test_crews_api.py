"""The hosted agents and crews Lambdas in-process against moto: CRUD with versions and If-Match, the bus registry
entry, roles and cross-tenant 404s, a test run started on a real (moto) state machine, and a crew step run by the
crew-step Lambda with the offline provider."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from crewhouse.bus.agents_api import handler as bus_agents_handler
from crewhouse.core.settings import function_environment
from crewhouse.crews.agents_api import handler as agents_handler
from crewhouse.crews.api import handler as crews_handler
from crewhouse.crews.workers import step_handler
from tests.support.events import claims_for, http_event, lambda_context, response_json
from tests.support.members import seed_membership
from tests.support.mock import mocked_aws
from tests.support.tables import create_table

CREWS, BUS, AUDIT, TOOLS, PLATFORM, IDEMPOTENCY = "crews", "bus", "bus-audit", "tools", "platform", "idempotency"
ENV = {"CREWS_TABLE": CREWS, "BUS_TABLE": BUS, "BUS_AUDIT_TABLE": AUDIT, "TOOL_REGISTRY_TABLE": TOOLS,
       "PLATFORM_TABLE": PLATFORM, "IDEMPOTENCY_TABLE": IDEMPOTENCY, "AWS_REGION": "us-east-1",
       "CURSOR_SIGNING_KEY": "c" * 32, "TOKEN_HASH_KEY": "k" * 64, "LLM_PROVIDERS": "offline"}
Call = Callable[..., tuple[int, Any, dict[str, str]]]
AGENT = {"name": "Researcher", "role": "Researcher", "goal": "Find facts", "capabilities": ["research.web"]}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    with mocked_aws(monkeypatch):
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        for name, prefix in ((CREWS, "CrewsCrewsTable"), (BUS, "BusBusTable"), (AUDIT, "BusBusAuditTable"),
                             (TOOLS, "ToolRegistryToolsTable"), (PLATFORM, "StoragePlatformTable"),
                             (IDEMPOTENCY, "StorageIdempotencyTable")):
            create_table(dynamodb, prefix, name)
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        machine = boto3.client("stepfunctions", region_name="us-east-1").create_state_machine(
            name="CrewRun", roleArn=role, definition=json.dumps(
                {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}))["stateMachineArn"]
        yield {**ENV, "CREW_STATE_MACHINE_ARN": machine}


def caller(handler: Any, env: dict[str, str], user: str, tenant: str = "t1", role: str = "member") -> Call:
    seed_membership(tenant, user, role, table=PLATFORM)

    def call(method: str, path: str, body: Any = None, *, query: str = "",
             headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        event = http_event(method, path, body=body, claims=claims_for(tenant, user), query=query, headers=headers)
        with function_environment(env):
            response = handler(event, lambda_context())
        return response["statusCode"], response_json(response), dict(response.get("headers") or {})

    return call


def test_hosted_agents_are_versioned_and_registered_on_the_bus(env: dict[str, str]) -> None:
    alice = caller(agents_handler, env, "alice")
    status, agent, headers = alice("POST", "/hosted-agents", AGENT, headers={"Idempotency-Key": "a-1"})
    assert status == 201 and agent["version"] == 1 and headers["etag"] == '"1"', agent
    again = alice("POST", "/hosted-agents", AGENT, headers={"Idempotency-Key": "a-1"})
    assert again[1]["id"] == agent["id"]
    path = f"/hosted-agents/{agent['id']}"
    status, updated, headers = alice("PUT", path, {**AGENT, "goal": "Find better facts", "memory": True},
                                     headers={"If-Match": '"1"'})
    assert status == 200 and updated["version"] == 2 and headers["etag"] == '"2"'
    assert alice("PUT", path, AGENT, headers={"If-Match": '"1"'})[0] == 412
    status, versions, _ = alice("GET", f"{path}/versions")
    assert [v["version"] for v in versions["items"]] == [2, 1]
    assert alice("GET", f"{path}/versions/1")[1]["goal"] == "Find facts"
    assert alice("GET", f"{path}/versions/9")[0] == 404
    assert [a["id"] for a in alice("GET", "/hosted-agents")[1]["items"]] == [agent["id"]]

    admin = caller(bus_agents_handler, env, "ada", role="admin")
    status, found, _ = admin("GET", "/agents", query="kind=hosted")
    assert status == 200 and [(a["id"], a["kind"]) for a in found["items"]] == [(agent["id"], "hosted")]
    by_capability = admin("GET", "/agents", query="capability=research.web")[1]["items"]
    assert [a["id"] for a in by_capability] == [agent["id"]]

    assert alice("DELETE", path, headers={"If-Match": '"2"'})[0] == 204
    assert admin("GET", "/agents", query="kind=hosted")[1]["items"] == []
    assert alice("GET", path)[0] == 404


def test_roles_and_tenants(env: dict[str, str]) -> None:
    alice = caller(agents_handler, env, "alice")
    agent = alice("POST", "/hosted-agents", AGENT)[1]
    observer = caller(agents_handler, env, "olga", role="observer")
    assert observer("GET", f"/hosted-agents/{agent['id']}")[0] == 200
    assert observer("POST", "/hosted-agents", AGENT)[0] == 403
    assert observer("POST", f"/hosted-agents/{agent['id']}/run", {"task": "hi"})[0] == 403
    mallory = caller(agents_handler, env, "mallory", tenant="t2", role="admin")
    assert mallory("GET", f"/hosted-agents/{agent['id']}")[0] == 404
    assert mallory("DELETE", f"/hosted-agents/{agent['id']}")[0] == 404
    assert mallory("POST", f"/hosted-agents/{agent['id']}/run", {"task": "hi"})[0] == 404
    status, problem, _ = alice("POST", "/hosted-agents", {**AGENT, "max_iterations": 30, "temperature": 2})
    assert status == 422 and {e["path"] for e in problem["errors"]} == {"body.max_iterations", "body.temperature"}
    status, problem, _ = alice("POST", "/hosted-agents", {**AGENT, "tools": ["no-such-tool"]})
    assert status == 422 and "no-such-tool" in problem["detail"]


def test_trying_an_agent_runs_it_with_the_offline_provider(env: dict[str, str]) -> None:
    alice = caller(agents_handler, env, "alice")
    agent = alice("POST", "/hosted-agents", {**AGENT, "memory": True})[1]
    status, run, _ = alice("POST", f"/hosted-agents/{agent['id']}/run", {"task": "hello", "context": {"a": 1}})
    assert status == 200 and run["text"].startswith("(offline assistant)") and run["provider"] == "offline"
    assert run["version"] == 1 and run["tools_used"] == []


def test_crews_validate_run_and_cancel(env: dict[str, str]) -> None:
    agents = caller(agents_handler, env, "alice")
    a = agents("POST", "/hosted-agents", AGENT)[1]["id"]
    b = agents("POST", "/hosted-agents", {**AGENT, "name": "Writer"})[1]["id"]
    crews = caller(crews_handler, env, "alice")
    crew = {"name": "Blog", "members": [a, b], "tasks": [
        {"id": "research", "description": "Research {topic}", "expected_output": "facts", "agent_id": a},
        {"id": "write", "description": "Write on {topic}", "expected_output": "a post", "agent_id": b,
         "context": ["research"]}]}
    status, problem, _ = crews("POST", "/crews", {**crew, "members": [a, "ghost"], "tasks": [
        {**crew["tasks"][0], "context": ["write"]}, crew["tasks"][1]]})
    assert status == 422 and {e["path"] for e in problem["errors"]} == {
        "body.members.1", "body.tasks.0.context.0", "body.tasks.1.agent_id"}
    status, created, headers = crews("POST", "/crews", crew, headers={"Idempotency-Key": "c-1"})
    assert status == 201 and headers["etag"] == '"1"'
    path = f"/crews/{created['id']}"
    assert crews("PUT", path, {**crew, "name": "Blog 2"}, headers={"If-Match": '"1"'})[1]["version"] == 2
    assert crews("PUT", path, crew, headers={"If-Match": '"1"'})[0] == 412

    status, run, headers = crews("POST", f"{path}/test", {"inputs": {"topic": "bees"}})
    assert status == 202 and run["status"] == "running" and run["execution_arn"].endswith(f":{run['id']}")
    assert run["console_url"] == ("https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1"
                                  f"#/v2/executions/details/{run['execution_arn']}")
    ids = {"tenant_id": "t1", "crew_id": created["id"], "run_id": run["id"]}
    with function_environment(env):
        assert step_handler({"action": "step", "run": ids}, lambda_context()) == {"done": False, "step": 1}
    status, shown, _ = crews("GET", f"{path}/runs/{run['id']}")
    assert [o["task_id"] for o in shown["outputs"]] == ["research"] and shown["agents_used"] == [a]
    assert shown["outputs"][0]["text"].startswith("(offline assistant)")
    assert [r["id"] for r in crews("GET", f"{path}/runs")[1]["items"]] == [run["id"]]

    mallory = caller(crews_handler, env, "mallory", tenant="t2", role="admin")
    assert mallory("GET", f"{path}/runs/{run['id']}")[0] == 404
    assert mallory("POST", f"{path}/runs/{run['id']}/cancel")[0] == 404
    status, cancelled, _ = crews("POST", f"{path}/runs/{run['id']}/cancel")
    assert status == 200 and cancelled["status"] == "cancelled"
    assert crews("DELETE", f"{path}/runs/{run['id']}")[0] == 409
    with function_environment(env), pytest.raises(Exception) as raised:
        step_handler({"action": "step", "run": ids}, lambda_context())
    assert type(raised.value).__name__ == "RunCancelled"
    assert crews("DELETE", path, headers={"If-Match": '"2"'})[0] == 204
    assert crews("GET", path)[0] == 404
