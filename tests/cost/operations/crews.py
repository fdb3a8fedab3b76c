"""Hosted agents (defined, versioned, tried) and crews of them (defined, run end to end as a Step Functions
execution of the crew-run state machine, their runs read and cancelled)."""

from __future__ import annotations

from typing import Any

from tests.cost.catalog import Context, Effect, Metered
from tests.cost.operations.agents_support import hosted_agent, kept, ok, unique, wait_until


def _execution_ended(ctx: Context, arn: str) -> Effect:
    """The execution has ended (its tail included), asked of Step Functions outside the reading."""
    sfn = ctx.meter.client("stepfunctions")
    return lambda: sfn.describe_execution(executionArn=arn)["status"] != "RUNNING"


# --- hosted agents -----------------------------------------------------------------------------------------


def _new_hosted(ctx: Context) -> dict[str, Any]:
    response = ctx.api.post("/hosted-agents", json={"name": unique("Scratch"), "role": "scratch", "goal": "help"},
                            headers=ctx.headers)
    return {**ok(response, 201), "etag": response.headers.get("etag")}


def create_hosted(ctx: Context, _: Any) -> Effect:
    _new_hosted(ctx)
    return None


def list_hosted(ctx: Context, _: Any) -> Effect:
    hosted_agent(ctx, "Researcher")
    assert ok(ctx.api.get("/hosted-agents", headers=ctx.headers))["items"]
    return None


def get_hosted(ctx: Context, _: Any) -> Effect:
    ok(ctx.api.get(f"/hosted-agents/{hosted_agent(ctx, 'Researcher')['id']}", headers=ctx.headers))
    return None


def change_hosted(ctx: Context, agent: dict[str, Any]) -> Effect:
    ok(ctx.api.put(f"/hosted-agents/{agent['id']}", json={"name": agent["name"], "role": "scratch",
                                                          "goal": "help more"},
                   headers={**ctx.headers, "If-Match": agent["etag"]}))
    return None


def delete_hosted(ctx: Context, agent: dict[str, Any]) -> Effect:
    ok(ctx.api.delete(f"/hosted-agents/{agent['id']}", headers=ctx.headers), 204)
    return None


def run_hosted(ctx: Context, _: Any) -> Effect:
    agent = hosted_agent(ctx, "Researcher")
    answer = ok(ctx.api.post(f"/hosted-agents/{agent['id']}/run", json={"task": "Name three solar facts"},
                             headers=ctx.headers))
    assert answer, answer
    return None


def hosted_versions(ctx: Context, _: Any) -> Effect:
    ok(ctx.api.get(f"/hosted-agents/{hosted_agent(ctx, 'Researcher')['id']}/versions", headers=ctx.headers))
    return None


def hosted_version(ctx: Context, _: Any) -> Effect:
    ok(ctx.api.get(f"/hosted-agents/{hosted_agent(ctx, 'Researcher')['id']}/versions/1", headers=ctx.headers))
    return None


# --- crews -------------------------------------------------------------------------------------------------


def _crew_body(ctx: Context) -> dict[str, Any]:
    researcher, writer = hosted_agent(ctx, "Researcher"), hosted_agent(ctx, "Writer")
    return {"name": unique("Blog crew"), "members": [researcher["id"], writer["id"]], "process": "sequential",
            "tasks": [{"id": "research", "description": "Research {topic}", "expected_output": "Five facts",
                       "agent_id": researcher["id"]},
                      {"id": "write", "description": "Write a post on {topic}", "expected_output": "A short post",
                       "agent_id": writer["id"], "context": ["research"]}]}


def _new_crew(ctx: Context) -> dict[str, Any]:
    response = ctx.api.post("/crews", json=_crew_body(ctx), headers=ctx.headers)
    return {**ok(response, 201), "etag": response.headers.get("etag")}


def crew(ctx: Context) -> dict[str, Any]:
    return dict(kept(ctx, "crew", lambda: _new_crew(ctx)))


def create_crew(ctx: Context, _: Any) -> Effect:
    _new_crew(ctx)
    return None


def list_crews(ctx: Context, _: Any) -> Effect:
    crew(ctx)
    assert ok(ctx.api.get("/crews", headers=ctx.headers))["items"]
    return None


def get_crew(ctx: Context, _: Any) -> Effect:
    ok(ctx.api.get(f"/crews/{crew(ctx)['id']}", headers=ctx.headers))
    return None


def change_crew(ctx: Context, found: dict[str, Any]) -> Effect:
    body = {**_crew_body(ctx), "name": found["name"]}
    ok(ctx.api.put(f"/crews/{found['id']}", json=body, headers={**ctx.headers, "If-Match": found["etag"]}))
    return None


def delete_crew(ctx: Context, found: dict[str, Any]) -> Effect:
    ok(ctx.api.delete(f"/crews/{found['id']}", headers=ctx.headers), 204)
    return None


def run_crew(ctx: Context, _: Any) -> Effect:
    started = ok(ctx.api.post(f"/crews/{crew(ctx)['id']}/test", json={"inputs": {"topic": "solar batteries"}},
                              headers=ctx.headers), 202)
    ctx.state["crew_run"] = started["id"]
    return _execution_ended(ctx, started["execution_arn"])


def _finished_run(ctx: Context) -> str:
    """A crew run that has ended (started by the end-to-end row, or here)."""
    if "crew_run" not in ctx.state:
        started = ok(ctx.api.post(f"/crews/{crew(ctx)['id']}/test", json={"inputs": {"topic": "wind"}},
                                  headers=ctx.headers), 202)
        ctx.state["crew_run"] = started["id"]
    run_id = str(ctx.state["crew_run"])
    wait_until(lambda: ok(ctx.api.get(f"/crews/{crew(ctx)['id']}/runs/{run_id}", headers=ctx.headers))["status"]
               != "running", what="the crew run's end")
    return run_id


def list_runs(ctx: Context, _: Any) -> Effect:
    ok(ctx.api.get(f"/crews/{crew(ctx)['id']}/runs", headers=ctx.headers))
    return None


def get_run(ctx: Context, run_id: str) -> Effect:
    ok(ctx.api.get(f"/crews/{crew(ctx)['id']}/runs/{run_id}", headers=ctx.headers))
    return None


def cancel_ended_run(ctx: Context, run_id: str) -> Effect:
    # A crew run on the offline provider ends in about a second, before a cancel can reach it: what is metered is
    # the cancel's checks and its 409 (the StopExecution of a running run is in the flow execution's cancel).
    response = ctx.api.post(f"/crews/{crew(ctx)['id']}/runs/{run_id}/cancel", headers=ctx.headers)
    assert response.status_code == 409, response.text
    return None


def delete_ended_run(ctx: Context, run_id: str) -> Effect:
    response = ctx.api.delete(f"/crews/{crew(ctx)['id']}/runs/{run_id}", headers=ctx.headers)
    assert response.status_code == 409, response.text
    return None


METERED: list[Metered] = [
    Metered("define a hosted agent", ("POST /hosted-agents",), create_hosted),
    Metered("list hosted agents", ("GET /hosted-agents",), list_hosted),
    Metered("get a hosted agent", ("GET /hosted-agents/{agent_id}",), get_hosted),
    Metered("change a hosted agent (new version)", ("PUT /hosted-agents/{agent_id}",), change_hosted, _new_hosted),
    Metered("delete a hosted agent", ("DELETE /hosted-agents/{agent_id}",), delete_hosted, _new_hosted),
    Metered("try a hosted agent (offline model)", ("POST /hosted-agents/{agent_id}/run",), run_hosted),
    Metered("a hosted agent's versions", ("GET /hosted-agents/{agent_id}/versions",), hosted_versions),
    Metered("one version of a hosted agent", ("GET /hosted-agents/{agent_id}/versions/{version}",),
            hosted_version),
    Metered("define a crew", ("POST /crews",), create_crew),
    Metered("list crews", ("GET /crews",), list_crews),
    Metered("get a crew", ("GET /crews/{crew_id}",), get_crew),
    Metered("change a crew", ("PUT /crews/{crew_id}",), change_crew, _new_crew),
    Metered("delete a crew", ("DELETE /crews/{crew_id}",), delete_crew, _new_crew),
    Metered("crew run of two tasks, end to end", ("POST /crews/{crew_id}/test",), run_crew),
    Metered("a crew's runs", ("GET /crews/{crew_id}/runs",), list_runs, _finished_run),
    Metered("get a crew run", ("GET /crews/{crew_id}/runs/{run_id}",), get_run, _finished_run),
    Metered("cancel a crew run that has ended (409)", ("POST /crews/{crew_id}/runs/{run_id}/cancel",),
            cancel_ended_run, _finished_run),
    Metered("delete-cancel a crew run that has ended (409)", ("DELETE /crews/{crew_id}/runs/{run_id}",),
            delete_ended_run, _finished_run),
]
