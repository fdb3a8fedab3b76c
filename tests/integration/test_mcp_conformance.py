"""The MCP server over real HTTP on the embedded cloud, driven by the official MCP SDK client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from crewhouse.local.cloud import EmbeddedCloud
from crewhouse.local.seed import SignedInUser
from crewhouse.tools.registry import tools
from tests.integration.conftest import bearer


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def client(cloud: EmbeddedCloud, token: str | None) -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    # The api fixture's timeout: the SDK's default 5 s is too short for a loaded machine's first MCP request.
    http = httpx2.AsyncClient(headers=headers, timeout=30)
    return Client(streamable_http_client(f"{cloud.api_url}/mcp", http_client=http))


async def _call(cloud: EmbeddedCloud, token: str, name: str, arguments: dict[str, Any]) -> Any:
    async with client(cloud, token) as session:
        return await session.call_tool(name, arguments)


def call(cloud: EmbeddedCloud, token: str, name: str, arguments: dict[str, Any]) -> Any:
    return run(_call(cloud, token, name, arguments))


@pytest.fixture(scope="module")
def alice(new_user: Callable[[], SignedInUser]) -> SignedInUser:
    return new_user()


def test_discovery_lists_every_registry_tool_with_schemas(cloud: EmbeddedCloud, alice: SignedInUser) -> None:
    async def listing() -> Any:
        async with client(cloud, alice.id_token) as session:
            return await session.list_tools()

    listed = {t.name: t for t in run(listing()).tools}
    assert set(listed) == {t.name for t in tools()}
    create = listed["create_task"]
    assert "title" in create.input_schema["properties"]
    assert create.output_schema is not None and "label" in create.output_schema["properties"]


def test_every_task_tool_works_end_to_end(cloud: EmbeddedCloud, alice: SignedInUser) -> None:
    token = alice.id_token
    created = call(cloud, token, "create_task", {"title": "Write the MCP docs", "priority": "A",
                                                 "planned_date": "2026-12-24"})
    assert not created.is_error
    task = created.structured_content
    assert (task["label"], task["title"]) == ("A1", "Write the MCP docs")
    second = call(cloud, token, "create_task", {"title": "Review", "priority": "A", "planned_date": "2026-12-24"})
    listed = call(cloud, token, "get_tasks", {"planned_date": "2026-12-24"}).structured_content
    assert [t["label"] for t in listed["items"]] == ["A1", "A2"]
    moved = call(cloud, token, "prioritize_tasks", {"id": second.structured_content["id"], "before_id": task["id"]})
    assert moved.structured_content["label"] == "A1"
    updated = call(cloud, token, "update_task", {"id": task["id"], "description": "for Claude and Cursor"})
    assert updated.structured_content["description"] == "for Claude and Cursor"
    found = None
    for _ in range(50):  # the search index is fed by the table's stream
        found = call(cloud, token, "search_tasks", {"q": "docs"}).structured_content
        if found["items"]:
            break
    assert found and [t["id"] for t in found["items"]] == [task["id"]]
    done = call(cloud, token, "complete_task", {"id": task["id"]})
    assert done.structured_content["status"] == "done"
    deleted = call(cloud, token, "delete_task", {"id": task["id"]})
    assert deleted.structured_content == {"id": task["id"], "deleted": True}


def test_domain_errors_are_error_results_not_protocol_failures(cloud: EmbeddedCloud, alice: SignedInUser) -> None:
    missing = call(cloud, alice.id_token, "complete_task", {"id": "01JNOSUCHTASK0000000000000"})
    assert missing.is_error
    assert "not-found" in json.dumps([c.model_dump() for c in missing.content])
    invalid = call(cloud, alice.id_token, "create_task", {"title": ""})
    assert invalid.is_error


def test_another_users_task_is_not_found_through_every_tool(cloud: EmbeddedCloud, alice: SignedInUser,
                                                            new_user: Callable[[], SignedInUser]) -> None:
    task = call(cloud, alice.id_token, "create_task", {"title": "alice's secret"}).structured_content
    bob = new_user().id_token
    for name, arguments in [("update_task", {"id": task["id"], "title": "mine now"}),
                            ("complete_task", {"id": task["id"]}), ("delete_task", {"id": task["id"]}),
                            ("prioritize_tasks", {"id": task["id"], "priority": "C"})]:
        result = call(cloud, bob, name, arguments)
        assert result.is_error, name
        assert "not-found" in json.dumps([c.model_dump() for c in result.content]), name
    assert call(cloud, bob, "get_tasks", {}).structured_content["items"] == []
    assert call(cloud, bob, "search_tasks", {"q": "secret"}).structured_content["items"] == []
    still = call(cloud, alice.id_token, "get_tasks", {}).structured_content["items"]
    assert task["id"] in [t["id"] for t in still]


def test_no_token_is_refused_by_the_authorizer(cloud: EmbeddedCloud) -> None:
    response = httpx.post(f"{cloud.api_url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert response.status_code == 401


@pytest.mark.parametrize(("method", "headers"), [
    ("GET", {"Accept": "text/event-stream"}),  # a client asking for the server-initiated message stream
    ("GET", {"Accept": "application/json, text/event-stream"}),
    ("DELETE", {}),  # ending a session: stateless requests have none
])
def test_methods_other_than_post_are_405_at_once(cloud: EmbeddedCloud, alice: SignedInUser, method: str,
                                                 headers: dict[str, str]) -> None:
    response = httpx.request(method, f"{cloud.api_url}/mcp", headers={**headers, **bearer(alice.id_token)},
                             timeout=5)  # the gateway's 503 would take 30 s
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 405


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_is_a_415_problem(cloud: EmbeddedCloud, alice: SignedInUser,
                                                  content_type: str | None) -> None:
    headers = {"Accept": "application/json, text/event-stream", **bearer(alice.id_token)}
    if content_type:
        headers["Content-Type"] = content_type
    response = httpx.post(f"{cloud.api_url}/mcp", content=b"tools/list", headers=headers)
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"


def test_protected_resource_metadata_names_the_user_pool(cloud: EmbeddedCloud) -> None:
    assert cloud.stack is not None
    response = httpx.get(f"{cloud.api_url}/.well-known/oauth-protected-resource")
    assert response.status_code == 200
    metadata = response.json()
    assert metadata["authorization_servers"] == [cloud.stack.outputs["Issuer"]]
    assert metadata["resource"].endswith("/mcp")


def test_note_tools_work_end_to_end(cloud: EmbeddedCloud, alice: SignedInUser) -> None:
    token = alice.id_token
    created = call(cloud, token, "create_note", {"title": "Quarterly planning", "body": "Hire a *plumber*.",
                                                 "checklist": [{"text": "call the plumber"}]})
    assert not created.is_error, created.content
    note = created.structured_content
    recent = call(cloud, token, "get_recent_notes", {"limit": 5}).structured_content
    assert note["id"] in [n["id"] for n in recent["items"]]
    found: dict[str, Any] = {}
    for _ in range(50):  # the search index is fed by the notes table's stream
        found = call(cloud, token, "search_notes", {"q": "quarterly"}).structured_content
        if found["items"]:
            break
    assert [n["id"] for n in found["items"]] == [note["id"]]
    item_id = note["checklist"][0]["id"]
    made = call(cloud, token, "create_task_from_note", {"id": note["id"], "checklist_item_ids": [item_id],
                                                        "priority": "A"})
    assert not made.is_error, made.content
    task = made.structured_content["tasks"][0]
    assert task["title"] == "call the plumber" and task["priority"] == "A"
    tasks = call(cloud, token, "get_tasks", {}).structured_content["items"]
    assert task["id"] in [t["id"] for t in tasks]


def test_extract_text_from_image_reads_the_ocr_result(api: httpx.Client, cloud: EmbeddedCloud,
                                                      alice: SignedInUser) -> None:
    from tests.integration.test_files_flow import eventually, text_image, upload_small, wait_for

    headers = {"Authorization": f"Bearer {alice.id_token}"}
    created = upload_small(api, headers, text_image("Crewhouse receipt 2026"), "image/png", "receipt.png")
    wait_for(api, headers, created["id"], "available")

    def read() -> Any:
        result = call(cloud, alice.id_token, "extract_text_from_image", {"file_id": created["id"]})
        return result if result.structured_content and result.structured_content["status"] != "pending" else None

    result = eventually(read)
    assert result and not result.is_error
    assert result.structured_content["status"] == "done"
    assert "receipt" in result.structured_content["text"].lower()


def test_note_and_file_tools_refuse_foreign_ids(cloud: EmbeddedCloud, alice: SignedInUser,
                                                new_user: Callable[[], SignedInUser]) -> None:
    note = call(cloud, alice.id_token, "create_note", {"title": "alice's note", "body": "private"}).structured_content
    bob = new_user().id_token
    for name, arguments in [("create_task_from_note", {"id": note["id"]}),
                            ("extract_text_from_image", {"file_id": note["id"]})]:
        result = call(cloud, bob, name, arguments)
        assert result.is_error, name
        assert "not-found" in json.dumps([c.model_dump() for c in result.content]), name
    assert note["id"] not in [n["id"] for n in call(cloud, bob, "get_recent_notes", {}).structured_content["items"]]
    assert call(cloud, bob, "search_notes", {"q": "private"}).structured_content["items"] == []


def test_job_tools_queue_research_and_read_its_result(cloud: EmbeddedCloud, alice: SignedInUser,
                                                      new_user: Callable[[], SignedInUser]) -> None:
    token = alice.id_token
    call(cloud, token, "create_note", {"title": "Heat pumps", "body": "Heat pumps move heat instead of making it. "
                                       "A good heat pump delivers three units of heat per unit of electricity."})
    queued = call(cloud, token, "queue_research_task", {"topic": "heat pumps", "depth": "quick", "priority": "high"})
    assert not queued.is_error, queued.content
    job_id = queued.structured_content["id"]
    assert queued.structured_content["status"] in ("queued", "running")

    def succeeded() -> Any:
        status = call(cloud, token, "get_task_status", {"job_id": job_id}).structured_content
        return status if status["status"] in ("succeeded", "failed") else None

    from tests.integration.test_files_flow import eventually

    status = eventually(succeeded)
    assert status and status["status"] == "succeeded" and status["progress"] == 100, status
    result = call(cloud, token, "get_task_result", {"job_id": job_id}).structured_content
    assert result["markdown"] and "heat pump" in result["markdown"].lower()
    bob = new_user().id_token
    for name in ("get_task_status", "get_task_result"):
        foreign = call(cloud, bob, name, {"job_id": job_id})
        assert foreign.is_error and "not-found" in json.dumps([c.model_dump() for c in foreign.content]), name
