"""SLOs as multi-window, multi-burn-rate alarms (issue 21, constructs/slo.py): per SLO a fast and a slow page, each
a composite of a long- and a short-window burn-rate alarm on the right metrics with the documented thresholds; the
pages notify the alarms topic and name a runbook section that exists; the dashboard has the business row."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from crewhouse.core.business_metrics import API_CONTEXTS, BusinessMetric
from crewhouse_cdk.constructs.slo import (
    AVAILABILITY_OBJECTIVE,
    FAST,
    JOB_SUCCESS_OBJECTIVE,
    LATENCY_OBJECTIVE,
    LATENCY_THRESHOLD_MS,
    LATENCY_THRESHOLD_MS_OF,
    SLOW,
    BurnWindow,
    _pascal,
)
from tests.infra.test_alerting import alarms_topic, runbook_anchors
from tests.infra.test_stack import resources

SLOS = [*(f"Availability{_pascal(c)}" for c in API_CONTEXTS), *(f"Latency{_pascal(c)}" for c in API_CONTEXTS),
        "JobSuccess"]


def one(template_json: dict[str, Any], resource_type: str, name: str) -> tuple[str, dict[str, Any]]:
    (found,) = [(k, r["Properties"]) for k, r in resources(template_json, resource_type).items()
                if re.fullmatch(rf"Objectives{name}[0-9A-F]{{8}}", k)]
    return found


def metric_stats(alarm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {query["Id"]: query["MetricStat"] for query in alarm["Metrics"] if "MetricStat" in query}


def expression(alarm: dict[str, Any]) -> str:
    (found,) = [query["Expression"] for query in alarm["Metrics"] if "Expression" in query]
    return str(found)


def test_the_documented_windows_are_the_workbooks() -> None:
    assert (FAST.long.to_minutes(), FAST.short.to_minutes(), FAST.burn) == (60, 5, 14.4)
    assert (SLOW.long.to_minutes(), SLOW.short.to_minutes(), SLOW.burn) == (360, 30, 6.0)


@pytest.mark.parametrize("window", [FAST, SLOW], ids=lambda w: w.name)
@pytest.mark.parametrize("slo", SLOS)
def test_each_slo_pages_fast_and_slow_when_both_windows_burn(template_json: dict[str, Any], slo: str,
                                                             window: BurnWindow) -> None:
    topic, anchors = {"Ref": alarms_topic(template_json)}, runbook_anchors()
    _, page = one(template_json, "AWS::CloudWatch::CompositeAlarm", f"{slo}{window.name}Burn")
    assert topic in page["AlarmActions"] and topic in page["OKActions"]
    named = re.search(r"Runbook: docs/runbooks\.md#([a-z0-9-]+)$", page["AlarmDescription"])
    assert named and named.group(1) in anchors and named.group(1).startswith("slo-")
    rule = json.dumps(page["AlarmRule"])
    for span, period in (("Long", window.long), ("Short", window.short)):
        logical_id, alarm = one(template_json, "AWS::CloudWatch::Alarm", f"{slo}{window.name}{span}")
        assert logical_id in rule and " AND " in rule
        assert alarm["Threshold"] == window.burn and alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["ActionsEnabled"] is False  # only the composite pages
        assert alarm["TreatMissingData"] == "notBreaching"
        assert all(stat["Period"] == period.to_seconds() for stat in metric_stats(alarm).values())
        assert named.group(0) in alarm["AlarmDescription"]


@pytest.mark.parametrize("context", API_CONTEXTS)
def test_the_api_slos_read_the_contexts_request_metrics(template_json: dict[str, Any], context: str) -> None:
    dimensions = [{"Name": "context", "Value": context}, {"Name": "service", "Value": "crewhouse"}]
    _, availability = one(template_json, "AWS::CloudWatch::Alarm", f"Availability{_pascal(context)}FastLong")
    stats = metric_stats(availability)
    assert expression(availability) == f"errors / requests / {1 - AVAILABILITY_OBJECTIVE:.4g}"
    assert (stats["errors"]["Metric"]["MetricName"], stats["errors"]["Stat"]) == ("ApiServerErrors", "Sum")
    assert (stats["requests"]["Metric"]["MetricName"], stats["requests"]["Stat"]) == ("ApiRequests", "Sum")
    assert all(sorted(s["Metric"]["Dimensions"], key=lambda d: d["Name"]) == dimensions for s in stats.values())
    assert all(s["Metric"]["Namespace"] == "Crewhouse" for s in stats.values())

    _, latency = one(template_json, "AWS::CloudWatch::Alarm", f"Latency{_pascal(context)}SlowShort")
    (within,) = metric_stats(latency).values()
    threshold = LATENCY_THRESHOLD_MS_OF.get(context, LATENCY_THRESHOLD_MS)
    assert (within["Metric"]["MetricName"], within["Stat"]) == ("ApiLatency", f"PR(:{threshold})")
    assert expression(latency) == f"(100 - within) / 100 / {1 - LATENCY_OBJECTIVE:.4g}"


def test_job_success_reads_the_jobs_terminal_statuses(template_json: dict[str, Any]) -> None:
    _, alarm = one(template_json, "AWS::CloudWatch::Alarm", "JobSuccessFastShort")
    stats = metric_stats(alarm)
    assert {k: (s["Metric"]["MetricName"], s["Stat"]) for k, s in stats.items()} == {
        "failed": ("JobsFailed", "Sum"), "succeeded": ("JobsSucceeded", "Sum")}
    assert expression(alarm) == (f"FILL(failed, 0) / (FILL(failed, 0) + FILL(succeeded, 0)) / "
                                 f"{1 - JOB_SUCCESS_OBJECTIVE:.4g}")
    assert all({"Name": "context", "Value": "jobs"} in s["Metric"]["Dimensions"] for s in stats.values())


def test_the_slos_live_in_a_nested_stack_of_their_own(template_paths: list[Any]) -> None:
    (slo_template,) = [json.loads(p.read_text()) for p in template_paths if "Slo" in p.name]
    kinds = {r["Type"] for r in slo_template["Resources"].values()}
    assert kinds == {"AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm"}
    assert len(slo_template["Resources"]) == len(SLOS) * 2 * 3


def test_the_dashboard_has_the_business_row(template_json: dict[str, Any]) -> None:
    (dashboard,) = [r["Properties"] for k, r in resources(template_json, "AWS::CloudWatch::Dashboard").items()
                    if k.startswith("MonitoringDashboard")]
    body = json.dumps(dashboard["DashboardBody"])
    for title in ("Tasks and notes", "Files uploaded", "Jobs", "Chat"):
        assert f'\\"title\\":\\"{title}\\"' in body, title
    for metric in BusinessMetric:
        assert f'\\"{metric.value}\\"' in body, metric
