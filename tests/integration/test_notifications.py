"""The webhook channel on the embedded cloud: the template's queue, worker, key and routes with each function's
role enforced. A webhook registered for a receiver on loopback (local mode allows it; the retry base is 0.5 s
there) gets a notification the owner sends themselves, signed with the secret the create answered once; a
receiver that answers 500 ends in the dead-letter list after five attempts, and a redrive delivers it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from itertools import pairwise
from typing import Any

import httpx
import jwt
import pytest

from crewhouse.local.endpoint import local_client
from crewhouse.local.seed import SignedInUser
from crewhouse.notifications.webhooks import verify
from tests.integration.conftest import bearer
from tests.support.waiting import eventually
from tests.support.webhook_receiver import WebhookReceiver, serving


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with serving("/crewhouse") as found:
        yield found


@pytest.fixture(scope="module")
def owner(new_user: Callable[[], SignedInUser]) -> SignedInUser:
    return new_user()  # the admin of their own new tenant: may send notifications, to themselves here


def send(api: httpx.Client, owner: SignedInUser, title: str) -> dict[str, Any]:
    response = api.post("/notifications", json={"recipient_id": owner.user_id, "category": "system",
                                                "title": title, "body": "from the integration test"},
                        headers=bearer(owner.id_token))
    assert response.status_code == 201, response.text
    return dict(response.json()["notifications"][0])


def test_a_signed_delivery_then_retries_dead_letter_and_redrive(api: httpx.Client, owner: SignedInUser,
                                                                 receiver: WebhookReceiver,
                                                                 new_user: Callable[[], SignedInUser]) -> None:
    me = bearer(owner.id_token)
    refused = api.post("/notifications/webhooks", headers=me,
                       json={"url": "http://169.254.169.254/latest/meta-data/", "categories": ["system", "weather"]})
    assert refused.status_code == 422 and refused.headers["content-type"].startswith("application/problem+json")
    assert [e["path"] for e in refused.json()["errors"]] == ["body.url", "body.categories.1"]

    created = api.post("/notifications/webhooks", headers=me,
                       json={"url": receiver.url, "description": "integration", "categories": ["system"]})
    assert created.status_code == 201, created.text
    hook = created.json()
    secret = hook["secret"]
    listed = api.get("/notifications/webhooks", headers=me).json()
    assert [w["id"] for w in listed] == [hook["id"]] and "secret" not in listed[0]
    assert api.get(f"/notifications/webhooks/{hook['id']}", headers=bearer(new_user().id_token)).status_code == 404

    # A notification reaches the receiver, signed with the secret shown once.
    notification = send(api, owner, "Webhook hello")
    assert notification["deliveries"][f"webhook:{hook['id']}"]["status"] == "queued"
    eventually(lambda: receiver.of("notification.created"), timeout=30)
    first = receiver.of("notification.created")[0]
    headers, body = first.headers, first.body
    assert verify(secret, headers["crewhouse-signature"], body, now=int(time.time()))
    assert not verify(secret[:-1] + ("A" if secret[-1] != "A" else "B"), headers["crewhouse-signature"], body,
                      now=int(time.time()))
    payload = json.loads(body)
    assert payload["type"] == "notification.created" and payload["id"] == headers["crewhouse-delivery"]
    assert payload["data"]["notification"]["id"] == notification["id"]

    def history() -> dict[str, Any]:
        item = api.get("/notifications", headers=me).json()["items"][0]
        return dict(item["deliveries"][f"webhook:{hook['id']}"])

    assert eventually(lambda: history()["status"] == "delivered", timeout=15)

    # A failing receiver: five attempts with growing delays, then the dead-letter list.
    receiver.status = 500
    started = len(receiver.received)
    failing = send(api, owner, "Webhook failing")
    deliveries = f"/notifications/webhooks/{hook['id']}/deliveries"

    def dead() -> list[dict[str, Any]]:
        return list(api.get(deliveries, params={"status": "dead"}, headers=me).json()["items"])

    (letter,) = eventually(dead, timeout=60)
    attempts = receiver.received[started:]
    assert len(attempts) == 5 and {json.loads(a.body)["id"] for a in attempts} == {letter["id"]}
    assert [a.headers["crewhouse-attempt"] for a in attempts] == ["1", "2", "3", "4", "5"]
    gaps = [later.at - earlier.at for earlier, later in pairwise(attempts)]
    assert gaps[-1] >= 1.0  # the fourth retry waits 1-2 s (base 0.5 s locally, doubling)
    assert (letter["attempts"], letter["status_code"]) == (5, 500)
    assert [a["status_code"] for a in letter["history"]] == [500] * 5
    failed = next(i for i in api.get("/notifications", headers=me).json()["items"] if i["id"] == failing["id"])
    assert failed["deliveries"][f"webhook:{hook['id']}"]["status"] == "failed"
    assert "dead-lettered" in failed["deliveries"][f"webhook:{hook['id']}"]["history"][-1]["detail"]

    # The receiver recovers; a redrive delivers the dead letter with the same id.
    receiver.status = 204
    redrive = api.post(f"{deliveries}/{letter['id']}/redrive", headers=me)
    assert redrive.status_code == 202, redrive.text

    def delivered() -> bool:
        items = api.get(deliveries, headers=me).json()["items"]
        return any(d["id"] == letter["id"] and d["status"] == "delivered" for d in items)

    assert eventually(delivered, timeout=30)
    headers, body = receiver.received[-1].headers, receiver.received[-1].body
    assert json.loads(body)["id"] == letter["id"] and verify(secret, headers["crewhouse-signature"], body,
                                                             now=int(time.time()))
    assert dead() == []

    # The test ping answers at once; disabling stops deliveries; delete needs the current ETag.
    ping = api.post(f"/notifications/webhooks/{hook['id']}/test", headers=me)
    assert ping.status_code == 200 and ping.json()["status"] == "delivered"
    etag = api.get(f"/notifications/webhooks/{hook['id']}", headers=me).headers["etag"]
    assert api.delete(f"/notifications/webhooks/{hook['id']}", headers={**me, "If-Match": '"99"'}).status_code == 412
    assert api.delete(f"/notifications/webhooks/{hook['id']}", headers={**me, "If-Match": etag}).status_code == 204
    assert api.get(deliveries, headers=me).status_code == 404


def test_the_bus_events_without_a_named_person_reach_the_agents_registrant_and_the_files_owner(
        api: httpx.Client, owner: SignedInUser) -> None:
    """Each through its own rule on the ``crewhouse`` bus to the consumer, whose role may read the bus registry by
    key (the agent's registrant): the template's own IAM, enforced by the embedded cloud."""
    me = bearer(owner.id_token)
    tenant = str(jwt.decode(owner.id_token, options={"verify_signature": False})["tenant_id"])
    registered = api.post("/agents", headers=me, json={"name": "Night scout", "capabilities": [], "role": "agent-full"})
    assert registered.status_code == 201, registered.text
    agent_id = registered.json()["id"]
    answer = local_client("events").put_events(Entries=[
        {"Source": "crewhouse.bus", "DetailType": "agent.offline", "EventBusName": "crewhouse",
         "Detail": json.dumps({"tenant_id": tenant, "agent_id": agent_id, "name": "Night scout",
                               "last_heartbeat_at": "2026-12-01T03:00:00.000Z"})},
        {"Source": "crewhouse.files", "DetailType": "file.retention.warning", "EventBusName": "crewhouse",
         "Detail": json.dumps({"tenant_id": tenant, "user_id": owner.user_id, "delete_after": "2026-12-08",
                               "files": [{"file_id": "f1", "filename": "old.pdf", "size": 2048,
                                          "last_opened_at": "2026-05-01T00:00:00Z", "delete_after": "2026-12-08"}],
                               "more": 0})}])
    assert answer["FailedEntryCount"] == 0

    def templates() -> set[str]:
        return {i["template"] for i in api.get("/notifications", headers=me).json()["items"]}

    assert eventually(lambda: {"agent_offline", "file_retention_warning"} <= templates(), timeout=30)
    items = {i["template"]: i for i in api.get("/notifications", headers=me).json()["items"]}
    assert items["agent_offline"]["title"] == "Agent Night scout is offline"
    assert items["file_retention_warning"]["title"] == "1 of your files will be deleted from 2026-12-08"
    assert items["agent_offline"]["deliveries"]["email"]["status"] == "sent"

    # What would have been sent, on the local gateway only (no token: it is the developer's machine).
    outbox = api.get("/_local/outbox", params={"to": owner.email})
    assert outbox.status_code == 200, outbox.text
    subjects = [m["subject"] for m in outbox.json()["mail"]]
    assert "Agent Night scout is offline" in subjects and "1 of your files will be deleted from 2026-12-08" in subjects
    assert all(m["to"] == [owner.email] for m in outbox.json()["mail"])
    assert "Agent Night scout is offline" in api.get("/_local/outbox", headers={"Accept": "text/html"}).text


def test_a_registered_device_gets_the_push_and_a_disabled_endpoint_is_removed(api: httpx.Client,
                                                                              owner: SignedInUser) -> None:
    """Through the template's routes and roles (CreatePlatformEndpoint, Publish, DeleteEndpoint on the local
    platform applications the embedded cloud made at start); what was published shows in the local outbox."""
    me = bearer(owner.id_token)
    token = f"integration-{owner.user_id}"
    registered = api.post("/notifications/devices", json={"platform": "apns", "token": token}, headers=me)
    assert registered.status_code == 201, registered.text
    device = registered.json()
    again = api.post("/notifications/devices", json={"platform": "apns", "token": token}, headers=me)
    assert (again.status_code, again.json()) == (200, device)
    assert api.get("/notifications/devices", headers=me).json() == [device]

    pushed = send(api, owner, "Pushed to the phone")
    assert pushed["deliveries"][f"push:{device['id']}"]["status"] == "sent", pushed["deliveries"]
    [captured] = api.get("/_local/outbox", params={"to": token}).json()["push"]
    assert captured["platform"] == "APNS" and captured["application"] == "crewhouse-local-apns"
    assert json.loads(captured["message"]["APNS"])["aps"]["alert"]["title"] == "Pushed to the phone"

    # SNS disables an endpoint when the platform reports its token invalid: the next push removes the device.
    local_client("sns").set_endpoint_attributes(EndpointArn=captured["endpoint_arn"],
                                                Attributes={"Enabled": "false"})
    failed = send(api, owner, "Nobody listens")["deliveries"][f"push:{device['id']}"]
    assert failed["status"] == "failed" and "device removed" in failed["error"]
    assert api.get("/notifications/devices", headers=me).json() == []
    assert api.get("/_local/outbox", params={"to": token}).json()["push"] == []  # the endpoint is gone too
