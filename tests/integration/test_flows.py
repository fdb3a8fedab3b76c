"""Flows on the embedded cloud, over real HTTP: a flow with llm, parallel/join, map, a human approval and a
condition runs end to end in moto's ASL interpreter (approved once, rejected once), a flow of agent, builtin tool and
crew nodes acts on real data, a flow whose tool node fails records that node and why, and progress events arrive in
order with long-polling."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import boto3
import httpx
import pytest

from crewhouse.local.cloud import EmbeddedCloud
from crewhouse.local.seed import SignedInUser
from tests.integration.conftest import bearer
from tests.support.flows import agents_flow, approval_flow, edge, failing_flow, node
from tests.support.flows import end as end_node
from tests.support.flows import start as start_node
from tests.support.waiting import eventually
from tests.support.webhook_receiver import serving


@pytest.fixture(scope="module")
def owner(new_user: Callable[[], SignedInUser]) -> SignedInUser:
    return new_user()


def create(api: httpx.Client, user: SignedInUser, graph: dict[str, Any], name: str) -> dict[str, Any]:
    response = api.post("/flows", json={"name": name, "graph": graph},
                        headers={**bearer(user.id_token), "Idempotency-Key": f"create-{name}"})
    assert response.status_code == 201, response.text
    return dict(response.json())


def start(api: httpx.Client, user: SignedInUser, flow_id: str, values: dict[str, Any]) -> dict[str, Any]:
    response = api.post(f"/flows/{flow_id}/executions", json={"input": values}, headers=bearer(user.id_token))
    assert response.status_code == 201, response.text
    return dict(response.json())


def execution(api: httpx.Client, user: SignedInUser, run_id: str) -> dict[str, Any]:
    response = api.get(f"/executions/{run_id}", headers=bearer(user.id_token))
    assert response.status_code == 200, response.text
    return dict(response.json())


def ended(api: httpx.Client, user: SignedInUser, run_id: str, timeout: float = 60) -> dict[str, Any]:
    found = eventually(lambda: (e := execution(api, user, run_id))["status"] != "running" and e, timeout=timeout,
                       interval=0.3)
    assert found, f"execution {run_id} did not end"
    return dict(found)


def pending_approval(api: httpx.Client, user: SignedInUser, run_id: str) -> dict[str, Any]:
    def check() -> Any:
        found = api.get(f"/executions/{run_id}/approvals", headers=bearer(user.id_token)).json()
        return found[0] if found and found[0]["status"] == "pending" else None

    approval = eventually(check, timeout=60, interval=0.3)
    assert approval, "the flow never asked for the approval"
    return dict(approval)


def test_a_flow_runs_end_to_end_approved_and_rejected(api: httpx.Client, cloud: EmbeddedCloud,
                                                      owner: SignedInUser) -> None:
    flow = create(api, owner, approval_flow(), "launch")
    again = api.post("/flows", json={"name": "launch", "graph": approval_flow()},
                     headers={**bearer(owner.id_token), "Idempotency-Key": "create-launch"})
    assert again.json()["id"] == flow["id"]  # the same key: the same flow, no second state machine
    values = {"topic": "solar batteries", "items": ["cells", "inverters", "warranty"]}
    approved, rejected = start(api, owner, flow["id"], values), start(api, owner, flow["id"], values)

    for run, decision, body in ((approved, "approve", {}), (rejected, "reject", {"comment": "too early"})):
        approval = pending_approval(api, owner, run["id"])
        assert approval["node_id"] == "review" and approval["prompt"].startswith("Publish ")
        response = api.post(f"/executions/{run['id']}/approvals/review/{decision}", json=body,
                            headers=bearer(owner.id_token))
        assert response.status_code == 200, response.text
        again_response = api.post(f"/executions/{run['id']}/approvals/review/approve", json={},
                                  headers=bearer(owner.id_token))
        assert again_response.status_code == 409

    done = ended(api, owner, approved["id"])
    assert done["status"] == "succeeded", done
    assert done["output"]["end"] == "done"
    assert done["output"]["output"]["text"]
    results = done["output"]["output"]["results"]
    assert len(results) == 3 and all(r["summary"] for r in results)
    declined = ended(api, owner, rejected["id"])
    assert declined["status"] == "succeeded", declined
    assert declined["output"] == {"end": "rejected", "output": {"comment": "too early"}}

    # The execution really ran in Step Functions, on the version it started with.
    sfn = boto3.client("stepfunctions", endpoint_url=cloud.aws_endpoint, region_name=cloud.config.region,
                       aws_access_key_id="test", aws_secret_access_key="test")
    assert sfn.describe_execution(executionArn=done["execution_arn"])["status"] == "SUCCEEDED"
    alias = sfn.describe_state_machine_alias(stateMachineAliasArn=flow["alias_arn"])
    assert alias["routingConfiguration"][0]["stateMachineVersionArn"] == f"{flow['state_machine_arn']}:1"

    events = api.get(f"/executions/{approved['id']}/events", headers=bearer(owner.id_token)).json()
    kinds = [(e["source"], e["type"], e["node_id"]) for e in events["items"]]
    assert kinds[0] == ("execution", "execution_started", None)
    assert ("execution", "node_entered", "draft") in kinds and ("runner", "node_started", "draft") in kinds
    assert ("runner", "llm_tokens_used", "draft") in kinds and ("runner", "approval_requested", "review") in kinds
    assert ("execution", "node_entered", "each") in kinds and ("execution", "node_exited", "fan_in") in kinds
    assert ("execution", "node_entered", "summarise") in kinds  # a map body's node, by its own id
    moments = [datetime.fromisoformat(e["at"]) for e in events["items"]]  # "…:41Z" and "…:41.054Z" alike
    assert moments == sorted(moments)
    assert events["status"] == "succeeded"
    # A long poll after the end answers at once with nothing new.
    began = time.monotonic()
    tail = api.get(f"/executions/{approved['id']}/events", params={"after": events["next"], "wait": 5},
                   headers=bearer(owner.id_token)).json()
    assert tail["items"] == [] and time.monotonic() - began < 4

    listed = api.get(f"/flows/{flow['id']}/executions", params={"limit": 1}, headers=bearer(owner.id_token)).json()
    assert [e["id"] for e in listed["items"]] == [rejected["id"]] and listed["next_cursor"]
    rest = api.get(f"/flows/{flow['id']}/executions", params={"cursor": listed["next_cursor"]},
                   headers=bearer(owner.id_token)).json()
    assert [e["id"] for e in rest["items"]] == [approved["id"]]


def test_long_poll_waits_for_the_next_event(api: httpx.Client, owner: SignedInUser) -> None:
    flow = create(api, owner, approval_flow(), "poll")
    run = start(api, owner, flow["id"], {"topic": "x", "items": []})
    pending_approval(api, owner, run["id"])
    first = api.get(f"/executions/{run['id']}/events", headers=bearer(owner.id_token)).json()
    assert first["status"] == "running"

    def decide_later() -> None:
        time.sleep(1.5)
        api.post(f"/executions/{run['id']}/approvals/review/approve", json={}, headers=bearer(owner.id_token))

    deciding = threading.Thread(target=decide_later)
    deciding.start()
    began = time.monotonic()
    waited = api.get(f"/executions/{run['id']}/events", params={"after": first["next"], "wait": 15},
                     headers=bearer(owner.id_token)).json()
    deciding.join()
    assert 1.0 < time.monotonic() - began < 14, "the poll neither waited nor answered when something happened"
    assert waited["items"], waited
    assert ended(api, owner, run["id"])["status"] == "succeeded"


def test_a_failing_node_is_recorded_with_its_error(api: httpx.Client, owner: SignedInUser) -> None:
    flow = create(api, owner, failing_flow(), "fails")
    run = start(api, owner, flow["id"], {"topic": "anything"})
    failed = ended(api, owner, run["id"])
    assert failed["status"] == "failed", failed
    assert failed["failed_node"] == "lookup", failed
    assert failed["error"] == "Flow.NodeFailed" and "no-such-tool" in (failed["cause"] or ""), failed
    assert failed["output"] is None
    events = api.get(f"/executions/{run['id']}/events", headers=bearer(owner.id_token)).json()["items"]
    assert any(e["type"] == "node_failed" and e["node_id"] == "lookup" for e in events)


def test_a_redrive_reruns_the_failed_node_and_not_the_one_before(api: httpx.Client, cloud: EmbeddedCloud,
                                                                 owner: SignedInUser,
                                                                 new_user: Callable[[], SignedInUser]) -> None:
    with serving() as receiver:
        receiver.answers = [200, 500]  # the first node's call succeeds, the second node's first call fails
        tools = {name: api.post("/tools", headers=bearer(owner.id_token), json={
            "name": f"redrive-{name}", "kind": "http",
            "config": {"method": "POST", "url": f"{receiver.url}/{name}"}}) for name in ("fetch", "flaky")}
        assert all(t.status_code == 201 for t in tools.values()), {k: t.text for k, t in tools.items()}
        graph = {"nodes": [start_node(), node("fetch", "tool", tool_id=tools["fetch"].json()["id"]),
                           node("flaky", "tool", tool_id=tools["flaky"].json()["id"], retry={"max_attempts": 0}),
                           end_node("end", ("fetched", "any"), ("result", "any"))],
                 "edges": [edge("start", "flow", "fetch", "flow"), edge("fetch", "flow", "flaky", "flow"),
                           edge("fetch", "result", "end", "fetched"), edge("flaky", "result", "end", "result")]}
        flow = create(api, owner, graph, "redriven")
        run = start(api, owner, flow["id"], {})
        failed = ended(api, owner, run["id"])
        assert (failed["status"], failed["failed_node"], failed["redrive_count"]) == ("failed", "flaky", 0), failed
        assert "HTTP 500" in (failed["cause"] or ""), failed

        stranger = new_user()  # another workspace
        assert api.post(f"/executions/{run['id']}/redrive", headers=bearer(stranger.id_token)).status_code == 404
        redriven = api.post(f"/executions/{run['id']}/redrive", headers=bearer(owner.id_token))
        assert redriven.status_code == 200, redriven.text
        assert redriven.json()["status"] == "running" and redriven.json()["redrive_count"] == 1
        assert redriven.json()["execution_arn"] == run["execution_arn"]  # the same execution continues
        done = ended(api, owner, run["id"])
        assert done["status"] == "succeeded" and done["failed_node"] is None, done
        assert done["output"]["output"]["result"] is not None and done["redrive_count"] == 1, done
        assert [r.path for r in receiver.received] == ["/hook/fetch", "/hook/flaky", "/hook/flaky"], \
            "the node that had succeeded ran again"

    again = api.post(f"/executions/{run['id']}/redrive", headers=bearer(owner.id_token))
    assert again.status_code == 409 and again.json()["type"].endswith("execution-not-failed"), again.text
    sfn = boto3.client("stepfunctions", endpoint_url=cloud.aws_endpoint, region_name=cloud.config.region,
                       aws_access_key_id="test", aws_secret_access_key="test")
    assert sfn.describe_execution(executionArn=run["execution_arn"])["redriveCount"] == 1
    events = api.get(f"/executions/{run['id']}/events", headers=bearer(owner.id_token)).json()["items"]
    kinds = [(e["type"], e["node_id"]) for e in events]
    assert ("flow_failed", "flaky") in kinds and ("flow_redriven", "flaky") in kinds
    assert ("flow_succeeded", None) in kinds


def test_cancel_stops_a_waiting_execution_and_delete_waits_for_it(api: httpx.Client, owner: SignedInUser,
                                                                  new_user: Callable[[], SignedInUser]) -> None:
    flow = create(api, owner, approval_flow(), "cancelled")
    run = start(api, owner, flow["id"], {"topic": "x", "items": ["a"]})
    pending_approval(api, owner, run["id"])
    assert api.delete(f"/flows/{flow['id']}", headers=bearer(owner.id_token)).status_code == 409
    stranger = new_user()
    assert api.get(f"/executions/{run['id']}", headers=bearer(stranger.id_token)).status_code == 404
    assert api.post(f"/executions/{run['id']}/cancel", headers=bearer(stranger.id_token)).status_code == 404
    cancelled = api.post(f"/executions/{run['id']}/cancel", headers=bearer(owner.id_token))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert api.delete(f"/flows/{flow['id']}", headers=bearer(owner.id_token)).status_code == 204
    assert execution(api, owner, run["id"])["status"] == "cancelled"


def test_agent_tool_and_crew_nodes_run_for_real(api: httpx.Client, owner: SignedInUser) -> None:
    """A hosted agent's builtin tool writes a task, the builtin get_tasks tool node reads it back, and a crew node
    runs a crew (its own execution of the crew-run state machine) with the agent's answer as context."""
    headers = bearer(owner.id_token)

    def created(path: str, body: dict[str, Any]) -> str:
        response = api.post(path, json=body, headers=headers)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    planner = created("/hosted-agents", {"name": "Planner", "role": "planner", "goal": "plan the week",
                                         "tools": ["builtin:create_task"]})
    writer = created("/hosted-agents", {"name": "Writer", "role": "writer", "goal": "report"})
    crew = created("/crews", {"name": "Report desk", "members": [writer], "process": "sequential", "tasks": [
        {"id": "report", "description": "Report on the plan", "expected_output": "A line", "agent_id": writer}]})
    flow = create(api, owner, agents_flow(planner, crew), "agents")
    run = start(api, owner, flow["id"], {"request": "add renew the passport"})
    done = ended(api, owner, run["id"], timeout=90)
    assert done["status"] == "succeeded", done
    output = done["output"]["output"]
    assert "renew the passport" in output["plan"]
    assert "renew the passport" in [t["title"] for t in output["tasks"]["items"]]
    assert output["report"].startswith("(offline assistant)")
    events = api.get(f"/executions/{run['id']}/events", headers=headers).json()["items"]
    ran = [(e["type"], e["node_id"]) for e in events if e["source"] == "runner" and e.get("node_id")]
    assert ran == [("node_started", "plan"), ("llm_tokens_used", "plan"), ("tool_called", "plan"),
                   ("node_finished", "plan"), ("node_started", "lookup"), ("tool_called", "lookup"),
                   ("node_finished", "lookup"), ("node_started", "desk"), ("crew_started", "desk"),
                   ("node_finished", "desk")]
    crew_runs = api.get(f"/crews/{crew}/runs", headers=headers).json()["items"]
    assert [r["status"] for r in crew_runs] == ["succeeded"]
