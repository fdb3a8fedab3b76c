"""Hosted agents and crews on the embedded cloud, over real HTTP: a sequential crew of two hosted agents runs end to
end as a Step Functions execution of the crew-run state machine (the crew-step Lambda runs each task with the
offline provider) to a stored result; a hosted agent answers a bus request through its own runtime; another
tenant sees none of it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import boto3
import httpx
import pytest

from crewhouse.local.cloud import EmbeddedCloud
from crewhouse.local.seed import SignedInUser
from tests.integration.conftest import bearer
from tests.support.waiting import eventually


@pytest.fixture(scope="module")
def stranger(new_user: Callable[[], SignedInUser]) -> SignedInUser:
    return new_user()


def create_agent(api: httpx.Client, user: SignedInUser, name: str, **fields: Any) -> dict[str, Any]:
    body = {"name": name, "role": f"{name} of the team", "goal": f"Do {name.lower()} work", **fields}
    response = api.post("/hosted-agents", json=body, headers=bearer(user.id_token))
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_a_sequential_crew_runs_through_step_functions_to_a_stored_result(
        api: httpx.Client, cloud: EmbeddedCloud, user: SignedInUser, stranger: SignedInUser) -> None:
    headers = bearer(user.id_token)
    researcher = create_agent(api, user, "Researcher", capabilities=["research"])
    writer = create_agent(api, user, "Writer", capabilities=["writing"], memory=True)
    crew = {"name": "Blog crew", "members": [researcher["id"], writer["id"]], "process": "sequential", "tasks": [
        {"id": "research", "description": "Research {topic}", "expected_output": "Five facts",
         "agent_id": researcher["id"]},
        {"id": "write", "description": "Write a post on {topic}", "expected_output": "A short post",
         "agent_id": writer["id"], "context": ["research"]}]}
    created = api.post("/crews", json=crew, headers={**headers, "Idempotency-Key": "crew-1"})
    assert created.status_code == 201, created.text
    crew_id = created.json()["id"]

    started_at = time.monotonic()
    started = api.post(f"/crews/{crew_id}/test", json={"inputs": {"topic": "solar batteries"}}, headers=headers)
    assert started.status_code == 202, started.text
    run = started.json()
    assert run["status"] == "running" and run["execution_arn"].endswith(f":{run['id']}")
    assert run["console_url"].endswith(f"#/v2/executions/details/{run['execution_arn']}")

    def finished() -> dict[str, Any] | None:
        shown = api.get(f"/crews/{crew_id}/runs/{run['id']}", headers=headers).json()
        return shown if shown["status"] != "running" else None

    done = eventually(finished, timeout=90, interval=0.25)
    elapsed = time.monotonic() - started_at
    assert done and done["status"] == "succeeded", done
    assert [o["task_id"] for o in done["outputs"]] == ["research", "write"]
    assert [o["agent_id"] for o in done["outputs"]] == [researcher["id"], writer["id"]]
    assert done["agents_used"] == [researcher["id"], writer["id"]] and done["steps"] == 2
    assert done["result"] == done["outputs"][1]["text"] and done["result"].startswith("(offline assistant)")
    assert done["usage"]["totalTokens"] > 0 and done["finished_at"]

    sfn = boto3.client("stepfunctions", endpoint_url=cloud.aws_endpoint, region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test")
    execution = sfn.describe_execution(executionArn=run["execution_arn"])
    assert execution["status"] == "SUCCEEDED"
    history = sfn.get_execution_history(executionArn=run["execution_arn"], maxResults=1000)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    assert entered == ["RunStep", "IsDone", "RunStep", "IsDone", "Succeeded"]
    print(f"crew run: {len(done['outputs'])} tasks, {len(entered)} states, {elapsed:.2f} s end to end")

    listed = api.get(f"/crews/{crew_id}/runs", headers=headers).json()["items"]
    assert [r["id"] for r in listed] == [run["id"]]
    other = bearer(stranger.id_token)
    assert api.get(f"/crews/{crew_id}/runs/{run['id']}", headers=other).status_code == 404
    assert api.get(f"/hosted-agents/{writer['id']}", headers=other).status_code == 404
    assert api.post(f"/crews/{crew_id}/test", json={}, headers=other).status_code == 404
    assert api.post(f"/crews/{crew_id}/runs/{run['id']}/cancel", headers=headers).status_code == 409


def test_a_hosted_agent_is_discoverable_and_answers_bus_requests_with_its_runtime(
        api: httpx.Client, user: SignedInUser) -> None:
    headers = bearer(user.id_token)
    agent = create_agent(api, user, "Helper", capabilities=["helping"], memory=True)
    found = api.get("/agents", params={"capability": "helping"}, headers=headers)
    assert found.status_code == 200 and [a["id"] for a in found.json()["items"]] == [agent["id"]]
    assert found.json()["items"][0]["kind"] == "hosted"
    answered = api.post("/messages/requests", json={"to": agent["id"], "payload": "what can you do?",
                                                    "timeout_seconds": 20}, headers=headers)
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "replied", answered.text
    reply = answered.json()["reply"]["payload"]
    assert reply["text"].startswith("(offline assistant)") and reply["agent_version"] == 1
    assert reply["provider"] == "offline" and reply["tools_used"] == []
    assert api.delete(f"/hosted-agents/{agent['id']}", headers=headers).status_code == 204
    assert api.get("/agents", params={"capability": "helping"}, headers=headers).json()["items"] == []


def test_a_chat_session_bound_to_a_crew_answers_through_its_agents_and_their_builtin_tools(
        api: httpx.Client, user: SignedInUser, stranger: SignedInUser) -> None:
    """The chat function runs the crew's agent in-process; the agent's builtin:create_task writes a real task (the
    parent stack's tasks table, through the grants the nested crews stack's functions and the chat get)."""
    headers = bearer(user.id_token)
    helper = create_agent(api, user, "Planner", tools=["builtin:create_task"])
    crew = api.post("/crews", json={"name": "Planning desk", "members": [helper["id"]], "process": "sequential",
                                    "tasks": [{"id": "do", "description": "{message}", "expected_output": "Done",
                                               "agent_id": helper["id"]}]}, headers=headers)
    assert crew.status_code == 201, crew.text
    crew_id = crew.json()["id"]
    assert api.post("/chat/sessions", json={"crew_id": crew_id}, headers=bearer(stranger.id_token)
                    ).status_code == 404
    created = api.post("/chat/sessions", json={"crew_id": crew_id}, headers=headers)
    assert created.status_code == 201, created.text
    session = created.json()
    assert session["crew_id"] == crew_id and session["title"] == "Chat with Planning desk"

    turn = api.post(f"/chat/sessions/{session['id']}/messages", json={"text": "add water the crew plants"},
                    headers=headers)
    assert turn.status_code == 200, turn.text
    answer = turn.json()
    assert answer["crew_id"] == crew_id
    assert answer["agents"] == [{"agent_id": helper["id"], "name": "Planner", "tools_used": ["create_task"]}]
    assert [(c["agent_id"], c["name"], c["ok"]) for c in answer["tool_calls"]] == [
        (helper["id"], "create_task", True)]
    assert "water the crew plants" in answer["reply"]["text"]

    def indexed() -> list[str] | None:  # the search index follows the tasks table's stream
        found = api.get("/tasks/search", params={"q": "crew plants"}, headers=headers)
        assert found.status_code == 200, found.text
        return [t["title"] for t in found.json()["items"]] or None

    assert eventually(indexed, timeout=30, interval=0.3) == ["water the crew plants"]

    messages = api.get(f"/chat/sessions/{session['id']}/messages", headers=headers).json()["items"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["agents"][0]["name"] == "Planner" and messages[1]["tool_calls"][0]["agent_id"] == helper["id"]
