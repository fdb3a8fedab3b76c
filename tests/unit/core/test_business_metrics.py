"""Business metrics and API-request metrics as EMF records: names, units, dimensions (service and context, never
the tenant), the tenant as a property; the shared HTTP handler's request metrics and their context."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter

from crewhouse.core.business_metrics import (
    API_CONTEXTS,
    API_LATENCY,
    API_REQUESTS,
    API_SERVER_ERRORS,
    CONTEXT_OF,
    NAMESPACE,
    BusinessMetric,
    record,
    record_request,
)
from crewhouse.core.http import context_of, create_app, lambda_handler
from crewhouse.core.observability import metrics

FUNCTIONS = Path(__file__).resolve().parents[3] / "functions"


def emf_records(output: str) -> list[dict[str, Any]]:
    return [record for line in output.splitlines() if line.startswith("{")
            and "_aws" in (record := json.loads(line))]


def metric_definition(record: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == NAMESPACE
    (dimension_set,) = directive["Dimensions"]
    return dimension_set, directive["Metrics"]


def test_a_business_fact_is_one_record_with_service_and_context_dimensions_and_the_tenant_as_a_property(
        capsys: pytest.CaptureFixture[str]) -> None:
    record(BusinessMetric.TASKS_CREATED, "tenant-1")
    (emf,) = emf_records(capsys.readouterr().out)
    dimension_set, definitions = metric_definition(emf)
    assert sorted(dimension_set) == ["context", "service"]
    assert definitions == [{"Name": "TasksCreated", "Unit": "Count"}]
    assert (emf["TasksCreated"], emf["service"], emf["context"], emf["tenant_id"]) == ([1.0], "crewhouse", "tasks",
                                                                                       "tenant-1")


def test_every_business_metric_has_a_context() -> None:
    assert set(CONTEXT_OF) == set(BusinessMetric)


def test_job_duration_record(capsys: pytest.CaptureFixture[str]) -> None:
    record(BusinessMetric.JOB_DURATION, "tenant-2", 1234.5)
    (emf,) = emf_records(capsys.readouterr().out)
    _, definitions = metric_definition(emf)
    assert definitions == [{"Name": "JobDuration", "Unit": "Milliseconds"}]
    assert (emf["JobDuration"], emf["context"], emf["tenant_id"]) == ([1234.5], "jobs", "tenant-2")


def test_nothing_is_written_when_metrics_are_disabled(capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    record(BusinessMetric.CHAT_TURNS, "tenant-1")
    record_request("tasks", 200, 12.0)  # nor gathered: a disabled flush would never clear it
    assert emf_records(capsys.readouterr().out) == [] and not metrics.metric_set


def http_event(path: str) -> dict[str, Any]:
    return {"version": "2.0", "routeKey": f"GET {path}", "rawPath": path, "rawQueryString": "", "headers": {},
            "requestContext": {"http": {"method": "GET", "path": path, "sourceIp": "127.0.0.1", "protocol": "HTTP/1.1"},
                               "stage": "$default", "requestId": "r1", "accountId": "1", "apiId": "a",
                               "domainName": "x", "timeEpoch": 0}, "isBase64Encoded": False}


class Context:
    function_name, memory_limit_in_mb, aws_request_id = "test", 128, "r1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"


def test_the_http_handler_counts_each_request_its_5xx_and_latency_under_its_context(
        capsys: pytest.CaptureFixture[str]) -> None:
    router = APIRouter()

    @router.get("/fine")
    def fine() -> dict[str, str]:
        return {"ok": "yes"}

    @router.get("/broken")
    def broken() -> dict[str, str]:
        raise RuntimeError("boom")

    handler = lambda_handler(create_app("test", [router]), "crewhouse.tasks.api.writes")
    answers = [handler(http_event(path), Context())["statusCode"] for path in ("/fine", "/broken")]
    assert answers == [200, 500]
    records = [r for r in emf_records(capsys.readouterr().out) if API_REQUESTS in r]
    assert [(r[API_REQUESTS], r[API_SERVER_ERRORS]) for r in records] == [([1.0], [0.0]), ([1.0], [1.0])]
    for emf in records:
        dimension_set, definitions = metric_definition(emf)
        assert sorted(dimension_set) == ["context", "service"] and emf["context"] == "tasks"  # its module
        assert {d["Name"]: d["Unit"] for d in definitions} == {API_REQUESTS: "Count", API_SERVER_ERRORS: "Count",
                                                               API_LATENCY: "Milliseconds"}
        assert emf[API_LATENCY][0] >= 0


def test_each_http_handler_module_names_a_context_the_slos_cover() -> None:
    modules = [path.relative_to(FUNCTIONS).with_suffix("").as_posix().replace("/", ".")
               for path in FUNCTIONS.rglob("*.py")
               if re.search(r"^handler = lambda_handler\(app, __name__\)$", path.read_text(), flags=re.MULTILINE)]
    assert len(modules) > 20
    assert {context_of(module) for module in modules} == set(API_CONTEXTS)
    assert context_of("crewhouse.tasks.api.writes") == "tasks" and context_of("crewhouse.mcp.api") == "mcp"
