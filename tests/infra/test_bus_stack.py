"""The bus context in the synthesized template: its tables and bucket, the append-only audit trail, the inbox and
topic grants on the bus's prefix, the hosted agents' inbox and the offline sweep's schedule."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.conftest import Synthesized
from tests.infra.test_files_stack import rendered_grants
from tests.infra.test_stack import props, render

PATHS = {
    "table": "Bus/BusTable", "audit": "Bus/BusAuditTable", "bucket": "Bus/PayloadsBucket",
    "inbox": "Bus/HostedInbox", "inbox_dlq": "Bus/HostedInboxDlq", "schedule": "Bus/OfflineSweepSchedule",
    "agents_fn": "Bus/BusAgents/Function", "messages_fn": "Bus/BusMessages/Function",
    "contexts_fn": "Bus/BusContexts/Function", "streams_fn": "Bus/BusStreams/Function",
    "sweep_fn": "Bus/OfflineSweep/Function", "hosted_fn": "Bus/HostedAgents/Function",
}
API_FUNCTIONS = ("agents_fn", "messages_fn", "contexts_fn", "streams_fn")


@pytest.fixture(scope="module")
def ids(synth_ok: Synthesized) -> dict[str, str]:
    return {name: synth_ok.logical_id(path) for name, path in PATHS.items()}


def test_the_bus_table_has_its_three_indexes_and_expires_items(template_json: dict[str, Any],
                                                               ids: dict[str, str]) -> None:
    table = props(template_json, ids["table"])
    assert sorted(i["IndexName"] for i in table["GlobalSecondaryIndexes"]) == ["GSI1", "GSI2", "GSI3"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_epoch", "Enabled": True}
    assert sorted(i["IndexName"] for i in props(template_json, ids["audit"])["GlobalSecondaryIndexes"]) == [
        "GSI1", "GSI2"]


def test_no_function_may_change_or_delete_an_audit_record(template_json: dict[str, Any],
                                                          ids: dict[str, str]) -> None:
    audit = render({"Fn::GetAtt": [ids["audit"], "Arn"]})
    for function in ids:
        if not function.endswith("_fn"):
            continue
        actions = {action for action, resource in rendered_grants(template_json, ids[function])
                   if resource.startswith(audit)}
        assert actions <= {"dynamodb:PutItem", "dynamodb:Query"}, (function, actions)
        if function in API_FUNCTIONS:
            assert actions == {"dynamodb:PutItem", "dynamodb:Query"}, function


def test_inboxes_and_topics_are_granted_on_the_bus_prefix_only(template_json: dict[str, Any],
                                                               ids: dict[str, str]) -> None:
    for function in ("agents_fn", "messages_fn"):
        grants = rendered_grants(template_json, ids[function])
        sqs = {resource for action, resource in grants if action.startswith("sqs:") and "HostedInbox" not in resource}
        sns = {resource for action, resource in grants if action.startswith("sns:")}
        assert sqs == {"arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:crewhouse-bus-*"}, sqs
        assert sns == {"arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:crewhouse-bus-*"}, sns
    for function in ("contexts_fn", "streams_fn", "sweep_fn"):
        assert not {a for a, _ in rendered_grants(template_json, ids[function]) if a.startswith(("sqs:Create", "sns:"))}


def test_payloads_bucket_frees_interrupted_uploads_after_a_day(template_json: dict[str, Any],
                                                               ids: dict[str, str]) -> None:
    bucket = props(template_json, ids["bucket"])
    rules = bucket["LifecycleConfiguration"]["Rules"]
    assert {"AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}, "Status": "Enabled"} in rules
    assert bucket["PublicAccessBlockConfiguration"]["BlockPublicAcls"] is True


def test_the_offline_sweep_runs_every_minute(template_json: dict[str, Any], ids: dict[str, str]) -> None:
    schedule = props(template_json, ids["schedule"])
    assert schedule["ScheduleExpression"] == "rate(1 minute)"
    assert render(schedule["Target"]["Arn"]) == render({"Fn::GetAtt": [ids["sweep_fn"], "Arn"]})
    grants = rendered_grants(template_json, ids["sweep_fn"])
    assert {a for a, _ in grants if a.startswith("dynamodb:")} == {"dynamodb:Query", "dynamodb:UpdateItem"}


def test_hosted_agents_read_their_inbox_with_partial_batch_failures(template_json: dict[str, Any],
                                                                   ids: dict[str, str]) -> None:
    mappings = [r["Properties"] for r in template_json["Resources"].values()
                if r["Type"] == "AWS::Lambda::EventSourceMapping"
                and render(r["Properties"]["FunctionName"]) == render({"Ref": ids["hosted_fn"]})]
    assert len(mappings) == 1 and mappings[0]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert render(props(template_json, ids["inbox"])["RedrivePolicy"]["deadLetterTargetArn"]) == render(
        {"Fn::GetAtt": [ids["inbox_dlq"], "Arn"]})


def test_payloads_of_contexts_with_a_ttl_expire_by_their_tag(template_json: dict[str, Any],
                                                            ids: dict[str, str]) -> None:
    from crewhouse.bus.contexts import EXPIRY_CLASSES_DAYS, EXPIRY_TAG, expiry_class

    rules = props(template_json, ids["bucket"])["LifecycleConfiguration"]["Rules"]
    by_tag = {rule["TagFilters"][0]["Value"]: rule["ExpirationInDays"] for rule in rules if rule.get("TagFilters")}
    assert {rule["TagFilters"][0]["Key"] for rule in rules if rule.get("TagFilters")} == {EXPIRY_TAG}
    assert by_tag == {str(days): days for days in EXPIRY_CLASSES_DAYS}
    for ttl in (60, 86_400, 86_401, 30 * 86_400, 31_536_000):  # every TTL a context may have has a rule
        assert int(str(expiry_class(ttl))) * 86_400 >= ttl and str(expiry_class(ttl)) in by_tag
