"""The webhook channel on the embedded cloud: the template's queue, worker, key and routes with each function's
role enforced. A webhook registered for a receiver on loopback (local mode allows it; the retry base is 0.5 s
there) gets a notification the owner sends themselves, signed with the secret the create answered once; a
receiver that answers 500 ends in the dead-letter list after five attempts, and a redrive delivers it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from typing import Any

import httpx
import pytest

from crewhouse.local.seed import SignedInUser
from crewhouse.notifications.webhooks import verify
from tests.integration.conftest import bearer
from tests.support.waiting import eventually


class Receiver:
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], str, float]] = []
        self.failing = False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body, time.monotonic()))
                self.send_response(500 if receiver.failing else 204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/crewhouse"

    def of(self, event: str) -> list[tuple[dict[str, str], str, float]]:
        return [r for r in self.received if r[0].get("crewhouse-event") == event]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    threading.Thread(target=found.server.serve_forever, daemon=True).start()
    try:
        yield found
    finally:
        found.server.shutdown()
        found.server.server_close()


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
                                                                 receiver: Receiver,
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
    headers, body, _ = receiver.of("notification.created")[0]
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
    receiver.failing = True
    started = len(receiver.received)
    failing = send(api, owner, "Webhook failing")
    deliveries = f"/notifications/webhooks/{hook['id']}/deliveries"

    def dead() -> list[dict[str, Any]]:
        return list(api.get(deliveries, params={"status": "dead"}, headers=me).json()["items"])

    (letter,) = eventually(dead, timeout=60)
    attempts = receiver.received[started:]
    assert len(attempts) == 5 and {json.loads(b)["id"] for _, b, _ in attempts} == {letter["id"]}
    assert [h["crewhouse-attempt"] for h, _, _ in attempts] == ["1", "2", "3", "4", "5"]
    gaps = [later - earlier for (_, _, earlier), (_, _, later) in pairwise(attempts)]
    assert gaps[-1] >= 1.0  # the fourth retry waits 1-2 s (base 0.5 s locally, doubling)
    assert (letter["attempts"], letter["status_code"]) == (5, 500)
    assert [a["status_code"] for a in letter["history"]] == [500] * 5
    failed = next(i for i in api.get("/notifications", headers=me).json()["items"] if i["id"] == failing["id"])
    assert failed["deliveries"][f"webhook:{hook['id']}"]["status"] == "failed"
    assert "dead-lettered" in failed["deliveries"][f"webhook:{hook['id']}"]["history"][-1]["detail"]

    # The receiver recovers; a redrive delivers the dead letter with the same id.
    receiver.failing = False
    redrive = api.post(f"{deliveries}/{letter['id']}/redrive", headers=me)
    assert redrive.status_code == 202, redrive.text

    def delivered() -> bool:
        items = api.get(deliveries, headers=me).json()["items"]
        return any(d["id"] == letter["id"] and d["status"] == "delivered" for d in items)

    assert eventually(delivered, timeout=30)
    headers, body, _ = receiver.received[-1]
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
