"""The tool registry Lambda in-process against moto: CRUD with If-Match and Idempotency-Key, every definition
problem at once, write-only secrets in Secrets Manager, tenancy and roles, the builtin catalog and dry runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from crewhouse.tool_registry.api import handler
from tests.support.mock import mocked_aws
from tests.support.tool_registry import Call, as_member, create_registry_resources, json_answer, local_endpoint

CODE = "def run(input):\n    return {'sum': input['a'] + input['b']}\n"
ADD_SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
              "required": ["a", "b"]}
SUM_SCHEMA = {"type": "object", "properties": {"sum": {"type": "integer"}}, "required": ["sum"]}
LOCAL = {"CREWHOUSE_LOCAL": "true"}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mocked_aws(monkeypatch):
        yield create_registry_resources()


@pytest.fixture
def alice(aws: Any) -> Call:
    return as_member(handler, "alice", env=LOCAL)


def code_tool(**fields: Any) -> dict[str, Any]:
    return {"name": "add", "description": "Adds two numbers", "kind": "code", "input_schema": ADD_SCHEMA,
            "output_schema": SUM_SCHEMA, "config": {"source": CODE}, **fields}


def create(call: Call, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    status, created, headers = call("POST", "/tools", body, **kwargs)
    assert status == 201, created
    assert headers["etag"] == '"1"' and headers["location"] == f"/tools/{created['id']}"
    return dict(created)


def test_create_read_list_update_with_if_match_and_delete(alice: Call) -> None:
    created = create(alice, code_tool())
    assert created["kind"] == "code" and created["version"] == 1 and created["has_secret"] is False
    assert created["config"] == {"source": CODE, "entry": "run", "timeout_seconds": 5.0, "memory_mb": 256}
    tool_id = created["id"]
    status, read, headers = alice("GET", f"/tools/{tool_id}")
    assert status == 200 and read == created and headers["etag"] == '"1"'

    status, stale, _ = alice("PUT", f"/tools/{tool_id}", {"description": "x"}, headers={"If-Match": '"7"'})
    assert status == 412, stale
    status, updated, headers = alice("PUT", f"/tools/{tool_id}", {"description": "Adds a and b"},
                                     headers={"If-Match": '"1"'})
    assert status == 200 and updated["version"] == 2 and headers["etag"] == '"2"'
    assert updated["description"] == "Adds a and b" and updated["input_schema"] == ADD_SCHEMA

    status, page, _ = alice("GET", "/tools")
    assert status == 200 and [t["id"] for t in page["items"]] == [tool_id]
    status, stale, _ = alice("DELETE", f"/tools/{tool_id}", headers={"If-Match": '"1"'})
    assert status == 412
    status, _, _ = alice("DELETE", f"/tools/{tool_id}", headers={"If-Match": '"2"'})
    assert status == 204
    status, missing, _ = alice("GET", f"/tools/{tool_id}")
    assert status == 404 and missing["type"].endswith("/tool-not-found")


def test_every_problem_of_a_definition_is_named_at_once(alice: Call) -> None:
    body = {"name": "broken", "kind": "http", "input_schema": {"type": "objekt", "properties": 5},
            "output_schema": {"minLength": "three"},
            "config": {"method": "FETCH", "url": "https://api.example.com/{city}", "auth": {"scheme": "bearer"}}}
    status, problem, _ = alice("POST", "/tools", body)
    assert status == 422, problem
    paths = {e["path"] for e in problem["errors"]}
    assert {"body.input_schema.type", "body.input_schema.properties", "body.output_schema.minLength",
            "body.config.method", "body.secret"} <= paths, paths
    status, problem, _ = alice("POST", "/tools", code_tool(config={"source": "def go(x):\n  return x\n"}))
    assert status == 422 and [e["path"] for e in problem["errors"]] == ["body.config.entry"]
    status, problem, _ = alice("POST", "/tools", code_tool(config={"source": "def run(:"}))
    assert status == 422 and problem["errors"][0]["path"] == "body.config.source"


def test_names_are_unique_in_a_tenant_and_safe_for_converse(alice: Call) -> None:
    create(alice, code_tool())
    status, problem, _ = alice("POST", "/tools", code_tool())
    assert status == 409 and problem["type"].endswith("/tool-name-taken")
    status, problem, _ = alice("POST", "/tools", code_tool(name="add numbers!"))
    assert status == 422 and problem["errors"][0]["path"] == "body.name"
    bob_elsewhere = as_member(handler, "bob", tenant="t2", env=LOCAL)
    create(bob_elsewhere, code_tool())  # the same name in another tenant


def test_list_pages_with_signed_cursors_and_filters_by_kind(alice: Call) -> None:
    for index in range(3):
        create(alice, code_tool(name=f"code{index}"))
    create(alice, {"name": "tasks", "kind": "builtin", "config": {"tool": "get_tasks"}})
    status, first, _ = alice("GET", "/tools", query="limit=2")
    assert status == 200 and len(first["items"]) == 2 and first["next_cursor"]
    status, second, _ = alice("GET", "/tools", query=f"limit=2&cursor={first['next_cursor']}")
    assert status == 200
    assert [t["name"] for t in first["items"] + second["items"]] == ["tasks", "code0", "code1", "code2"]
    status, codes, _ = alice("GET", "/tools", query="kind=code")
    assert [t["kind"] for t in codes["items"]] == ["code"] * 3
    status, _, _ = alice("GET", "/tools", query=f"kind=code&cursor={first['next_cursor']}")
    assert status == 400  # a cursor is bound to its list's filters
    status, _refused, _ = alice("GET", "/tools", query="kind=shell")
    assert status == 422


def test_an_idempotency_key_replays_the_first_answer(alice: Call) -> None:
    first = create(alice, code_tool(), headers={"Idempotency-Key": "tool-1"})
    again = create(alice, code_tool(), headers={"Idempotency-Key": "tool-1"})
    assert again["id"] == first["id"]
    status, _problem, _ = alice("POST", "/tools", code_tool(description="other"), headers={"Idempotency-Key": "tool-1"})
    assert status == 422


def test_an_http_tools_secret_is_write_only_and_kept_in_secrets_manager(alice: Call) -> None:
    seen = []
    with local_endpoint(json_answer({"temperature": 21.5})) as (base, recorded):
        body = {"name": "weather", "kind": "http",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                "output_schema": {"type": "object", "required": ["temperature"],
                                  "properties": {"temperature": {"type": "number"}}},
                "config": {"url": f"{base}/weather/{{city}}", "auth": {"scheme": "bearer"}},
                "secret": "tok-123"}
        created = create(alice, body)
        assert created["has_secret"] is True and created["secret_set_at"]
        assert "tok-123" not in str(created)
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        name = f"crewhouse/tools/t1/{created['id']}"
        assert secrets.get_secret_value(SecretId=name)["SecretString"] == "tok-123"
        status, read, _ = alice("GET", f"/tools/{created['id']}")
        assert "tok-123" not in str(read) and read["has_secret"] is True

        status, result, _ = alice("POST", f"/tools/{created['id']}/validate", {"input": {"city": "São Paulo/x"}})
        assert status == 200 and result["ok"] and result["executed"], result
        assert result["output"] == {"temperature": 21.5} and result["output_matches"] is True
        seen = recorded.requests
        assert seen[0]["path"] == "/weather/S%C3%A3o%20Paulo%2Fx"
        assert seen[0]["headers"]["authorization"] == "Bearer tok-123"

        status, updated, _ = alice("PUT", f"/tools/{created['id']}", {"secret": "tok-456"})
        assert status == 200 and "tok-456" not in str(updated)
        assert secrets.get_secret_value(SecretId=name)["SecretString"] == "tok-456"
        status, _, _ = alice("DELETE", f"/tools/{created['id']}")
        assert status == 204
        with pytest.raises(secrets.exceptions.ResourceNotFoundException):
            secrets.get_secret_value(SecretId=name)


def test_a_dry_run_reports_output_that_breaks_the_output_schema(alice: Call) -> None:
    with local_endpoint(json_answer({"temperature": "warm"})) as (base, _):
        created = create(alice, {"name": "weather", "kind": "http", "config": {"url": f"{base}/now"},
                                 "output_schema": {"type": "object",
                                                   "properties": {"temperature": {"type": "number"}}}})
        status, result, _ = alice("POST", f"/tools/{created['id']}/validate")
    assert status == 200 and result["executed"] and not result["ok"] and result["output_matches"] is False
    assert result["input_generated"] and result["input"] == {}
    assert result["output_problems"][0]["path"] == "output.temperature"


def test_private_and_loopback_addresses_are_refused(aws: Any) -> None:
    prod = as_member(handler, "carol")  # not local mode: loopback refused too
    for url in ("https://10.0.0.8/x", "http://127.0.0.1:8080/x", "https://169.254.169.254/latest/meta-data"):
        status, problem, _ = prod("POST", "/tools", {"name": "x", "kind": "http", "config": {"url": url}})
        assert status == 422 and problem["errors"][0]["path"] == "body.config.url", (url, problem)
    created = create(prod, {"name": "host", "kind": "http", "config": {"url": "https://{host}/x"},
                            "input_schema": {"type": "object", "properties": {"host": {"type": "string"}}}})
    for host in ("10.1.2.3", "192.168.0.1", "169.254.169.254", "localhost"):
        status, result, _ = prod("POST", f"/tools/{created['id']}/validate", {"input": {"host": host}})
        assert status == 200 and result["executed"] and not result["ok"], result
        assert result["error"]["error"] == "url-refused", result


def test_a_code_tool_dry_run_checks_its_output(alice: Call) -> None:
    created = create(alice, code_tool())
    status, result, _ = alice("POST", f"/tools/{created['id']}/validate", {"input": {"a": 2, "b": 3}})
    assert status == 200 and result["ok"] and result["output"] == {"sum": 5} and result["output_matches"]
    status, result, _ = alice("POST", f"/tools/{created['id']}/validate", {"input": {"a": "two"}})
    assert status == 200 and not result["executed"] and not result["ok"]
    assert {p["path"] for p in result["problems"]} == {"input", "input.a"}
    wrong = {"config": {"source": "def run(i):\n  return {'sum': 'x'}"}}
    status, _, _ = alice("PUT", f"/tools/{created['id']}", wrong)
    assert status == 200
    status, result, _ = alice("POST", f"/tools/{created['id']}/validate")
    assert result["input"] == {"a": 0, "b": 0} and result["executed"] and result["output_matches"] is False


def test_builtin_tools_are_listed_without_registering_and_registered_with_their_schemas(alice: Call) -> None:
    status, catalog, _ = alice("GET", "/tools/builtin")
    names = {t["name"] for t in catalog["items"]}
    assert status == 200 and {"create_task", "get_tasks", "search_notes"} <= names, names
    assert next(t for t in catalog["items"] if t["name"] == "create_task")["id"] == "builtin:create_task"
    created = create(alice, {"name": "new_task", "kind": "builtin", "config": {"tool": "create_task"}})
    assert "title" in created["input_schema"]["properties"] and created["output_schema"]
    status, result, _ = alice("POST", f"/tools/{created['id']}/validate", {"input": {"title": "Call the bank"}})
    assert status == 200 and result["ok"] and not result["executed"], result
    status, result, _ = alice("POST", f"/tools/{created['id']}/validate", {"input": {}})
    assert not result["ok"] and result["problems"][0]["path"] == "input.title"
    status, problem, _ = alice("POST", "/tools", {"name": "x", "kind": "builtin", "config": {"tool": "rm_rf"},
                                                   "input_schema": {"type": "object"}})
    assert status == 422 and {e["path"] for e in problem["errors"]} == {"body.config.tool", "body.input_schema"}


def test_another_tenants_tool_is_not_found_and_observers_only_read(alice: Call) -> None:
    created = create(alice, code_tool())
    tool = f"/tools/{created['id']}"
    mallory = as_member(handler, "mallory", tenant="t2", role="admin", env=LOCAL)
    for method, body in (("GET", None), ("PUT", {"description": "mine"}), ("DELETE", None),
                         ("POST", {"input": {"a": 1, "b": 2}})):
        status, problem, _ = mallory(method, tool + ("/validate" if method == "POST" else ""), body)
        assert status == 404 and problem["type"].endswith("/tool-not-found"), (method, problem)
    status, page, _ = mallory("GET", "/tools")
    assert page["items"] == []
    olga = as_member(handler, "olga", role="observer", env=LOCAL)
    assert olga("GET", tool)[0] == 200 and olga("GET", "/tools")[0] == 200
    assert olga("POST", "/tools", code_tool(name="other"))[0] == 403
    assert olga("PUT", tool, {"description": "x"})[0] == 403
    assert olga("POST", tool + "/validate", {})[0] == 403
