"""Alarms reach a person (issue 21): every alarm of the app, nested stacks included, notifies the alarms topic when
it fires and when it recovers, and names a section of docs/runbooks.md that exists; the topic is encrypted with a
key CloudWatch may use; the e-mail subscription exists only when the deploy gives an address; with a webhook secret
configured, a function posts the alarms to chat and may read that secret only."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Match, Template

from crewhouse_cdk.constructs.alerting import ALARM_EMAIL_PARAMETER, CHAT_WEBHOOK_CONTEXT, Alerting
from crewhouse_cdk.constructs.function import DependencyLayers
from tests.infra.test_stack import props, resources

RUNBOOKS = Path(__file__).resolve().parents[2] / "docs" / "runbooks.md"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:crewhouse/alarm-chat-AbCdEf"


def runbook_anchors() -> set[str]:
    return {heading.strip().lower().replace(" ", "-") for heading in
            re.findall(r"^## (.+)$", RUNBOOKS.read_text(), flags=re.MULTILINE)}


def alarms_topic(template_json: dict[str, Any]) -> str:
    (topic,) = [k for k in resources(template_json, "AWS::SNS::Topic") if k.startswith("AlertingAlarmsTopic")]
    return topic


def test_every_alarm_notifies_the_topic_and_names_a_runbook_section_that_exists(template_json: dict[str, Any]
                                                                                 ) -> None:
    topic, anchors = {"Ref": alarms_topic(template_json)}, runbook_anchors()
    alarms = resources(template_json, "AWS::CloudWatch::Alarm")
    assert len(alarms) > 60  # the parent's and both nested stacks' (folded into one template here)
    for logical_id, alarm in alarms.items():
        properties = alarm["Properties"]
        assert topic in properties.get("AlarmActions", []), logical_id
        assert topic in properties.get("OKActions", []), logical_id
        named = re.search(r"Runbook: docs/runbooks\.md#([a-z0-9-]+)$", properties["AlarmDescription"])
        assert named and named.group(1) in anchors, (logical_id, properties["AlarmDescription"])


def test_the_topic_is_encrypted_with_a_key_cloudwatch_may_use_and_refuses_plain_http(
        template_json: dict[str, Any]) -> None:
    topic = props(template_json, alarms_topic(template_json))
    key_id = topic["KmsMasterKeyId"]["Fn::GetAtt"][0]
    statements = props(template_json, key_id)["KeyPolicy"]["Statement"]
    cloudwatch = [s for s in statements if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert cloudwatch and set(cloudwatch[0]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert props(template_json, key_id)["EnableKeyRotation"] is True
    policies = [props(template_json, k) for k in resources(template_json, "AWS::SNS::TopicPolicy")]
    denies = [s for p in policies for s in p["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)


def test_the_email_subscription_follows_the_deploy_parameter(template_json: dict[str, Any]) -> None:
    parameter = template_json["Parameters"][ALARM_EMAIL_PARAMETER]
    assert parameter == {"Type": "String", "Default": "", "Description": parameter["Description"]}
    (subscription_id,) = resources(template_json, "AWS::SNS::Subscription")
    subscription = template_json["Resources"][subscription_id]
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == {"Ref": ALARM_EMAIL_PARAMETER}
    condition = template_json["Conditions"][subscription["Condition"]]
    assert condition == {"Fn::Not": [{"Fn::Equals": [{"Ref": ALARM_EMAIL_PARAMETER}, ""]}]}


def test_no_chat_function_without_a_webhook_secret_and_one_that_reads_only_it_with_one() -> None:
    def synth(context: dict[str, str]) -> Template:
        app = cdk.App(context={"crewhouse:layer": "skip", **context})
        stack = cdk.Stack(app, "AlertingOnly")
        Alerting(stack, "Alerting", layers=DependencyLayers(stack, "Dependencies"))
        return Template.from_stack(stack)

    assert synth({}).find_resources("AWS::Lambda::Function") == {}
    template = synth({CHAT_WEBHOOK_CONTEXT: SECRET})
    template.has_resource_properties("AWS::Lambda::Function", {
        "Handler": "crewhouse.operations.alarm_chat.handler",
        "Environment": {"Variables": Match.object_like({"ALARM_CHAT_WEBHOOK_SECRET_ARN": SECRET})}})
    template.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "lambda"})
    statements = [s for p in template.find_resources("AWS::IAM::Policy").values()
                  for s in p["Properties"]["PolicyDocument"]["Statement"]]
    secrets = [s for s in statements if "secretsmanager" in str(s["Action"])]
    assert secrets == [{"Action": "secretsmanager:GetSecretValue", "Effect": "Allow", "Resource": SECRET}]
