"""Tasks over real HTTP on the embedded cloud: the stream-fed search index and sync log, reminders
firing through the local scheduler, and idempotent recurring completion."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from crewhouse.local.cloud import EmbeddedCloud
from crewhouse.local.endpoint import local_client
from crewhouse.local.seed import SignedInUser
from tests.integration.conftest import bearer
from tests.support.waiting import eventually


@pytest.fixture
def owner(new_user: Callable[[], SignedInUser]) -> dict[str, str]:
    return bearer(new_user().id_token)


def create(api: httpx.Client, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = api.post("/tasks", json=fields, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_search_finds_tasks_by_prefix_and_typo(api: httpx.Client, owner: dict[str, str]) -> None:
    wanted = create(api, owner, title="Renew passport", description="bring photos")
    create(api, owner, title="Buy groceries", description="passport photos for the renewal")

    def titles(q: str) -> list[str]:
        response = api.get("/tasks/search", params={"q": q}, headers=owner)
        assert response.status_code == 200
        return [t["title"] for t in response.json()["items"]]

    assert eventually(lambda: titles("passport") == ["Renew passport", "Buy groceries"])  # title above description
    assert titles("pass")[0] == "Renew passport"  # prefix
    assert titles("pasport")[0] == "Renew passport"  # one typo
    api.delete(f"/tasks/{wanted['id']}", headers=owner)
    assert eventually(lambda: titles("passport") == ["Buy groceries"])


def test_sync_feed_reports_changes_and_deletions(api: httpx.Client, owner: dict[str, str]) -> None:
    token = api.get("/sync", headers=owner).json()["token"]
    kept = create(api, owner, title="kept")
    gone = create(api, owner, title="gone")
    api.delete(f"/tasks/{gone['id']}", headers=owner)

    def changes() -> dict[str, Any] | None:
        body = dict(api.get("/sync", params={"since": token}, headers=owner).json())
        items = [(t["kind"], t["id"]) for t in body["items"]]
        return body if ("task", kept["id"]) in items and {"kind": "task", "id": gone["id"]} in body["deleted"] else None

    body = eventually(changes)
    assert body, "the sync feed never showed the changes"
    assert gone["id"] not in [t["id"] for t in body["items"]]
    assert next(t for t in body["items"] if t["id"] == kept["id"])["title"] == "kept"
    quiet = api.get("/sync", params={"since": body["token"]}, headers=owner).json()
    assert quiet["items"] == [] and quiet["deleted"] == []


def test_recurring_completion_retried_with_the_same_key_yields_one_next(api: httpx.Client,
                                                                        owner: dict[str, str]) -> None:
    task = create(api, owner, title="Pay rent", planned_date="2027-01-01", recurrence="FREQ=MONTHLY",
                  timezone="Europe/Berlin")
    key = {"Idempotency-Key": str(uuid.uuid4()), **owner}
    first = api.post(f"/tasks/{task['id']}/complete", headers=key)
    retry = api.post(f"/tasks/{task['id']}/complete", headers=key)
    assert first.status_code == retry.status_code == 200
    assert first.json() == retry.json()
    next_month = api.get("/tasks", params={"planned_date": "2027-02-01"}, headers=owner).json()["items"]
    assert [t["title"] for t in next_month] == ["Pay rent"]


def test_reminder_fires_through_the_local_scheduler(api: httpx.Client, cloud: EmbeddedCloud,
                                                    owner: dict[str, str]) -> None:
    sqs, events = local_client("sqs"), local_client("events")
    queue_url = sqs.create_queue(QueueName=f"reminders-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = f"reminders-{uuid.uuid4().hex[:8]}"
    events.put_rule(Name=rule, EventBusName="crewhouse",
                    EventPattern=json.dumps({"detail-type": ["task.reminder.due"]}))
    events.put_targets(Rule=rule, EventBusName="crewhouse", Targets=[{"Id": "q", "Arn": queue_arn}])

    at = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)
    task = create(api, owner, title="Stand-up", reminders=[{"at": at.isoformat()}])

    def delivered() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    received = eventually(delivered, timeout=20)
    assert received, "the reminder never reached the bus"
    assert received[0]["detail"]["task_id"] == task["id"]
    assert received[0]["detail"]["title"] == "Stand-up"


def test_another_users_task_is_404_everywhere(api: httpx.Client, new_user: Callable[[], SignedInUser]) -> None:
    alice, bob = bearer(new_user().id_token), bearer(new_user().id_token)
    task = create(api, alice, title="alice only")
    for method, path in [("GET", f"/tasks/{task['id']}"), ("PATCH", f"/tasks/{task['id']}"),
                         ("DELETE", f"/tasks/{task['id']}"), ("POST", f"/tasks/{task['id']}/complete"),
                         ("POST", f"/tasks/{task['id']}/move")]:
        response = api.request(method, path, headers=bob, json={} if method in ("PATCH", "POST") else None)
        assert response.status_code == 404, (method, path, response.text)
    assert api.get("/tasks/search", params={"q": "alice"}, headers=bob).json()["items"] == []
