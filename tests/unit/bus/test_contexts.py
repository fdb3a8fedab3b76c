"""Contexts' pure rules: what a body may say, the bytes and digest of a payload, who sees and writes what, expiry,
the version records, the long poll's clock, events, and the arithmetic of streams' parts."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from crewhouse.bus.access import BusCaller
from crewhouse.bus.contexts import (
    INLINE_LIMIT_BYTES,
    ContextCreate,
    ContextService,
    ContextUpdate,
    changes_access,
    content_of,
    context_event,
    context_view,
    is_expired,
    may_see,
    new_record,
    next_record,
    require_delete,
    require_update,
    visible,
    wait_for_version,
)
from crewhouse.bus.streams import StreamStart, expected_size, missing_parts, whole_sha256
from crewhouse.core.errors import Forbidden, NotFound, PreconditionFailed, ValidationProblem

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
A, B, C = "01jabcdefghjkmnpqrstvwxyz0", "01jabcdefghjkmnpqrstvwxyz1", "01jabcdefghjkmnpqrstvwxyz2"


def agent(agent_id: str, role: str = "agent-full", tenant: str = "t1") -> BusCaller:
    return BusCaller(tenant_id=tenant, actor_id=agent_id, actor_kind="agent", role=role, credential="agent-token")


def person(role: str) -> BusCaller:
    return BusCaller(tenant_id="t1", actor_id="u1", actor_kind="person", role=role, credential="cognito")


def record(scope: str = "private", owner: str = A, members: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    body = ContextCreate(name="plan", scope=scope, members=members, payload={"x": 1})
    return {**new_record(agent(owner), "ctx1", body, content_of(body), NOW), **extra}


# --- bodies ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fields", [
    {"name": "", "payload": 1},
    {"name": "n" * 201, "payload": 1},
    {"name": "n", "payload": 1, "scope": "everyone"},
    {"name": "n", "payload": 1, "members": [B]},  # members without scope group
    {"name": "n", "payload": 1, "scope": "group", "members": ["Not-An-Agent"]},
    {"name": "n", "payload": 1, "tags": [f"t{i}" for i in range(21)]},
    {"name": "n", "payload": 1, "tags": [""]},
    {"name": "n", "payload": 1, "ttl_seconds": 59},
    {"name": "n", "payload": 1, "ttl_seconds": 31_536_001},
    {"name": "n", "payload": 1, "content_type": "not a type"},
    {"name": "n"},  # no payload
    {"name": "n", "payload": 1, "payload_base64": "AA=="},  # two payloads
    {"name": "n", "payload_base64": "%%%"},
    {"name": "n", "payload": 1, "owner": "agent:someone"},  # unknown fields are refused
])
def test_bad_bodies_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ContextCreate.model_validate(fields)


def test_good_bodies_and_their_defaults() -> None:
    body = ContextCreate.model_validate({"name": "n" * 200, "payload": None, "scope": "group", "members": [B, B],
                                         "tags": [f"t{i}" for i in range(20)], "ttl_seconds": 60})
    assert body.members == [B] and body.payload is None  # a JSON null is a payload
    assert ContextCreate.model_validate({"name": "n", "payload": 1}).scope == "private"
    assert ContextUpdate.model_validate({"payload_base64": "AAE="}).name is None


def test_content_is_compact_json_or_the_decoded_bytes() -> None:
    json_content = content_of(ContextCreate(name="n", payload={"a": [1, "é"]}))
    assert json_content.data == '{"a":[1,"é"]}'.encode()
    assert json_content.encoding == "json" and json_content.size == len(json_content.data)
    assert json_content.sha256 == hashlib.sha256(json_content.data).hexdigest()
    raw = bytes(range(10))
    binary = content_of(ContextCreate(name="n", payload_base64=base64.b64encode(raw).decode()))
    assert (binary.data, binary.encoding, binary.size) == (raw, "binary", 10)


def binary_body(size: int) -> ContextCreate:
    return ContextCreate(name="n", payload_base64=base64.b64encode(b"x" * size).decode())


def test_payloads_over_256_kib_are_not_inline() -> None:
    at_limit, over = content_of(binary_body(INLINE_LIMIT_BYTES)), content_of(binary_body(INLINE_LIMIT_BYTES + 1))
    assert at_limit.inline and not over.inline
    assert new_record(agent(A), "c", ContextCreate(name="n", payload=1), over, NOW)["storage"] == "s3"


# --- visibility and permissions ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("scope", "caller", "sees"), [
    ("private", agent(A), True), ("private", agent(B), False),
    ("group", agent(A), True), ("group", agent(B), True), ("group", agent(C), False),
    ("tenant", agent(C), True), ("public", agent(C), True),
    ("private", person("admin"), True), ("group", person("admin"), True),
    ("private", person("observer"), False), ("group", person("observer"), False),
    ("tenant", person("observer"), False), ("public", person("observer"), True),
    ("public", agent(A, tenant="t2"), False), ("public", agent(C, role="no-such-role"), False),
])
def test_who_sees_a_context(scope: str, caller: BusCaller, sees: bool) -> None:
    context = record(scope, members=[B] if scope == "group" else None)
    assert may_see(caller, context) is sees
    if sees:
        assert visible(caller, context, "ctx1", NOW)["id"] == "ctx1"
    else:
        with pytest.raises(NotFound):
            visible(caller, context, "ctx1", NOW)


def test_missing_hidden_and_expired_are_the_same_404() -> None:
    expired = record("tenant", expires_epoch=int(NOW.timestamp()))
    problems = []
    for caller, context in ((agent(A), None), (agent(B), record("private")), (agent(A), expired)):
        with pytest.raises(NotFound) as raised:
            visible(caller, context, "ctx1", NOW)
        problems.append((raised.value.detail, raised.value.slug))
    assert len(set(problems)) == 1
    assert not is_expired(record("tenant", expires_epoch=int(NOW.timestamp()) + 1), NOW)
    assert not is_expired(record("tenant"), NOW + timedelta(days=3650))  # no TTL: never expires


def test_who_writes_and_deletes() -> None:
    group = record("group", members=[B])
    require_update(agent(A), group, changes_access=True)
    require_update(agent(B), group, changes_access=False)
    require_update(person("admin"), group, changes_access=True)
    with pytest.raises(Forbidden, match="scope or members"):
        require_update(agent(B), group, changes_access=True)
    with pytest.raises(Forbidden, match="owner or a member"):
        require_update(agent(C), record("tenant"), changes_access=False)
    with pytest.raises(Forbidden) as refused:
        require_update(agent(A, role="agent-consumer"), group, changes_access=False)
    assert refused.value.slug == "bus-role"
    with pytest.raises(Forbidden):
        require_update(person("observer"), record("public", owner=A), changes_access=False)
    require_delete(agent(A), group)
    require_delete(person("admin"), group)
    with pytest.raises(Forbidden):
        require_delete(agent(B), group)


# --- versions ------------------------------------------------------------------------------------------------------

def test_next_version_merges_metadata_and_restarts_the_ttl() -> None:
    first = record("group", members=[B], ttl_seconds=None)
    first = {**first, "ttl_seconds": 600, "tags": ["a"]}
    body = ContextUpdate(payload_base64="AAE=", tags=["b"])
    later = NOW + timedelta(minutes=5)
    second = next_record(agent(B), first, body, content_of(body), later)
    assert (second["version"], second["tags"], second["members"], second["owner"]) == (2, ["b"], [B], f"agent:{A}")
    assert second["updated_by"] == f"agent:{B}" and second["created_at"] == first["created_at"]
    assert second["expires_epoch"] == int((later + timedelta(seconds=600)).timestamp())
    assert second["encoding"] == "binary" and second["size"] == 2
    assert not changes_access(first, body)
    assert changes_access(first, ContextUpdate(payload=1, members=[C])) and changes_access(
        first, ContextUpdate(payload=1, scope="tenant"))
    leaving = ContextUpdate(payload=1, scope="tenant")
    assert next_record(agent(A), first, leaving, content_of(leaving), later)["members"] == []
    with pytest.raises(ValidationProblem):
        keep_members = ContextUpdate(payload=1, scope="tenant", members=[B])
        next_record(agent(A), first, keep_members, content_of(keep_members), later)


def test_views_show_json_or_base64_or_a_download() -> None:
    json_record = record("tenant")
    assert context_view(json_record, data=b'{"x":1}')["payload"] == {"x": 1}
    binary = {**json_record, "encoding": "binary"}
    assert context_view(binary, data=b"\x00\x01")["payload_base64"] == "AAE="
    in_s3 = context_view(json_record, download_url="https://s3/x")
    assert in_s3["download_url"] == "https://s3/x" and "payload" not in in_s3


def test_events_name_the_change_never_the_payload() -> None:
    detail_type, detail = context_event("updated", {**record("tenant"), "payload": b"secret"})
    assert detail_type == "context.updated"
    assert detail == {"tenant_id": "t1", "context_id": "ctx1", "version": 1, "name": "plan", "scope": "tenant"}


# --- the long poll -------------------------------------------------------------------------------------------------

class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_long_poll_returns_when_the_version_arrives() -> None:
    clock = FakeClock()
    heads = iter([{"version": 1}, {"version": 1}, {"version": 3}])
    head, arrived = wait_for_version(lambda: next(heads), 2, limit_seconds=25, clock=clock, sleep=clock.sleep,
                                     now=lambda: NOW)
    assert (head, arrived, clock.sleeps) == ({"version": 3}, True, [0.25, 0.25])


def test_long_poll_times_out_within_25_seconds() -> None:
    clock = FakeClock()
    reads: list[int] = []

    def read() -> dict[str, Any]:
        reads.append(1)
        return {"version": 1}

    head, arrived = wait_for_version(read, 2, limit_seconds=600, clock=clock, sleep=clock.sleep, now=lambda: NOW)
    assert (head, arrived) == ({"version": 1}, False)
    assert clock.now == pytest.approx(25.0) and len(reads) == 101  # every 0.25 s, capped at 25 s


def test_long_poll_ends_when_the_context_goes() -> None:
    clock = FakeClock()
    assert wait_for_version(lambda: None, 2, limit_seconds=5, clock=clock, sleep=clock.sleep) == (None, True)
    expired = {"version": 1, "expires_epoch": int(NOW.timestamp())}
    assert wait_for_version(lambda: expired, 2, limit_seconds=5, clock=clock, sleep=clock.sleep,
                            now=lambda: NOW) == (expired, True)
    assert clock.sleeps == []


# --- the service with fakes ----------------------------------------------------------------------------------------

class FakeStore:
    def __init__(self, fail_with: Exception | None = None) -> None:
        self.fail_with = fail_with
        self.items: dict[tuple[str, int], dict[str, Any]] = {}

    def create(self, record: dict[str, Any], data: bytes | None, s3_key: str | None) -> None:
        if self.fail_with:
            raise self.fail_with
        self.items[(record["id"], 1)] = {**record, "payload": data, "s3_key": s3_key}

    def head(self, tenant_id: str, context_id: str) -> dict[str, Any] | None:
        versions = [v for (cid, _), v in self.items.items() if cid == context_id]
        return max(versions, key=lambda v: v["version"]) if versions else None


class FakeBucket:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.expiries: dict[str, str] = {}

    def key_for(self, tenant_id: str, context_id: str, version: int) -> str:
        return f"contexts/{tenant_id}/{context_id}/v{version}-n"

    def put(self, key: str, data: bytes, content_type: str, expiry: str | None = None) -> None:
        self.objects[key] = data
        if expiry:
            self.expiries[key] = expiry

    def set_expiry(self, key: str, expiry: str) -> None:
        self.expiries[key] = expiry

    def remove(self, keys: list[str]) -> None:
        for key in keys:
            self.objects.pop(key, None)

    def download_url(self, key: str, content_type: str, expires_seconds: int) -> str:
        return f"https://s3.test/{key}"


class FakeEvents:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        self.sent.append((detail_type, dict(detail)))


def service(store: FakeStore, bucket: FakeBucket, events: FakeEvents) -> ContextService:
    return ContextService(store, bucket, events, clock=lambda: NOW, new_id=lambda: "ctx9")  # type: ignore[arg-type]


def test_a_large_payload_goes_to_s3_and_the_event_follows_the_write() -> None:
    store, bucket, events = FakeStore(), FakeBucket(), FakeEvents()
    body = ContextCreate(name="big", payload_base64=base64.b64encode(b"y" * (INLINE_LIMIT_BYTES + 1)).decode())
    view = service(store, bucket, events).create(agent(A), body, content_of(body))
    assert view["storage"] == "s3" and view["download_url"] == "https://s3.test/contexts/t1/ctx9/v1-n"
    assert store.items[("ctx9", 1)]["payload"] is None and bucket.objects[store.items[("ctx9", 1)]["s3_key"]]
    assert [e[0] for e in events.sent] == ["context.created"]


def test_a_failed_write_leaves_no_object_and_no_event() -> None:
    store, bucket, events = FakeStore(fail_with=PreconditionFailed("stale")), FakeBucket(), FakeEvents()
    body = ContextCreate(name="big", payload_base64=base64.b64encode(b"y" * (INLINE_LIMIT_BYTES + 1)).decode())
    with pytest.raises(PreconditionFailed):
        service(store, bucket, events).create(agent(A), body, content_of(body))
    assert bucket.objects == {} and events.sent == []


# --- streams -------------------------------------------------------------------------------------------------------

MIB = 1024 * 1024
SUM = base64.b64encode(hashlib.sha256(b"x").digest()).decode()


def stream_body(**fields: Any) -> dict[str, Any]:
    return {"size": 11 * MIB, "sha256": "a" * 64, "part_size": 5 * MIB, "part_checksums": [SUM] * 3, "name": "n",
            **fields}


@pytest.mark.parametrize("fields", [
    {"part_size": 5 * MIB - 1}, {"part_size": 512 * MIB + 1}, {"part_checksums": [SUM] * 2},
    {"part_checksums": [SUM, SUM, "short"]}, {"sha256": "z" * 64}, {"size": 0}, {"name": None},
    {"scope": "tenant", "members": [B]},
])
def test_bad_stream_starts_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        StreamStart.model_validate(stream_body(**fields))


def test_a_new_version_stream_needs_no_name() -> None:
    assert StreamStart.model_validate(stream_body(name=None, context_id="ctx1")).context_id == "ctx1"


def test_parts_sizes_and_the_missing_ones() -> None:
    stream = {"size": 11 * MIB, "part_size": 5 * MIB, "part_checksums": [SUM] * 3}
    assert [expected_size(stream, n) for n in (1, 2, 3)] == [5 * MIB, 5 * MIB, MIB]
    received = [{"number": 1, "size": 5 * MIB}, {"number": 3, "size": MIB}, {"number": 2, "size": 4 * MIB}]
    assert missing_parts(stream, received) == [2]  # a part held at the wrong size is uploaded again
    assert missing_parts(stream, []) == [1, 2, 3]


def test_whole_sha256_reads_chunk_by_chunk() -> None:
    chunks = [b"ab", b"", b"cde"]
    assert whole_sha256(iter(chunks)) == (hashlib.sha256(b"abcde").hexdigest(), 5)


@pytest.mark.parametrize("ttl, expected", [(None, None), (60, "1"), (86_400, "1"), (86_401, "7"),
                                           (30 * 86_400, "30"), (31_536_000, "366")])
def test_a_payload_expires_with_the_smallest_class_that_outlives_its_context(ttl: int | None,
                                                                            expected: str | None) -> None:
    from crewhouse.bus.contexts import expiry_class

    assert expiry_class(ttl) == expected
