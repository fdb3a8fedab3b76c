"""Alarms to chat: the function reads the webhook URL from Secrets Manager (moto), posts each alarm of an SNS event
to a receiver on loopback (allowed in local mode only) with the runbook link, fails when the channel refuses, and
never posts to an internal address outside local mode."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from crewhouse.core import ssrf
from crewhouse.core.settings import function_environment
from crewhouse.operations import alarm_chat
from tests.support.events import lambda_context
from tests.support.mock import mocked_aws
from tests.support.webhook_receiver import WebhookReceiver, serving

ALARM = {"AlarmName": "CrewhouseStack-ChatErrors", "NewStateValue": "ALARM",
         "NewStateReason": "Threshold Crossed: 1 datapoint [3.0] was greater than or equal to the threshold (1.0).",
         "AlarmDescription": "Chat Lambda errors. Runbook: docs/runbooks.md#lambda-errors"}


def sns_event(*messages: dict[str, Any] | str) -> dict[str, Any]:
    return {"Records": [{"EventSource": "aws:sns", "Sns": {
        "Message": m if isinstance(m, str) else json.dumps(m)}} for m in messages]}


@pytest.fixture
def channel(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[WebhookReceiver, dict[str, str]]]:
    alarm_chat._webhook_url.cache_clear()
    with mocked_aws(monkeypatch), serving("/services/T000/B000/XXXX") as receiver:
        arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="crewhouse/alarm-chat", SecretString=json.dumps({"url": receiver.url}))["ARN"]
        yield receiver, {"ALARM_CHAT_WEBHOOK_SECRET_ARN": arn, "AWS_REGION": "us-east-1", "CREWHOUSE_LOCAL": "true",
                         "RUNBOOK_BASE_URL": "https://github.com/acme/crewhouse/blob/main/docs/runbooks.md"}
    alarm_chat._webhook_url.cache_clear()


def test_each_alarm_is_posted_with_its_state_reason_and_runbook(channel: tuple[WebhookReceiver, dict[str, str]]
                                                                ) -> None:
    receiver, environment = channel
    recovered = {**ALARM, "NewStateValue": "OK", "NewStateReason": "back to normal"}
    with function_environment(environment):
        assert alarm_chat.handler(sns_event(ALARM, recovered), lambda_context("alarm-chat")) == {"posted": 2}
    first, second = (json.loads(r.body)["text"] for r in receiver.received)
    assert first.startswith(":rotating_light: *CrewhouseStack-ChatErrors* is ALARM")
    assert "Threshold Crossed" in first
    assert first.endswith("Runbook: https://github.com/acme/crewhouse/blob/main/docs/runbooks.md#lambda-errors")
    assert second.startswith(":white_check_mark: *CrewhouseStack-ChatErrors* is OK")
    assert {r.headers["content-type"] for r in receiver.received} == {"application/json"}


def test_a_refusing_channel_fails_the_invocation_so_sns_retries(channel: tuple[WebhookReceiver, dict[str, str]]
                                                               ) -> None:
    receiver, environment = channel
    receiver.status = 403
    with function_environment(environment), pytest.raises(RuntimeError, match="HTTP 403"):
        alarm_chat.handler(sns_event(ALARM), lambda_context("alarm-chat"))


def test_outside_local_mode_an_internal_webhook_address_is_refused(channel: tuple[WebhookReceiver, dict[str, str]]
                                                                   ) -> None:
    receiver, environment = channel
    with function_environment({**environment, "CREWHOUSE_LOCAL": "false"}), pytest.raises(ssrf.UnsafeUrl):
        alarm_chat.handler(sns_event(ALARM), lambda_context("alarm-chat"))
    assert receiver.received == []


def test_a_message_that_is_not_an_alarm_is_still_posted() -> None:
    assert alarm_chat.chat_message({"AlarmName": "x", "NewStateReason": "plain text"}, "r")["text"] == \
        "*x* is ?\n> plain text"
