"""The bus's flow approval, agent offline and file retention events as notifications (in-process against moto):
each for the right person (named by the event, or read by key: the agent's registrant in the bus registry, the
execution's starter in the flows table), with its predefined template, and never across tenants."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from crewhouse.core.settings import function_environment
from crewhouse.notifications import workers
from tests.component.notifications.test_notifications_api import ENV, call, keyed_table, sent_mail
from tests.component.notifications.test_notifications_api import aws as aws
from tests.support.events import lambda_context

CONSUMER_ENV = {**ENV, "BUS_TABLE": "bus", "FLOWS_TABLE": "flows"}


@pytest.fixture
def tables(aws: Any) -> Iterator[Any]:
    keyed_table(aws, "bus", 2)
    keyed_table(aws, "flows", 1)
    yield aws


def consume(event: dict[str, Any]) -> str | None:
    with function_environment(CONSUMER_ENV):
        return workers.on_domain_event(event, lambda_context())["notification_id"]


def agent(dynamodb: Any, tenant: str, agent_id: str, created_by: str) -> None:
    dynamodb.put_item(TableName="bus", Item={"PK": {"S": f"T#{tenant}#AGENT#{agent_id}"}, "SK": {"S": "AGENT"},
                                             "agent_id": {"S": agent_id}, "tenant_id": {"S": tenant},
                                             "name": {"S": "Scout"}, "created_by": {"S": created_by}})


def run(dynamodb: Any, tenant: str, run_id: str, started_by: str) -> None:
    dynamodb.put_item(TableName="flows", Item={"PK": {"S": f"T#{tenant}#RUN#{run_id}"}, "SK": {"S": "RUN"},
                                               "id": {"S": run_id}, "tenant_id": {"S": tenant},
                                               "flow_id": {"S": "f1"}, "started_by": {"S": started_by}})


def test_an_offline_agent_notifies_the_member_who_registered_it(tables: Any) -> None:
    agent(tables, "t1", "a1", "user:ann")
    agent(tables, "t1", "a2", "agent:a1")  # registered by another agent: nobody to tell
    agent(tables, "t2", "a3", "user:ann")  # ann is no member of t2
    detail = {"tenant_id": "t1", "agent_id": "a1", "name": "Scout", "last_heartbeat_at": "2026-12-01T10:00:00.000Z"}

    def offline(**changes: str) -> dict[str, Any]:
        return {"source": "crewhouse.bus", "detail-type": "agent.offline", "detail": {**detail, **changes}}

    assert consume(offline())
    assert consume(offline(agent_id="a2")) is None
    assert consume(offline(agent_id="missing")) is None
    assert consume(offline(tenant_id="t2", agent_id="a3")) is None
    (item,) = call("ann", "GET", "/notifications")[1]["items"]
    assert (item["category"], item["template"], item["link"]) == ("agent", "agent_offline", "/agents/a1")
    assert item["title"] == "Agent Scout is offline"
    assert "2026-12-01T10:00:00.000Z" in item["body"]
    assert [m.destinations["ToAddresses"] for m in sent_mail()] == [["ann@example.com"]]


def test_a_flow_approval_notifies_the_executions_starter_and_passes_quiet_hours_when_it_would_expire(
        tables: Any) -> None:
    run(tables, "t1", "r1", "ann")
    # ann is in quiet hours that end 6 hours from now (whatever the time of day): a normal notification's e-mail
    # waits for their end.
    now = datetime.now(UTC)
    assert call("ann", "PUT", "/me/notification-preferences", {"quiet_hours": {
        "start": (now - timedelta(hours=1)).strftime("%H:%M"), "end": (now + timedelta(hours=6)).strftime("%H:%M"),
        "timezone": "UTC"}})[0] == 200
    detail = {"tenant_id": "t1", "flow_id": "f1", "execution_id": "r1", "node_id": "review",
              "prompt": "Publish the launch post?", "expires_at": (now + timedelta(hours=2)).isoformat()}
    assert consume({"source": "crewhouse.flows", "detail-type": "flow.approval_requested", "detail": detail})
    (item,) = call("ann", "GET", "/notifications")[1]["items"]
    assert (item["category"], item["priority"], item["template"]) == ("flow", "normal", "flow_approval_needed")
    assert item["title"] == "Approval needed: f1" and item["body"].startswith("Publish the launch post?")
    assert item["link"] == "/flows/f1/executions/r1"
    assert item["deliveries"]["email"]["status"] == "sent"  # it would have expired before the quiet hours end
    # One that expires after the quiet hours waits for them; the starter named by the event needs no lookup.
    later = {**detail, "execution_id": "r2", "started_by": "ann",
             "expires_at": (now + timedelta(days=3)).isoformat()}
    assert consume({"source": "crewhouse.flows", "detail-type": "flow.approval_requested", "detail": later})
    newest = call("ann", "GET", "/notifications")[1]["items"][0]
    assert newest["deliveries"]["email"]["status"] == "deferred"
    # An execution of another tenant (or none) notifies nobody.
    run(tables, "t2", "r3", "eve")
    assert consume({"source": "crewhouse.flows", "detail-type": "flow.approval_requested",
                    "detail": {**detail, "execution_id": "r3"}}) is None
    assert consume({"source": "crewhouse.flows", "detail-type": "flow.approval_requested",
                    "detail": {**detail, "execution_id": "nope"}}) is None


def test_a_file_retention_warning_lists_the_files_for_their_owner(tables: Any) -> None:
    detail: dict[str, Any] = {"tenant_id": "t1", "user_id": "ann", "delete_after": "2026-12-08",
              "files": [{"file_id": "f1", "filename": "q3-report.pdf", "size": 2_400_000,
                         "last_opened_at": "2026-06-01T08:00:00Z", "delete_after": "2026-12-08"},
                        {"file_id": "f2", "filename": "logo.png", "size": 512, "last_opened_at": "2026-06-02T08:00:00Z",
                         "delete_after": "2026-12-09"}],
              "more": 3}
    assert consume({"source": "crewhouse.files", "detail-type": "file.retention.warning", "detail": detail})
    (item,) = call("ann", "GET", "/notifications")[1]["items"]
    assert (item["category"], item["priority"], item["template"]) == ("file", "low", "file_retention_warning")
    assert item["title"] == "5 of your files will be deleted from 2026-12-08"
    assert "- q3-report.pdf (2.3 MB; last opened 2026-06-01T08:00:00Z; deleted from 2026-12-08)" in item["body"]
    assert "- logo.png (512 bytes;" in item["body"] and "… and 3 more." in item["body"]
    # Without "more" (it is optional), for a non-member, or malformed: as the shape allows, or nothing.
    assert consume({"source": "crewhouse.files", "detail-type": "file.retention.warning",
                    "detail": {**detail, "files": detail["files"][:1], "more": None}})
    assert call("ann", "GET", "/notifications")[1]["items"][0]["title"].startswith("1 of your files")
    assert consume({"source": "crewhouse.files", "detail-type": "file.retention.warning",
                    "detail": {**detail, "user_id": "eve"}}) is None
    assert consume({"source": "crewhouse.files", "detail-type": "file.retention.warning",
                    "detail": {**detail, "files": []}}) is None
    # A category of its own: a user who turns file e-mail off still gets it in the inbox.
    assert call("ann", "PUT", "/me/notification-preferences", {"categories": {"file": {"email": False}}})[0] == 200
    assert consume({"source": "crewhouse.files", "detail-type": "file.retention.warning", "detail": detail})
    assert call("ann", "GET", "/notifications")[1]["items"][0]["deliveries"]["email"]["status"] == "skipped"


def test_without_the_owner_tables_configured_an_event_that_does_not_name_its_person_is_dropped(tables: Any) -> None:
    agent(tables, "t1", "a1", "user:ann")
    with function_environment(ENV):  # the API's environment: no BUS_TABLE, no FLOWS_TABLE
        result = workers.on_domain_event({"source": "crewhouse.bus", "detail-type": "agent.offline",
                                          "detail": {"tenant_id": "t1", "agent_id": "a1"}}, lambda_context())
    assert result["notification_id"] is None
    assert boto3.client("ses", region_name="us-east-1") and not sent_mail()
