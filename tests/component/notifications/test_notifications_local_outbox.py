"""The embedded cloud's outbox (crewhouse.local.outbox): the e-mail SES accepted and the push messages SNS
published to platform endpoints, newest first, filtered by recipient, as JSON or as a page, served by the local
gateway's extra route."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from crewhouse.local.outbox import PATH, outbox, outbox_route
from tests.support.mock import mocked_aws

SENDER = "no-reply@crewhouse.local"


def test_mail_and_push_are_listed_newest_first_and_filtered(monkeypatch: pytest.MonkeyPatch) -> None:
    with mocked_aws(monkeypatch):
        boto3.client("ses", region_name="us-east-1").verify_email_identity(EmailAddress=SENDER)
        sesv2 = boto3.client("sesv2", region_name="us-east-1")
        for to, subject in (("ann@example.com", "First"), ("bob@example.com", "Second <b>")):
            sesv2.send_email(FromEmailAddress=SENDER, Destination={"ToAddresses": [to]},
                             Content={"Simple": {"Subject": {"Data": subject}, "Body": {"Text": {"Data": "Hi"}}}})
        sns = boto3.client("sns", region_name="us-east-1")
        app = sns.create_platform_application(Name="crewhouse-fcm", Platform="GCM",
                                              Attributes={"PlatformCredential": "key"})["PlatformApplicationArn"]
        endpoint = sns.create_platform_endpoint(PlatformApplicationArn=app, Token="device-token-1")["EndpointArn"]
        payload = {"GCM": json.dumps({"notification": {"title": "Your job finished"}})}
        sns.publish(TargetArn=endpoint, Message=json.dumps(payload), MessageStructure="json")

        found = outbox()
        assert [m["subject"] for m in found["mail"]] == ["Second <b>", "First"]
        assert found["mail"][1]["to"] == ["ann@example.com"] and found["mail"][1]["from"] == SENDER
        (push,) = found["push"]
        assert (push["platform"], push["application"], push["token"]) == ("GCM", "crewhouse-fcm", "device-token-1")
        assert push["message"] == payload and found["counts"] == {"mail": 2, "push": 1}
        assert [m["to"] for m in outbox("ANN@")["mail"]] == [["ann@example.com"]] and outbox("ann@")["push"] == []
        assert outbox(limit=1)["counts"]["mail"] == 2 and len(outbox(limit=1)["mail"]) == 1

        client = TestClient(Starlette(routes=[outbox_route()]))
        as_json = client.get(PATH, params={"to": "bob@example.com"})
        assert as_json.status_code == 200 and [m["subject"] for m in as_json.json()["mail"]] == ["Second <b>"]
        page = client.get(PATH, headers={"Accept": "text/html"})
        assert page.headers["content-type"].startswith("text/html")
        assert "Second &lt;b&gt;" in page.text and "device-token-1" in page.text  # escaped
        assert client.get(PATH, params={"format": "json"}, headers={"Accept": "text/html"}).json()["counts"]
        assert client.post(PATH).status_code == 405


def test_an_empty_outbox(monkeypatch: pytest.MonkeyPatch) -> None:
    with mocked_aws(monkeypatch):
        found: dict[str, Any] = outbox()
    assert found == {"mail": [], "push": [], "counts": {"mail": 0, "push": 0}}
