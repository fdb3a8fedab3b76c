"""Providers' rules without AWS: validation, failover order, envelope encryption with a fake KMS, metering."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from crewhouse.core.errors import NotFound, PreconditionFailed, ServiceUnavailable, ValidationProblem
from crewhouse.core.identity import Identity
from crewhouse.llm.offline import OfflineProvider
from crewhouse.llm.provider import ConverseResult, FailoverProvider, ProviderError, ProviderUnavailable
from crewhouse.providers.envelope import KeyUnavailable, Sealed, seal, unseal
from crewhouse.providers.logic import (
    MeteredProvider,
    ProviderService,
    chain_order,
    configuration_problems,
    failover_order,
    order_problems,
    usage_window,
)
from crewhouse.providers.models import ProviderCreate, ProviderUpdate
from crewhouse.providers.store import DynamoProviders
from tests.support.memory_table import MemoryTable

ALICE = Identity("t1", "alice", "member", frozenset())
BOB = Identity("t2", "bob", "admin", frozenset())


class FakeKms:
    """Wraps data keys with the context as part of the wrapping (as KMS binds it): another context fails."""

    def __init__(self) -> None:
        self.keys: dict[bytes, tuple[bytes, dict[str, str]]] = {}

    def generate_data_key(self, context: dict[str, str]) -> tuple[bytes, bytes]:
        plain, wrapped = os.urandom(32), os.urandom(48)
        self.keys[wrapped] = (plain, dict(context))
        return plain, wrapped

    def decrypt(self, wrapped: bytes, context: dict[str, str]) -> bytes:
        plain, bound = self.keys.get(bytes(wrapped), (b"", {}))
        if not plain or bound != context:
            raise KeyUnavailable("InvalidCiphertextException")
        return plain


def no_check(url: str) -> None:
    if "169.254" in url:
        raise ValueError("the address 169.254.169.254 is the cloud metadata service")


class Ledger:
    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []

    def add(self, tenant_id: str, day: str, provider_id: str, agent_id: str, usage: Mapping[str, int],
            expires_epoch: int) -> None:
        self.rows.append((tenant_id, day, provider_id, agent_id, usage))


class Broken:
    name = "broken"

    def __init__(self, error: Exception) -> None:
        self.error = error

    def converse(self, **kwargs: Any) -> ConverseResult:
        raise self.error


def service(connect: Any = None) -> tuple[ProviderService, Ledger, FakeKms, MemoryTable]:
    ledger, kms, table = Ledger(), FakeKms(), MemoryTable()
    counter = iter(range(10_000))
    made = ProviderService(DynamoProviders(table), kms, no_check, connect or (lambda record, key: OfflineProvider()),
                           ledger, new_id=lambda: f"{next(counter):026d}")
    return made, ledger, kms, table


# --- envelope ----------------------------------------------------------------------------------------------------

def test_a_sealed_key_opens_only_for_its_tenant_and_provider() -> None:
    kms = FakeKms()
    sealed = seal("sk-secret", "t1", "p1", kms)
    assert b"sk-secret" not in sealed.ciphertext and len(sealed.nonce) == 12
    assert unseal(sealed, "t1", "p1", kms) == "sk-secret"
    for tenant, provider in (("t2", "p1"), ("t1", "p2")):
        with pytest.raises(KeyUnavailable):
            unseal(sealed, tenant, provider, kms)


def test_the_associated_data_binds_the_ciphertext_even_with_the_data_key_in_hand() -> None:
    class LeakyKms(FakeKms):  # a KMS that ignored the context would still not open a moved ciphertext
        def decrypt(self, wrapped: bytes, context: dict[str, str]) -> bytes:
            return self.keys[bytes(wrapped)][0]

    kms = LeakyKms()
    sealed = seal("sk-secret", "t1", "p1", kms)
    assert unseal(sealed, "t1", "p1", kms) == "sk-secret"
    with pytest.raises(KeyUnavailable, match="does not belong"):
        unseal(Sealed(sealed.ciphertext, sealed.nonce, sealed.wrapped_key), "t2", "p1", kms)


# --- validation and order ----------------------------------------------------------------------------------------

def test_configuration_problems_are_named_all_at_once() -> None:
    problems = configuration_problems({"kind": "bedrock", "base_url": "https://x.example", "region": "us-east-1"},
                                      True, no_check)
    assert [p["path"] for p in problems] == ["body.model", "body.base_url", "body.api_key"]
    openai = {"kind": "openai_compatible", "model": "m", "region": "eu-west-1"}
    assert [p["path"] for p in configuration_problems(openai, False, no_check)] == ["body.base_url", "body.region"]
    unsafe = configuration_problems({"kind": "openai_compatible", "model": "m",
                                     "base_url": "http://169.254.169.254/v1"}, False, no_check)
    assert unsafe[0]["path"] == "body.base_url" and "metadata" in unsafe[0]["message"]
    assert configuration_problems({"kind": "offline", "model": "offline"}, False, no_check) == []


def test_the_request_model_refuses_unknown_kinds_and_bad_regions() -> None:
    with pytest.raises(ValidationError):
        ProviderCreate.model_validate({"name": "x", "kind": "anthropic"})
    with pytest.raises(ValidationError):
        ProviderCreate.model_validate({"name": "x", "kind": "bedrock", "model": "m", "region": "mars"})


def test_failover_order_puts_listed_ids_first_then_the_rest_by_creation() -> None:
    records = [{"id": i} for i in ("c", "a", "b", "d")]
    assert [r["id"] for r in failover_order(records, ["d", "gone", "b"])] == ["d", "b", "a", "c"]
    assert [r["id"] for r in failover_order(records, None)] == ["a", "b", "c", "d"]
    enabled = [{"id": "a", "enabled": True}, {"id": "b", "enabled": False}, {"id": "c", "enabled": True}]
    assert [r["id"] for r in chain_order(enabled, None, "c")] == ["c", "a"]
    assert [r["id"] for r in chain_order(enabled, None, "b")] == ["a", "c"]  # a disabled provider is never used


def test_order_problems_name_foreign_and_repeated_ids() -> None:
    assert order_problems(["a", "x", "a"], ["a", "b"]) == [
        {"path": "body.ids.1", "message": "x is not a provider of this tenant", "type": "unknown_provider"},
        {"path": "body.ids.2", "message": "a is listed twice", "type": "duplicate"}]


def test_usage_window_defaults_and_limits() -> None:
    today = date(2026, 12, 4)
    assert usage_window(None, None, today) == ("2026-11-05", "2026-12-04")
    assert usage_window("2026-12-01", "2026-12-02", today) == ("2026-12-01", "2026-12-02")
    for first, last in (("2026-12-03", "2026-12-01"), ("2024-01-01", "2026-01-01"), ("2026-02-30", None)):
        with pytest.raises(ValidationProblem):
            usage_window(first, last, today)


# --- the service ---------------------------------------------------------------------------------------------------

def test_create_seals_the_key_and_the_view_never_shows_it() -> None:
    svc, _, _kms, table = service()
    view = svc.create(ALICE, ProviderCreate.model_validate(
        {"name": "mine", "kind": "openai_compatible", "model": "gpt", "base_url": "https://api.example.com/v1",
         "api_key": "sk-123"}))
    assert view["has_api_key"] and view["api_key_set_at"] and view["position"] == 1
    assert not {"api_key", "key_ciphertext", "key_nonce", "key_wrapped"} & view.keys()
    stored = table.get(("T#t1#PROVIDERS", f"P#{view['id']}"))
    assert stored is not None and b"sk-123" not in bytes(stored["key_ciphertext"])
    assert svc.api_key(stored) == "sk-123"
    with pytest.raises(NotFound):
        svc.get(BOB, view["id"])  # another tenant's id answers as a missing one


def test_update_checks_the_version_changes_and_removes_the_key() -> None:
    svc, *_ = service()
    view = svc.create(ALICE, ProviderCreate.model_validate(
        {"name": "mine", "kind": "openai_compatible", "model": "gpt", "base_url": "https://api.example.com/v1",
         "api_key": "sk-1"}))
    with pytest.raises(PreconditionFailed):
        svc.update(ALICE, view["id"], ProviderUpdate.model_validate({"name": "x"}), '"7"')
    renamed = svc.update(ALICE, view["id"], ProviderUpdate.model_validate({"name": "x"}), '"1"')
    assert renamed["name"] == "x" and renamed["version"] == 2 and renamed["has_api_key"]
    cleared = svc.update(ALICE, view["id"], ProviderUpdate.model_validate({"api_key": None}), None)
    assert not cleared["has_api_key"] and cleared["api_key_set_at"] is None
    with pytest.raises(ValidationProblem) as refused:
        svc.update(ALICE, view["id"], ProviderUpdate.model_validate({"base_url": "http://169.254.169.254/"}), None)
    assert refused.value.extra["errors"][0]["path"] == "body.base_url"


def test_set_order_refuses_foreign_ids_and_answers_the_new_order() -> None:
    svc, *_ = service()
    a, b = (svc.create(ALICE, ProviderCreate(name=n, kind="offline"))["id"] for n in ("a", "b"))
    foreign = svc.create(BOB, ProviderCreate(name="c", kind="offline"))["id"]
    with pytest.raises(ValidationProblem):
        svc.set_order(ALICE, [b, foreign], None)
    items, version = svc.set_order(ALICE, [b], None)
    assert [(i["id"], i["position"]) for i in items] == [(b, 1), (a, 2)] and version == 1
    with pytest.raises(PreconditionFailed):
        svc.set_order(ALICE, [a], '"0"')
    assert [i["id"] for i in svc.listing(ALICE)] == [b, a]


def test_a_new_provider_is_placed_after_the_ordered_ones_from_one_read_of_the_list() -> None:
    svc, *_ = service()
    a, b = (svc.create(ALICE, ProviderCreate(name=n, kind="offline"))["id"] for n in ("a", "b"))
    svc.set_order(ALICE, [b, a], None)
    reads: list[str] = []
    listing = svc.store.listing

    def counted(tenant_id: str) -> Any:
        reads.append(tenant_id)
        return listing(tenant_id)

    svc.store.listing = counted  # type: ignore[method-assign]
    view = svc.create(ALICE, ProviderCreate(name="c", kind="offline"))
    assert view["position"] == 3 and reads == ["t1"]
    assert [i["id"] for i in svc.listing(ALICE)] == [b, a, view["id"]]


def test_the_test_call_reports_usage_or_the_providers_error() -> None:
    svc, ledger, *_ = service()
    pid = svc.create(ALICE, ProviderCreate(name="o", kind="offline"))["id"]
    result = svc.test(ALICE, pid)
    assert result["ok"] and result["model"] == "offline" and result["usage"]["total_tokens"] > 0
    assert ledger.rows and ledger.rows[-1][2:4] == (pid, "-")
    for error, status in ((ProviderUnavailable("HTTP 503"), 503), (ProviderError("HTTP 401: bad key"), 422),
                          (KeyError("choices"), 503)):
        failing, *_ = service(lambda record, key, error=error: Broken(error))
        fid = failing.create(ALICE, ProviderCreate(name="o", kind="offline"))["id"]
        with pytest.raises((ServiceUnavailable, ValidationProblem)) as caught:
            failing.test(ALICE, fid)
        assert caught.value.status == status


def test_metered_calls_record_tokens_per_provider_and_agent_and_failover_skips_the_unavailable() -> None:
    ledger = Ledger()
    when = datetime(2026, 12, 4, 10, tzinfo=UTC)
    chain = FailoverProvider([
        MeteredProvider(Broken(ProviderUnavailable("throttled")), "t1", "p1", "agent-7", ledger, clock=lambda: when),
        MeteredProvider(OfflineProvider(), "t1", "p2", "agent-7", ledger, clock=lambda: when)])
    result = chain.converse(messages=[{"role": "user", "content": [{"text": "list my tasks"}]}])
    assert result.provider == "offline"
    (row,) = ledger.rows
    assert row[:4] == ("t1", "2026-12-04", "p2", "agent-7") and row[4]["total_tokens"] == result.usage["totalTokens"]
