"""What the rows share: prerequisites made once and cached in ``ctx.state`` (bus agents with tokens, hosted
agents, people of their own), small request helpers, and ``align_tenant_block``, which the test calls before each
reading (``align_as`` for a row another person runs)."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from crewhouse.local.seed import SignedInUser, sign_in, sign_up_and_confirm
from tests.cost.catalog import Context

PASSWORD = "Correct-horse-42!"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def bus_agent(ctx: Context, name: str, *, cache: bool = True, **fields: Any) -> dict[str, Any]:
    """An external agent of the user's tenant with a bus token: ``{"id", "headers", "credentials"}``.

    At the highest rate limit each request finds the agent's bucket idle, so admission is one UpdateItem whatever
    the machine's speed (see the headline bus row)."""
    agents: dict[str, dict[str, Any]] = ctx.state.setdefault("bus_agents", {})
    if cache and name in agents:
        return agents[name]
    registered = ctx.api.post("/agents", json={"name": name, "capabilities": [], "role": "agent-full",
                                               "rate_limit_per_minute": 100_000, **fields}, headers=ctx.headers)
    assert registered.status_code == 201, registered.text
    record = registered.json()
    credentials = record["credentials"]
    issued = ctx.api.post("/bus/token", data={"grant_type": "client_credentials",
                                              "client_id": credentials["client_id"],
                                              "client_secret": credentials["client_secret"]})
    assert issued.status_code == 200, issued.text
    agent = {"id": record["id"], "headers": bearer(issued.json()["access_token"]), "credentials": credentials}
    if cache:
        agents[name] = agent
    return agent


def received(ctx: Context, agent: dict[str, Any], wait: int = 5) -> list[dict[str, Any]]:
    """What the agent's inbox hands out now (a long poll of up to ``wait`` seconds)."""
    inbox = ctx.api.get(f"/agents/{agent['id']}/messages", params={"wait": wait, "max": 10},
                        headers=agent["headers"])
    assert inbox.status_code == 200, inbox.text
    return list(inbox.json()["messages"])


def hosted_agent(ctx: Context, name: str, **fields: Any) -> dict[str, Any]:
    """A hosted agent (offline provider) of the user's tenant, made once."""
    hosted: dict[str, dict[str, Any]] = ctx.state.setdefault("hosted_agents", {})
    if name not in hosted:
        created = ctx.api.post("/hosted-agents", json={"name": name, "role": f"{name} of the team",
                                                       "goal": f"Do {name.lower()} work", **fields},
                               headers=ctx.headers)
        assert created.status_code == 201, created.text
        hosted[name] = {**created.json(), "etag": created.headers.get("etag")}
    return hosted[name]


def kept(ctx: Context, key: str, make: Callable[[], Any]) -> Any:
    """What ``make`` returns, made once per cloud and kept in ``ctx.state`` for the rows that read it."""
    if key not in ctx.state:
        ctx.state[key] = make()
    return ctx.state[key]


def alternate(ctx: Context, key: str, first: Any, second: Any) -> Any:
    """``first``, then ``second``, then ``first`` again…: a value unlike the one this key gave last, so each
    metered write is a real change."""
    value = second if ctx.state.get(key) == first else first
    ctx.state[key] = value
    return value


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_until(check: Callable[[], Any], timeout: float = 60.0, what: str = "the condition") -> Any:
    """Polls ``check`` (unmetered preparation only) until it answers something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout:g} s"
        time.sleep(0.1)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.text)
    return response.json() if response.content else None


TENANT_BLOCK = 10  # crewhouse.core.api_limits: a user's 1st, 11th, 21st … request also charges the tenant's bucket


def new_person(ctx: Context, who: str) -> SignedInUser:
    """A new person, signed up, confirmed and signed in: the admin of a tenant of their own."""
    assert ctx.cloud.stack is not None
    email = f"{unique(who)}@example.com"
    sign_up_and_confirm(ctx.cloud.stack, email, PASSWORD)
    return sign_in(ctx.cloud.stack, email, PASSWORD)


def table_named(ctx: Context, fragment: str) -> str:
    """The physical name of the stack's one DynamoDB table whose logical id contains ``fragment``."""
    assert ctx.cloud.stack is not None
    names = [ctx.cloud.stack.resources[key] for key, spec in ctx.cloud.stack.template["Resources"].items()
             if spec["Type"] == "AWS::DynamoDB::Table" and fragment in key]
    assert len(names) == 1, names
    return names[0]


def requests_taken(ctx: Context) -> int:
    """How many request weights the signed-in user's rate-limit bucket has taken (read as the emulator)."""
    import boto3
    import jwt

    claims = jwt.decode(ctx.headers["Authorization"].removeprefix("Bearer "), options={"verify_signature": False})
    dynamodb = boto3.client("dynamodb", endpoint_url=ctx.cloud.aws_endpoint, region_name=ctx.cloud.config.region,
                            aws_access_key_id="test", aws_secret_access_key="test")
    item = dynamodb.get_item(TableName=table_named(ctx, "RateLimit"), Key={
        "PK": {"S": f"T#{claims['tenant_id']}#U#{claims['sub']}"}, "SK": {"S": "RATE"}}).get("Item")
    return int(item["taken"]["N"]) if item else 0


def align_tenant_block(ctx: Context) -> None:
    """Makes the user's next request the 2nd of a tenant block, so a reading of up to 9 of the user's requests
    opens none: which row's request pays the tenant's UpdateItem otherwise depends on how many requests came
    before it (warming polls, other rows, ``-k``), not on the row. Padding requests are unmetered reads."""
    while requests_taken(ctx) % TENANT_BLOCK != 1:
        ok(ctx.api.get("/tools/builtin", headers=ctx.headers))


def align_as(ctx: Context, headers: dict[str, str]) -> dict[str, str]:
    """``align_tenant_block`` for another person (a row's own user), whose headers it returns."""
    align_tenant_block(dataclasses.replace(ctx, headers=headers))
    return headers
