"""The webhook channel's rules over the real store on a memory table: signatures, the retry schedule's bounds,
registration (every problem named, the secret once, encrypted), the fan-out from preferences and categories, and
retries ending in the dead-letter list and a redrive."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crewhouse.core.errors import Conflict, NotFound, PreconditionFailed, ValidationProblem
from crewhouse.core.identity import Identity
from crewhouse.notifications.logic import NotificationService, Recipient
from crewhouse.notifications.models import Content, Preferences, WebhookCreate, WebhookPatch
from crewhouse.notifications.store import DynamoNotificationStore
from crewhouse.notifications.webhooks import (
    MAX_DELAY_SECONDS,
    Answer,
    WebhookService,
    retry_delay,
    signature,
    signature_header,
    verify,
)
from tests.support.memory_table import MemoryTable

ANN = Identity("t1", "ann", "member", frozenset())
BOB = Identity("t1", "bob", "member", frozenset())
EVE = Identity("t2", "ann", "admin", frozenset())  # the same user id in another tenant
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


# --- signatures and backoff ------------------------------------------------------------------------------------

def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    body = '{"id":"d1","type":"ping"}'
    expected = hmac.new(b"whsec_test", b'1795000000.{"id":"d1","type":"ping"}', hashlib.sha256).hexdigest()
    assert signature("whsec_test", 1795000000, body) == expected
    header = signature_header("whsec_test", 1795000000, body)
    assert header == f"t=1795000000,v1={expected}"
    assert verify("whsec_test", header, body, now=1795000100)
    assert not verify("whsec_other", header, body, now=1795000100)  # another secret
    assert not verify("whsec_test", header, body + " ", now=1795000100)  # another body
    assert not verify("whsec_test", header, body, now=1795000000 + 301)  # too old: a replay
    assert not verify("whsec_test", "t=abc,v1=00", body, now=1795000000)
    assert not verify("whsec_test", header.replace("t=1795000000", "t=1795000001"), body, now=1795000000)


@pytest.mark.parametrize("failed", range(1, 12))
def test_retry_delays_double_with_jitter_within_bounds(failed: int) -> None:
    rng = random.Random(failed)
    step = min(MAX_DELAY_SECONDS, 30 * 2 ** (failed - 1))
    delays = [retry_delay(failed, 30, rng=rng) for _ in range(200)]
    assert all(step / 2 <= d <= step <= MAX_DELAY_SECONDS for d in delays)
    assert len({round(d, 3) for d in delays}) > 100  # jittered, not one value
    assert min(delays) < step * 0.6 and max(delays) > step * 0.9  # spread over the upper half


def test_the_first_retries_come_after_about_30_60_120_240_seconds() -> None:
    rng = random.Random(7)
    lows = [retry_delay(n, 30, rng=rng) for n in range(1, 5)]
    assert [15 <= lows[0] <= 30, 30 <= lows[1] <= 60, 60 <= lows[2] <= 120, 120 <= lows[3] <= 240] == [True] * 4


# --- fakes of the ports --------------------------------------------------------------------------------------------

class FakeBox:
    """Seals by reversing and tagging with the context: open fails under any other context, as KMS does."""

    def seal(self, secret: str, context: dict[str, str]) -> str:
        return json.dumps({"c": context, "s": secret[::-1]})

    def open(self, sealed: str, context: dict[str, str]) -> str:
        data = json.loads(sealed)
        if data["c"] != context:
            raise PermissionError("InvalidCiphertextException")
        return str(data["s"][::-1])


@dataclass
class FakeQueue:
    sent: list[tuple[dict[str, Any], int]] = field(default_factory=list)

    def send(self, message: Mapping[str, Any], delay_seconds: int) -> None:
        self.sent.append((dict(message), delay_seconds))


@dataclass
class FakeReceivers:
    refused: dict[str, str] = field(default_factory=dict)
    answers: list[int | None] = field(default_factory=list)  # status codes in turn; None: unreachable
    posts: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)

    def check(self, url: str) -> str | None:
        return self.refused.get(url)

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        self.posts.append((url, body, dict(headers)))
        status = self.answers.pop(0) if self.answers else 200
        if status is None:
            return Answer(None, "the site could not be reached (ConnectError)", 3)
        return Answer(status, None if 200 <= status < 300 else f"the receiver answered HTTP {status}", 5)


@dataclass
class World:
    service: WebhookService
    store: DynamoNotificationStore
    queue: FakeQueue
    receivers: FakeReceivers


class HistoryTable(MemoryTable):
    """The memory table plus the one UpdateItem the store makes here: a channel's delivery history."""

    def update(self, key: Any, expression: str, *, values: Mapping[str, Any] | None = None,
               names: Mapping[str, str] | None = None, **kwargs: Any) -> Any:
        assert expression == "SET deliveries.#channel = :history" and names and values
        item = self.get(key)
        assert item is not None
        self.put({**item, "deliveries": {**item.get("deliveries", {}), names["#channel"]: values[":history"]}})
        return {}


@pytest.fixture
def world() -> World:
    store, queue, receivers = DynamoNotificationStore(HistoryTable()), FakeQueue(), FakeReceivers()
    service = WebhookService(store=store, box=FakeBox(), queue=queue, receivers=receivers, retry_base_seconds=30,
                             rng=random.Random(1))
    return World(service, store, queue, receivers)


def register(world: World, identity: Identity = ANN, **fields: Any) -> Any:
    return world.service.create(identity, WebhookCreate(**{"url": "https://hooks.example/in", **fields}), NOW)


# --- registration --------------------------------------------------------------------------------------------------

def test_the_secret_is_answered_once_and_stored_only_encrypted(world: World) -> None:
    created = register(world, description="CI", categories=["job", "task"])
    assert created.secret.startswith("whsec_") and len(created.secret) == 49
    assert created.secret_hint == created.secret[:10]
    assert created.categories == ["task", "job"]  # in the catalogue's order
    item = world.store.webhook("t1", "ann", created.id)
    assert item is not None and created.secret not in json.dumps(item)
    assert FakeBox().open(item["secret_sealed"], {"tenant_id": "t1", "user_id": "ann", "webhook_id": created.id}) \
        == created.secret
    listed = world.service.all(ANN)
    assert [w.id for w in listed] == [created.id]
    assert "secret" not in listed[0].model_dump() and "secret_sealed" not in listed[0].model_dump()
    assert "secret" not in world.service.get(ANN, created.id).model_dump()
    # Registering turned the webhook channel on in the preferences.
    assert Preferences.model_validate(world.store.preferences("t1", "ann")).allows("webhook", "job")


def test_registration_names_every_problem(world: World) -> None:
    world.receivers.refused["https://10.0.0.1/x"] = "the address 10.0.0.1 is private"
    with pytest.raises(ValidationProblem) as raised:
        world.service.create(ANN, WebhookCreate(url="https://10.0.0.1/x", categories=["job", "nope", "weather"]),
                             NOW)
    errors = raised.value.extra["errors"]
    assert [e["path"] for e in errors] == ["body.url", "body.categories.1", "body.categories.2"]
    assert "10.0.0.1 is private" in raised.value.detail and "'nope'" in raised.value.detail
    for url in ("not a url", "ftp://hooks.example/", "/relative", "https://hooks.example/#frag"):
        with pytest.raises(ValidationProblem):
            world.service.create(ANN, WebhookCreate(url=url), NOW)
    with pytest.raises(ValidationProblem, match="at least one category"):
        world.service.create(ANN, WebhookCreate(url="https://hooks.example/", categories=[]), NOW)
    assert world.service.all(ANN) == []


def test_an_explicit_opt_out_of_the_channel_stays(world: World) -> None:
    world.store.put_preferences("t1", "ann", {"channels": {"in_app": True, "email": True, "webhook": False}})
    register(world)
    assert not Preferences.model_validate(world.store.preferences("t1", "ann")).allows("webhook", "job")


def test_a_user_has_at_most_ten(world: World) -> None:
    for _ in range(10):
        register(world)
    with pytest.raises(Conflict):
        register(world)


def test_change_checks_the_url_again_and_honours_if_match(world: World) -> None:
    created = register(world)
    world.receivers.refused["https://169.254.169.254/"] = "the address 169.254.169.254 is the cloud metadata service"
    with pytest.raises(ValidationProblem, match="metadata"):
        world.service.update(ANN, created.id, WebhookPatch(url="https://169.254.169.254/"), '"1"', NOW)
    with pytest.raises(PreconditionFailed):
        world.service.update(ANN, created.id, WebhookPatch(enabled=False), '"7"', NOW)
    changed = world.service.update(ANN, created.id, WebhookPatch(enabled=False, categories=["mention"]), '"1"', NOW)
    assert (changed.enabled, changed.categories, changed.version) == (False, ["mention"], 2)
    back = world.service.update(ANN, created.id, WebhookPatch.model_validate({"categories": None}), None, NOW)
    assert back.categories is None and back.url == "https://hooks.example/in"
    with pytest.raises(PreconditionFailed):
        world.service.delete(ANN, created.id, '"1"')
    world.service.delete(ANN, created.id, '"3"')
    with pytest.raises(NotFound):
        world.service.get(ANN, created.id)


def test_another_users_or_tenants_webhook_is_not_found(world: World) -> None:
    created = register(world)
    for other in (BOB, EVE):
        with pytest.raises(NotFound):
            world.service.get(other, created.id)
        with pytest.raises(NotFound):
            world.service.test(other, created.id, NOW)
        with pytest.raises(NotFound):
            world.service.deliveries(other, created.id, limit=10, start=None, status=None)
        assert world.service.all(other) == []


# --- fan-out, attempts, dead letters, redrive ---------------------------------------------------------------------

@dataclass
class Directory:
    def member(self, tenant_id: str, user_id: str) -> Recipient | None:
        return Recipient(user_id=user_id, email=None)


class NoMail:
    def send(self, to: str, subject: str, text: str, tags: Mapping[str, str] | None = None) -> str:
        raise AssertionError("no e-mail address")


class NoSchedules:
    def at(self, name: str, when: datetime, payload: Mapping[str, Any]) -> None:
        raise AssertionError("nothing is scheduled")


def notifications(world: World) -> NotificationService:
    return NotificationService(store=world.store, directory=Directory(), mailer=NoMail(), schedules=NoSchedules(),
                               webhooks=world.service)


def run_queue(world: World, *, now: datetime = NOW) -> list[str]:
    """Attempt every queued message in turn (the worker), the clock moved past each delay."""
    outcomes = []
    while world.queue.sent:
        message, delay = world.queue.sent.pop(0)
        now += timedelta(seconds=delay)
        outcomes.append(world.service.attempt(message, now))
    return outcomes


def test_a_notification_reaches_the_webhooks_whose_categories_take_it(world: World) -> None:
    jobs = register(world, categories=["job"])
    everything = register(world)
    disabled = register(world, enabled=False)
    service = notifications(world)
    notification = service.deliver("t1", Recipient("ann", None), Content(category="job", title="Done", link="/jobs/1"),
                                   NOW)
    assert set(notification.deliveries) >= {f"webhook:{jobs.id}", f"webhook:{everything.id}"}
    assert f"webhook:{disabled.id}" not in notification.deliveries
    assert notification.deliveries[f"webhook:{jobs.id}"].status == "queued"
    assert run_queue(world) == ["delivered", "delivered"]
    url, body, headers = world.receivers.posts[0]
    assert url == "https://hooks.example/in"
    payload = json.loads(body)
    assert payload["type"] == "notification.created" and payload["id"] == headers["Crewhouse-Delivery"]
    assert payload["data"]["notification"]["link"] == "https://app.crewhouse.local/jobs/1"
    assert headers["Crewhouse-Event"] == "notification.created"
    secret = FakeBox().open(world.store.webhook("t1", "ann", jobs.id)["secret_sealed"],  # type: ignore[index]
                            {"tenant_id": "t1", "user_id": "ann", "webhook_id": jobs.id})
    assert verify(secret, headers["Crewhouse-Signature"], body.decode(), now=int(NOW.timestamp()))
    stored = world.store.get("t1", "ann", notification.id)
    assert stored is not None and stored["deliveries"][f"webhook:{jobs.id}"]["status"] == "delivered"
    # A task notification reaches only the webhook that takes every category.
    service.deliver("t1", Recipient("ann", None), Content(category="task", title="Due"), NOW)
    assert [m["webhook_id"] for m, _ in world.queue.sent] == [everything.id]


def test_no_webhook_is_looked_up_while_the_channel_is_off(world: World) -> None:
    calls: list[str] = []
    original = world.store.webhooks

    def counted(tenant_id: str, user_id: str) -> list[dict[str, Any]]:
        calls.append(user_id)
        return original(tenant_id, user_id)

    world.store.webhooks = counted  # type: ignore[method-assign]
    notifications(world).deliver("t1", Recipient("bob", None), Content(category="job", title="x"), NOW)
    assert calls == []  # bob never registered one: his channel is off and nothing is read


def test_failures_retry_with_backoff_then_dead_letter_and_redrive_delivers(world: World) -> None:
    hook = register(world)
    world.receivers.answers = [500, None, 503, 500, 502]
    notification = notifications(world).deliver("t1", Recipient("ann", None),
                                                Content(category="system", title="x"), NOW)
    delays: list[int] = []
    outcomes = []
    while world.queue.sent:
        message, delay = world.queue.sent.pop(0)
        delays.append(delay)
        outcomes.append(world.service.attempt(message, NOW))
    assert outcomes == ["retrying"] * 4 + ["dead"]
    assert delays[0] == 0 and all(30 * 2 ** (n - 1) / 2 - 1 <= d <= 30 * 2 ** (n - 1) for n, d in
                                  enumerate(delays[1:], start=1))
    dead, _ = world.service.deliveries(ANN, hook.id, limit=10, start=None, status="dead")
    assert len(dead) == 1 and dead[0].attempts == 5 and dead[0].status_code == 502
    assert [a.status_code for a in dead[0].history] == [500, None, 503, 500, 502]
    assert "could not be reached" in (dead[0].history[1].error or "")
    history = world.store.get("t1", "ann", notification.id)["deliveries"][f"webhook:{hook.id}"]  # type: ignore[index]
    assert history["status"] == "failed" and history["attempts"] == 5 and "dead-lettered" in history["history"][-1][
        "detail"]
    # A repeated message for the settled delivery sends nothing.
    assert world.service.attempt({"tenant_id": "t1", "user_id": "ann", "webhook_id": hook.id,
                                  "delivery_id": dead[0].id, "attempt": 5}, NOW) == "skipped"
    with pytest.raises(NotFound):
        world.service.redrive(BOB, hook.id, dead[0].id, NOW)
    redriven = world.service.redrive(ANN, hook.id, dead[0].id, NOW)
    assert redriven.status == "queued"
    with pytest.raises(Conflict):
        world.service.redrive(ANN, hook.id, dead[0].id, NOW)  # queued, not dead
    assert run_queue(world) == ["delivered"]
    (delivered,), _ = world.service.deliveries(ANN, hook.id, limit=10, start=None, status=None)
    assert delivered.status == "delivered" and delivered.attempts == 6
    assert world.store.get("t1", "ann", notification.id)["deliveries"][  # type: ignore[index]
        f"webhook:{hook.id}"]["status"] == "delivered"


def test_a_disabled_webhook_dead_letters_and_a_deleted_one_drops(world: World) -> None:
    hook = register(world)
    other = register(world)
    notifications(world).deliver("t1", Recipient("ann", None), Content(category="system", title="x"), NOW)
    world.service.update(ANN, hook.id, WebhookPatch(enabled=False), None, NOW)
    world.service.delete(ANN, other.id, None)
    assert sorted(run_queue(world)) == ["dead", "skipped"]
    (dead,), _ = world.service.deliveries(ANN, hook.id, limit=10, start=None, status="dead")
    assert dead.error == "the webhook is disabled" and dead.attempts == 0
    with pytest.raises(Conflict, match="disabled"):
        world.service.redrive(ANN, hook.id, dead.id, NOW)
    assert world.receivers.posts == []


def test_a_test_ping_is_sent_once_and_listed(world: World) -> None:
    hook = register(world)
    world.receivers.answers = [404]
    failed = world.service.test(ANN, hook.id, NOW)
    assert (failed.status, failed.status_code, failed.event) == ("failed", 404, "ping")
    assert world.queue.sent == []  # no retries of a ping
    ok = world.service.test(ANN, hook.id, NOW + timedelta(seconds=1))
    assert ok.status == "delivered"
    page, _ = world.service.deliveries(ANN, hook.id, limit=10, start=None, status=None)
    assert [d.id for d in page] == [ok.id, failed.id]  # newest first
    _, body, headers = world.receivers.posts[0]
    assert json.loads(body)["type"] == "ping" and headers["Crewhouse-Event"] == "ping"
