"""The notifications context in the synthesized template (nested stack ``Notifications``): its table with the
unread index, one EventBridge rule a source to the consumer with a dead-letter queue, the schedule group and the
role Scheduler invokes with, the SES configuration set, the webhook channel (queue, DLQ, worker, key), and each
function's grants."""

from __future__ import annotations

import json
from typing import Any

import pytest

from crewhouse_cdk.constructs.notifications import CONFIGURATION_SET, EMAIL_EVENT_TYPES, SCHEDULE_GROUP
from tests.infra.conftest import Synthesized
from tests.infra.test_files_stack import rendered_grants
from tests.infra.test_stack import props, render, resources

ROOT = "Notifications/Notifications"
PATHS = {"table": f"{ROOT}/NotificationsTable", "api_fn": f"{ROOT}/NotificationsApi/Function",
         "consumer_fn": f"{ROOT}/EventConsumer/Function", "schedule_fn": f"{ROOT}/ScheduleDue/Function",
         "jobs_rule": f"{ROOT}/JobsEventsRule", "tasks_rule": f"{ROOT}/TasksEventsRule",
         "flows_rule": f"{ROOT}/FlowsEventsRule", "bus_rule": f"{ROOT}/BusEventsRule",
         "files_rule": f"{ROOT}/FilesEventsRule",
         "dlq": f"{ROOT}/EventsDlq", "role": f"{ROOT}/SchedulerRole",
         "webhooks_fn": f"{ROOT}/WebhooksApi/Function", "worker_fn": f"{ROOT}/WebhookWorker/Function",
         "webhook_queue": f"{ROOT}/WebhookDeliveries", "webhook_dlq": f"{ROOT}/WebhookDeliveriesDlq",
         "webhook_key": f"{ROOT}/WebhookSecretsKey"}


@pytest.fixture(scope="module")
def ids(synth_ok: Synthesized) -> dict[str, str]:
    return {name: synth_ok.logical_id(path) for name, path in PATHS.items()}


def test_the_table_has_the_sparse_unread_index(template_json: dict[str, Any], ids: dict[str, str]) -> None:
    table = props(template_json, ids["table"])
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["GSI1"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"


def test_one_rule_a_source_targets_the_consumer_with_a_dead_letter_queue(template_json: dict[str, Any],
                                                                         ids: dict[str, str]) -> None:
    for rule, source, types in (("jobs_rule", "crewhouse.jobs", ["job.succeeded", "job.failed"]),
                                ("tasks_rule", "crewhouse.tasks", ["task.reminder.due"]),
                                ("flows_rule", "crewhouse.flows", ["flow.approval_requested"]),
                                ("bus_rule", "crewhouse.bus", ["agent.offline"]),
                                ("files_rule", "crewhouse.files", ["file.retention.warning"])):
        rule_props = props(template_json, ids[rule])
        assert rule_props["EventPattern"] == {"source": [source], "detail-type": types}
        (target,) = rule_props["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [ids["consumer_fn"], "Arn"]}
        assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [ids["dlq"], "Arn"]}
        assert target["RetryPolicy"]["MaximumRetryAttempts"] == 4


def test_the_schedule_group_and_configuration_set_exist(template_json: dict[str, Any]) -> None:
    groups = [r["Properties"]["Name"] for r in resources(template_json, "AWS::Scheduler::ScheduleGroup").values()]
    assert SCHEDULE_GROUP in groups
    sets = [r["Properties"].get("Name") for r in resources(template_json, "AWS::SES::ConfigurationSet").values()]
    assert CONFIGURATION_SET in sets


def test_each_function_may_send_mail_and_schedule_only_in_its_own_group(template_json: dict[str, Any],
                                                                        ids: dict[str, str]) -> None:
    for function in ("api_fn", "consumer_fn", "schedule_fn"):
        grants = rendered_grants(template_json, ids[function])
        schedule = {r for a, r in grants if a.startswith("scheduler:")}
        assert schedule == {f"arn:${{AWS::Partition}}:scheduler:${{AWS::Region}}:${{AWS::AccountId}}:schedule/"
                            f"{SCHEDULE_GROUP}/*"}, (function, schedule)
        assert {a for a, _ in grants if a.startswith("ses:")} == {"ses:SendEmail"}
        assert ("iam:PassRole", f"${{{ids['role']}.Arn}}") in grants
    workers = rendered_grants(template_json, ids["consumer_fn"])
    assert not {a for a, r in workers if a.startswith("dynamodb:") and ("index" in r or a == "dynamodb:Scan")}


def test_push_publishes_and_registers_only_on_the_configured_platform_applications(template_json: dict[str, Any],
                                                                                  ids: dict[str, str]) -> None:
    """The embedded cloud synthesizes with its two local platform applications (crewhouse.local.push)."""
    arn = "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:"
    endpoints = {f"{arn}endpoint/GCM/crewhouse-local-fcm/*", f"{arn}endpoint/APNS/crewhouse-local-apns/*"}
    applications = {f"{arn}app/GCM/crewhouse-local-fcm", f"{arn}app/APNS/crewhouse-local-apns"}
    for name in ("api_fn", "consumer_fn", "schedule_fn"):
        sns = {(a, r) for a, r in rendered_grants(template_json, ids[name]) if a.startswith("sns:")}
        expected = {(a, r) for a in ("sns:Publish", "sns:DeleteEndpoint") for r in endpoints}
        if name == "api_fn":  # device registration
            expected |= {("sns:CreatePlatformEndpoint", r) for r in applications}
        assert sns == expected, name
        variables = props(template_json, ids[name])["Environment"]["Variables"]
        assert {render(variables[v]) for v in ("PUSH_FCM_APPLICATION_ARN", "PUSH_APNS_APPLICATION_ARN")} == (
            applications)
    for name in ("webhooks_fn", "worker_fn"):
        assert not {a for a, _ in rendered_grants(template_json, ids[name]) if a.startswith("sns:")}


def test_the_webhook_queue_is_encrypted_tls_only_with_a_dead_letter_queue_and_feeds_the_worker(
        template_json: dict[str, Any], ids: dict[str, str]) -> None:
    queue = props(template_json, ids["webhook_queue"])
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": [ids["webhook_dlq"], "Arn"]},
                                      "maxReceiveCount": 5}
    assert queue["VisibilityTimeout"] == 360
    assert props(template_json, ids["webhook_dlq"])["SqsManagedSseEnabled"] is True
    policies = [r["Properties"] for r in resources(template_json, "AWS::SQS::QueuePolicy").values()]
    for queue_id in (ids["webhook_queue"], ids["webhook_dlq"]):
        (policy,) = [p for p in policies if {"Ref": queue_id} in p["Queues"]]
        (deny,) = policy["PolicyDocument"]["Statement"]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    (mapping,) = [r["Properties"] for r in resources(template_json, "AWS::Lambda::EventSourceMapping").values()
                  if r["Properties"].get("EventSourceArn") == {"Fn::GetAtt": [ids["webhook_queue"], "Arn"]}]
    assert mapping["FunctionName"] == {"Ref": ids["worker_fn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"] and mapping["BatchSize"] == 4
    key = props(template_json, ids["webhook_key"])
    assert key["EnableKeyRotation"] is True
    assert props(template_json, ids["table"])["TimeToLiveSpecification"] == {"AttributeName": "expires_epoch",
                                                                          "Enabled": True}


def test_only_the_webhooks_api_and_worker_use_the_key_and_only_with_the_encryption_context(
        template_json: dict[str, Any], ids: dict[str, str]) -> None:
    key = f"${{{ids['webhook_key']}.Arn}}"
    uses = {name: {a for a, r in rendered_grants(template_json, ids[name]) if a.startswith("kms:")}
            for name in ("api_fn", "consumer_fn", "schedule_fn", "webhooks_fn", "worker_fn")}
    assert uses == {"api_fn": set(), "consumer_fn": set(), "schedule_fn": set(),
                    "webhooks_fn": {"kms:Encrypt", "kms:Decrypt"}, "worker_fn": {"kms:Decrypt"}}
    for name in ("webhooks_fn", "worker_fn"):
        assert {r for a, r in rendered_grants(template_json, ids[name]) if a.startswith("kms:")} == {key}
    statements = [s for r in resources(template_json, "AWS::IAM::Policy").values()
                  for s in r["Properties"]["PolicyDocument"]["Statement"]
                  if any(str(a).startswith("kms:") for a in ([s["Action"]] if isinstance(s["Action"], str)
                                                            else s["Action"]))
                  and s.get("Resource") == {"Fn::GetAtt": [ids["webhook_key"], "Arn"]}]
    assert len(statements) == 2
    for statement in statements:
        assert statement["Condition"] == {"Null": {f"kms:EncryptionContext:{k}": "false"
                                                   for k in ("tenant_id", "user_id", "webhook_id")}}


def test_whoever_delivers_a_notification_may_queue_webhook_deliveries_and_the_worker_needs_no_more(
        template_json: dict[str, Any], ids: dict[str, str]) -> None:
    queue = f"${{{ids['webhook_queue']}.Arn}}"
    for name in ("api_fn", "consumer_fn", "schedule_fn", "webhooks_fn", "worker_fn"):
        assert ("sqs:SendMessage", queue) in rendered_grants(template_json, ids[name]), name
    worker = rendered_grants(template_json, ids["worker_fn"])
    assert {a for a, _ in worker if a.startswith("dynamodb:")} == {"dynamodb:GetItem", "dynamodb:PutItem",
                                                                   "dynamodb:UpdateItem"}
    assert not {a for a, _ in worker if a.startswith(("ses:", "scheduler:", "iam:"))}


def test_the_consumer_reads_an_agents_registrant_and_an_executions_starter_by_key_only(
        synth_ok: Synthesized, template_json: dict[str, Any], ids: dict[str, str]) -> None:
    tables = {name: synth_ok.logical_id(path) for name, path in (("bus", "Bus/BusTable"),
                                                                   ("flows", "Crews/Flows/FlowsTable"))}
    grants = rendered_grants(template_json, ids["consumer_fn"])
    for table in tables.values():
        assert {a for a, r in grants if r.startswith(f"${{{table}.")} == {"dynamodb:GetItem"}, table
    environment = props(template_json, ids["consumer_fn"])["Environment"]["Variables"]
    assert environment["BUS_TABLE"] == {"Ref": tables["bus"]}
    assert environment["FLOWS_TABLE"] == {"Ref": tables["flows"]}
    for name in ("api_fn", "schedule_fn"):
        assert "BUS_TABLE" not in props(template_json, ids[name])["Environment"]["Variables"]


def test_ses_publishes_deliveries_bounces_and_complaints_to_the_default_bus_for_the_email_events_function(
        synth_ok: Synthesized, template_json: dict[str, Any]) -> None:
    (destination,) = [r["Properties"] for r in
                      resources(template_json, "AWS::SES::ConfigurationSetEventDestination").values()]
    assert destination["ConfigurationSetName"] == {"Ref": synth_ok.logical_id(f"{ROOT}/EmailConfigurationSet")}
    event_destination = destination["EventDestination"]
    assert sorted(event_destination["MatchingEventTypes"]) == ["bounce", "complaint", "delivery"]
    assert event_destination["Enabled"] is True
    assert "event-bus/default" in json.dumps(event_destination["EventBridgeDestination"]["EventBusArn"])
    rule = props(template_json, synth_ok.logical_id(f"{ROOT}/EmailEventsRule"))
    assert rule.get("EventBusName", "default") == "default"
    assert rule["EventPattern"] == {"source": ["aws.ses"], "detail-type": list(EMAIL_EVENT_TYPES),
                                    "detail": {"mail": {"tags": {"ses:configuration-set": [CONFIGURATION_SET]}}}}
    function = synth_ok.logical_id(f"{ROOT}/EmailEvents/Function")
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function, "Arn"]}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [synth_ok.logical_id(f"{ROOT}/EventsDlq"), "Arn"]}
    table = synth_ok.logical_id(f"{ROOT}/NotificationsTable")
    assert rendered_grants(template_json, function) == {("dynamodb:GetItem", f"${{{table}.Arn}}"),
                                                        ("dynamodb:UpdateItem", f"${{{table}.Arn}}")}
    assert props(template_json, function)["Handler"] == "crewhouse.notifications.workers.on_email_event"
