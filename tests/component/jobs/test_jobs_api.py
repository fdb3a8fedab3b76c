"""The jobs HTTP handler in-process over moto: status codes, problem+json, Idempotency-Key, paging, ownership."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from crewhouse.core.settings import function_environment
from crewhouse.jobs.api import handler
from tests.support.events import claims_for, http_event, lambda_context, response_json
from tests.support.members import seed_membership
from tests.support.tables import mocked_tables

Call = Callable[..., tuple[int, dict[str, str], Any]]


@pytest.fixture
def call(monkeypatch: pytest.MonkeyPatch) -> Iterator[Call]:
    with mocked_tables(monkeypatch, {"jobs": "JobsJobsTable",
                                      "notes": "NotesNotesTable",
                                      "idem": "StorageIdempotencyTable"}):
        queue = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="jobs")["QueueUrl"]
        env = {"JOBS_TABLE": "jobs", "NOTES_TABLE": "notes", "IDEMPOTENCY_TABLE": "idem", "JOB_QUEUE_URL": queue,
               "CURSOR_SIGNING_KEY": "test-key", "AWS_REGION": "us-east-1", "TENANT_JOB_CONCURRENCY": "1"}

        def invoke(method: str, path: str, body: Any = None, *, user: str = "u1", tenant: str = "t1",
                   headers: dict[str, str] | None = None, query: str = "") -> tuple[int, dict[str, str], Any]:
            seed_membership(tenant, user)
            event = http_event(method, path, body=body, claims=claims_for(tenant, user), headers=headers,
                               query=query)
            with function_environment(env):
                response = handler(event, lambda_context("jobs"))
            return response["statusCode"], response.get("headers", {}), response_json(response)

        yield invoke


SUMMARY = {"type": "summarize", "params": {"text": "Enough words to summarise, twice over. Really."}}


def test_submit_is_202_with_location_and_idempotent(call: Call) -> None:
    status, headers, job = call("POST", "/jobs", SUMMARY, headers={"Idempotency-Key": "k1"})
    assert status == 202 and headers["location"] == f"/jobs/{job['id']}"
    assert job["status"] == "queued" and job["progress"] == 0
    again_status, _, again = call("POST", "/jobs", SUMMARY, headers={"Idempotency-Key": "k1"})
    assert again_status == 202 and again["id"] == job["id"]  # the same job, not a second one
    other = {**SUMMARY, "priority": "high"}
    conflict_status, conflict_headers, _ = call("POST", "/jobs", other, headers={"Idempotency-Key": "k1"})
    assert conflict_status == 422  # the same key with a different request
    assert conflict_headers["content-type"].startswith("application/problem+json")
    items = call("GET", "/jobs")[2]["items"]
    assert [j["id"] for j in items] == [job["id"]]


def test_bad_params_list_every_schema_error(call: Call) -> None:
    status, headers, problem = call("POST", "/jobs", {"type": "summarize", "params": {"length": "epic", "x": 1}})
    assert status == 422 and headers["content-type"].startswith("application/problem+json")
    assert len(problem["errors"]) >= 2 and problem["params_schema"]["type"] == "object"
    status, _, problem = call("POST", "/jobs", {"type": "translate", "params": {}})
    assert status == 422 and "summarize" in problem["known_types"]
    status, _, _ = call("POST", "/jobs", {**SUMMARY, "priority": "urgent"})
    assert status == 422
    status, _, _ = call("POST", "/jobs", {**SUMMARY, "result": {"kind": "note", "notebook_id": "nb-nobody"}})
    assert status == 404
    assert call("GET", "/jobs")[2]["items"] == []  # nothing was lost or half-made


def test_jobs_are_private_to_their_owner(call: Call) -> None:
    job = call("POST", "/jobs", SUMMARY)[2]
    for method, path in (("GET", f"/jobs/{job['id']}"), ("POST", f"/jobs/{job['id']}/cancel"),
                         ("GET", f"/jobs/{job['id']}/events")):
        assert call(method, path, user="u2")[0] == 404
        assert call(method, path, tenant="t2")[0] == 404
    assert call("GET", "/jobs", user="u2")[2]["items"] == []
    assert call("GET", "/jobs/dead-letters")[0] == 403  # a member, not an admin


def test_list_pages_newest_first_and_filters(call: Call) -> None:
    ids = [call("POST", "/jobs", SUMMARY)[2]["id"] for _ in range(5)]
    call("POST", f"/jobs/{ids[-1]}/cancel")
    first = call("GET", "/jobs", query="limit=2")[2]
    second = call("GET", "/jobs", query=f"limit=2&cursor={first['next_cursor']}")[2]
    assert [j["id"] for j in first["items"] + second["items"]] == ids[::-1][:4]
    cancelled = call("GET", "/jobs", query="status=cancelled")[2]["items"]
    assert [j["id"] for j in cancelled] == [ids[-1]]
    assert call("GET", "/jobs", query=f"limit=2&cursor={first['next_cursor']}", user="u2")[0] == 400


def test_types_are_listed_with_their_schemas(call: Call) -> None:
    types = {t["name"]: t for t in call("GET", "/jobs/types")[2]}
    assert {"summarize", "content", "research", "analyze"} <= set(types)
    assert types["analyze"]["params_schema"]["properties"]["file_id"]
