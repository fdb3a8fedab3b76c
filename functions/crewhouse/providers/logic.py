"""Tenants' model providers: the rules (no AWS).

- A provider is ``bedrock`` (the function's role calls Converse; an optional region), ``openai_compatible``
  (a ``base_url`` that passes the SSRF guard, an optional API key) or ``offline`` (deterministic, no model).
- **Failover order** is an explicit list of ids the tenant sets with ``PUT /llm-providers/order``; providers it
  leaves out (and new ones) follow in creation order. The list answers in that order with each ``position``.
- **API keys are write-only**: sealed with envelope encryption (:mod:`crewhouse.providers.envelope`) on save,
  answered only as ``has_api_key`` and ``api_key_set_at``.
- **Usage**: every successful call through a tenant's provider adds its tokens and one call to the day's row of
  (provider, agent) (one UpdateItem with ADD, :class:`MeteredProvider`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from crewhouse.core.errors import Conflict, NotFound, ServiceUnavailable, ValidationProblem
from crewhouse.core.etag import require_version
from crewhouse.core.identity import Identity
from crewhouse.core.observability import logger
from crewhouse.llm.provider import ConverseResult, LLMProvider, Message, ProviderError, ProviderUnavailable
from crewhouse.providers.envelope import KeyService, KeyUnavailable, Sealed, seal, unseal
from crewhouse.providers.models import MAX_PROVIDERS, ProviderCreate, ProviderUpdate

Record = dict[str, Any]
NO_AGENT = "-"  # the usage row of calls made for no hosted agent (the chat, agent jobs)
MAX_USAGE_DAYS = 366
DEFAULT_USAGE_DAYS = 30
USAGE_RETENTION_DAYS = 400
TEST_PROMPT = "Reply with the single word: ok"
UrlCheck = Callable[[str], None]  # raises ValueError (crewhouse.core.ssrf.UnsafeUrl) with the reason


class ProviderStore(Protocol):
    def listing(self, tenant_id: str) -> tuple[list[Record], Record | None]: ...
    def get(self, tenant_id: str, provider_id: str) -> Record | None: ...
    def create(self, record: Record) -> None: ...
    def replace(self, record: Record, expected_version: int) -> None: ...
    def remove(self, tenant_id: str, provider_id: str, expected_version: int) -> None: ...
    def set_order(self, tenant_id: str, ids: list[str], expected_version: int | None) -> int: ...
    def usage(self, tenant_id: str, first: str, last: str, *, provider_id: str | None, agent_id: str | None,
              limit: int, start: Mapping[str, Any] | None) -> tuple[list[Record], Mapping[str, Any] | None]: ...


class UsageLedger(Protocol):
    def add(self, tenant_id: str, day: str, provider_id: str, agent_id: str, usage: Mapping[str, int],
            expires_epoch: int) -> None: ...


Connector = Callable[[Record, str | None], LLMProvider]  # a provider's record and API key -> a Converse provider


def now_iso(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- validation -----------------------------------------------------------------------------------------------

def _problem(path: str, message: str, kind: str = "value_error") -> dict[str, str]:
    return {"path": f"body.{path}", "message": message, "type": kind}


def configuration_problems(merged: Mapping[str, Any], has_key: bool, url_check: UrlCheck) -> list[dict[str, str]]:
    """Every problem of a provider's merged configuration (all at once)."""
    kind = merged["kind"]
    problems: list[dict[str, str]] = []
    if kind != "offline" and not merged.get("model"):
        problems.append(_problem("model", f"a {kind} provider needs a model id", "missing"))
    if kind == "openai_compatible":
        url = merged.get("base_url")
        if not url:
            problems.append(_problem("base_url", "an openai_compatible provider needs a base_url", "missing"))
        else:
            try:
                url_check(str(url))
            except ValueError as exc:
                problems.append(_problem("base_url", f"base_url is refused: {exc}", "unsafe_url"))
    else:
        if merged.get("base_url"):
            problems.append(_problem("base_url", "only an openai_compatible provider takes a base_url"))
        if has_key:
            problems.append(_problem("api_key", "only an openai_compatible provider takes an api_key"))
    if kind != "bedrock" and merged.get("region"):
        problems.append(_problem("region", "only a bedrock provider takes a region"))
    return problems


def _refuse(problems: list[dict[str, str]]) -> None:
    if problems:
        fields = ", ".join(dict.fromkeys(p["path"].removeprefix("body.") for p in problems))
        raise ValidationProblem(f"The provider's configuration is not valid: {fields}.", slug="provider-invalid",
                                errors=problems)


# --- order ------------------------------------------------------------------------------------------------------

def failover_order(records: Iterable[Record], order: Sequence[str] | None) -> list[Record]:
    """Providers in failover order: the ids of ``order`` first (as listed), then the rest by creation (ULIDs)."""
    by_id = {r["id"]: r for r in records}
    listed = [by_id[i] for i in dict.fromkeys(order or []) if i in by_id]
    rest = sorted((r for i, r in by_id.items() if i not in set(order or [])), key=lambda r: str(r["id"]))
    return listed + rest


def order_problems(ids: Sequence[str], known: Iterable[str]) -> list[dict[str, str]]:
    known_ids = set(known)
    problems = []
    seen: set[str] = set()
    for index, provider_id in enumerate(ids):
        if provider_id in seen:
            problems.append({"path": f"body.ids.{index}", "message": f"{provider_id} is listed twice",
                             "type": "duplicate"})
        elif provider_id not in known_ids:
            problems.append({"path": f"body.ids.{index}", "message": f"{provider_id} is not a provider of this "
                             "tenant", "type": "unknown_provider"})
        seen.add(provider_id)
    return problems


# --- views ------------------------------------------------------------------------------------------------------

VIEW_FIELDS = ("id", "name", "kind", "model", "base_url", "region", "enabled", "api_key_set_at", "version",
               "created_at", "updated_at", "created_by")


def provider_view(record: Mapping[str, Any], position: int) -> Record:
    """What the API answers: never the key's ciphertext, nonce or wrapped data key."""
    view = {name: record.get(name) for name in VIEW_FIELDS}
    view["has_api_key"] = record.get("key_ciphertext") is not None
    view["position"] = position
    return view


def sealed_of(record: Mapping[str, Any]) -> Sealed | None:
    if record.get("key_ciphertext") is None:
        return None
    return Sealed(bytes(record["key_ciphertext"]), bytes(record["key_nonce"]), bytes(record["key_wrapped"]))


def _key_fields(sealed: Sealed | None, at: str | None) -> Record:
    if sealed is None:
        return {"key_ciphertext": None, "key_nonce": None, "key_wrapped": None, "api_key_set_at": None}
    return {"key_ciphertext": sealed.ciphertext, "key_nonce": sealed.nonce, "key_wrapped": sealed.wrapped_key,
            "api_key_set_at": at}


# --- usage ------------------------------------------------------------------------------------------------------

def usage_window(first: str | None, last: str | None, today: date) -> tuple[str, str]:
    """``(from, to)`` as ISO days: to defaults to today, from to 30 days before it; at most 366 days."""
    problems = []
    parsed: dict[str, date] = {}
    for name, value in (("from", first), ("to", last)):
        if value is None:
            continue
        try:
            parsed[name] = date.fromisoformat(value)
        except ValueError:
            problems.append({"path": f"query.{name}", "message": "a day as YYYY-MM-DD", "type": "date_parsing"})
    if not problems:
        end = parsed.get("to", today)
        start = parsed.get("from", end - timedelta(days=DEFAULT_USAGE_DAYS - 1))
        if start > end:
            problems.append({"path": "query.from", "message": "from is after to", "type": "range"})
        elif (end - start).days >= MAX_USAGE_DAYS:
            problems.append({"path": "query.from", "message": f"at most {MAX_USAGE_DAYS} days at once",
                             "type": "range"})
        else:
            return start.isoformat(), end.isoformat()
    raise ValidationProblem("The usage window is not valid.", slug="usage-window", errors=problems)


def usage_view(record: Mapping[str, Any]) -> Record:
    agent = record.get("agent_id")
    return {"day": record["day"], "provider_id": record["provider_id"],
            "agent_id": None if agent in (None, NO_AGENT) else agent, "calls": int(record.get("calls", 0)),
            "input_tokens": int(record.get("input_tokens", 0)), "output_tokens": int(record.get("output_tokens", 0)),
            "total_tokens": int(record.get("total_tokens", 0))}


def counted_tokens(usage: Mapping[str, Any]) -> dict[str, int]:
    input_tokens = int(usage.get("inputTokens", 0) or 0)
    output_tokens = int(usage.get("outputTokens", 0) or 0)
    total = int(usage.get("totalTokens", 0) or 0) or input_tokens + output_tokens
    return {"input_tokens": input_tokens, "output_tokens": output_tokens, "total_tokens": total}


@dataclass
class MeteredProvider:
    """One of a tenant's providers: each successful call adds to its usage row of the day (per agent).

    A lost usage write is logged, never the call's failure (the answer is already paid for)."""

    inner: LLMProvider
    tenant_id: str
    provider_id: str
    agent_id: str | None
    ledger: UsageLedger
    name: str = ""
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def __post_init__(self) -> None:
        self.name = self.name or f"{self.inner.name}:{self.provider_id}"

    def converse(self, *, messages: list[Message], system: list[dict[str, Any]] | None = None,
                 tool_config: dict[str, Any] | None = None, max_tokens: int = 1024,
                 temperature: float | None = None) -> ConverseResult:
        result = self.inner.converse(messages=messages, system=system, tool_config=tool_config,
                                     max_tokens=max_tokens, temperature=temperature)
        moment = self.clock()
        expires = int((moment + timedelta(days=USAGE_RETENTION_DAYS)).timestamp())
        try:
            self.ledger.add(self.tenant_id, moment.date().isoformat(), self.provider_id, self.agent_id or NO_AGENT,
                            counted_tokens(result.usage), expires)
        except Exception:
            logger.warning("provider usage not recorded",
                           extra={"tenant_id": self.tenant_id, "provider_id": self.provider_id})
        return result


# --- the service ------------------------------------------------------------------------------------------------

@dataclass
class ProviderService:
    store: ProviderStore
    keys: KeyService
    url_check: UrlCheck
    connect: Connector
    ledger: UsageLedger
    test_max_tokens: int = 64
    new_id: Callable[[], str] = lambda: _ulid()
    on_change: Callable[[str], None] = lambda tenant_id: None  # forget a tenant's cached providers

    def ordered(self, tenant_id: str) -> list[Record]:
        records, order = self.store.listing(tenant_id)
        return failover_order(records, (order or {}).get("ids"))

    def listing(self, identity: Identity) -> list[Record]:
        return [provider_view(r, n) for n, r in enumerate(self.ordered(identity.tenant_id), 1)]

    def _record(self, tenant_id: str, provider_id: str) -> Record:
        record = self.store.get(tenant_id, provider_id)
        if record is None:
            raise NotFound(f"No model provider {provider_id}.", slug="provider-not-found")
        return record

    def _view(self, tenant_id: str, record: Record, ordered: list[Record] | None = None) -> Record:
        ids = [r["id"] for r in (self.ordered(tenant_id) if ordered is None else ordered)]
        position = ids.index(record["id"]) + 1 if record["id"] in ids else len(ids) + 1
        return provider_view(record, position)

    def get(self, identity: Identity, provider_id: str) -> Record:
        return self._view(identity.tenant_id, self._record(identity.tenant_id, provider_id))

    def create(self, identity: Identity, body: ProviderCreate) -> Record:
        tenant_id = identity.tenant_id
        fields = body.model_dump(exclude={"api_key"})
        if fields["kind"] == "offline" and not fields.get("model"):
            fields["model"] = "offline"
        _refuse(configuration_problems(fields, body.api_key is not None, self.url_check))
        records, order = self.store.listing(tenant_id)
        if len(records) >= MAX_PROVIDERS:
            raise Conflict(f"A tenant has at most {MAX_PROVIDERS} model providers.", slug="provider-limit")
        provider_id = self.new_id()
        now = now_iso()
        sealed = self._seal(body.api_key.get_secret_value(), tenant_id, provider_id) if body.api_key else None
        record = {**fields, "id": provider_id, "tenant_id": tenant_id, "version": 1, "created_at": now,
                  "updated_at": now, "created_by": identity.user_id, "updated_by": identity.user_id,
                  **_key_fields(sealed, now)}
        self.store.create(record)
        self.on_change(tenant_id)
        # Its place in the order read above (the list is not read twice).
        return self._view(tenant_id, record, failover_order([*records, record], (order or {}).get("ids")))

    def update(self, identity: Identity, provider_id: str, body: ProviderUpdate, if_match: str | None) -> Record:
        tenant_id = identity.tenant_id
        current = self._record(tenant_id, provider_id)
        version = int(current["version"])
        require_version(if_match, version)
        changed = body.model_dump(exclude_unset=True, exclude={"api_key"})
        for name in ("name", "model", "enabled"):  # required fields: null is not a change
            if name in changed and changed[name] is None:
                del changed[name]
        merged = {**current, **changed}
        key_given = "api_key" in body.model_fields_set
        has_key = body.api_key is not None if key_given else current.get("key_ciphertext") is not None
        _refuse(configuration_problems(merged, has_key, self.url_check))
        now = now_iso()
        if key_given:
            sealed = self._seal(body.api_key.get_secret_value(), tenant_id, provider_id) if body.api_key else None
            merged.update(_key_fields(sealed, now))
        record = {**merged, "version": version + 1, "updated_at": now, "updated_by": identity.user_id}
        self.store.replace(record, version)
        self.on_change(tenant_id)
        return self._view(tenant_id, record)

    def delete(self, identity: Identity, provider_id: str, if_match: str | None) -> None:
        current = self._record(identity.tenant_id, provider_id)
        require_version(if_match, int(current["version"]))
        self.store.remove(identity.tenant_id, provider_id, int(current["version"]))
        self.on_change(identity.tenant_id)

    def set_order(self, identity: Identity, ids: list[str], if_match: str | None) -> tuple[list[Record], int]:
        tenant_id = identity.tenant_id
        records, order = self.store.listing(tenant_id)
        _refuse_order(order_problems(ids, (r["id"] for r in records)))
        current = int((order or {}).get("version", 0))
        require_version(if_match, current)
        full = [r["id"] for r in failover_order(records, ids)]
        version = self.store.set_order(tenant_id, full, current if order is not None else None)
        self.on_change(tenant_id)
        return [provider_view(r, n) for n, r in enumerate(failover_order(records, full), 1)], version

    def order_version(self, tenant_id: str) -> int:
        _, order = self.store.listing(tenant_id)
        return int((order or {}).get("version", 0))

    def test(self, identity: Identity, provider_id: str) -> Record:
        """One small Converse call through this provider alone (enabled or not); its error as a problem."""
        record = self._record(identity.tenant_id, provider_id)
        try:
            api_key = self.api_key(record)
        except KeyUnavailable as exc:
            raise ServiceUnavailable(f"The provider's API key could not be decrypted: {exc}",
                                     slug="provider-key-unavailable") from exc
        provider = MeteredProvider(self.connect(record, api_key), identity.tenant_id, provider_id, None,
                                   self.ledger)
        began = time.perf_counter()
        try:
            result = provider.converse(messages=[{"role": "user", "content": [{"text": TEST_PROMPT}]}],
                                       max_tokens=self.test_max_tokens)
        except ProviderUnavailable as exc:
            raise ServiceUnavailable(f"The provider is unavailable: {exc}", slug="provider-unavailable",
                                     provider_id=provider_id) from exc
        except ProviderError as exc:
            raise ValidationProblem(f"The provider refused the request: {exc}", slug="provider-refused",
                                    provider_id=provider_id) from exc
        except Exception as exc:  # a provider answering something unexpected is its problem, not a 500
            raise ServiceUnavailable(f"The provider failed: {type(exc).__name__}: {str(exc)[:200]}",
                                     slug="provider-failed", provider_id=provider_id) from exc
        return {"ok": True, "provider_id": provider_id, "kind": record["kind"], "model": record["model"],
                "latency_ms": round((time.perf_counter() - began) * 1000), "usage": counted_tokens(result.usage),
                "stop_reason": result.stop_reason, "text": result.text[:500]}

    def api_key(self, record: Mapping[str, Any]) -> str | None:
        sealed = sealed_of(record)
        return None if sealed is None else unseal(sealed, str(record["tenant_id"]), str(record["id"]), self.keys)

    def usage(self, identity: Identity, first: str | None, last: str | None, provider_id: str | None,
              agent_id: str | None, *, limit: int, start: Mapping[str, Any] | None,
              today: date | None = None) -> tuple[list[Record], Mapping[str, Any] | None]:
        window = usage_window(first, last, today or datetime.now(UTC).date())
        rows, resume = self.store.usage(identity.tenant_id, *window, provider_id=provider_id, agent_id=agent_id,
                                        limit=limit, start=start)
        return [usage_view(r) for r in rows], resume

    def _seal(self, secret: str, tenant_id: str, provider_id: str) -> Sealed:
        return seal(secret, tenant_id, provider_id, self.keys)


def _refuse_order(problems: list[dict[str, str]]) -> None:
    if problems:
        raise ValidationProblem("The failover order names ids that are not this tenant's providers, or repeats "
                                "one.", slug="provider-order-invalid", errors=problems)


def _ulid() -> str:
    from ulid import ULID

    return str(ULID()).lower()


# --- the tenant's chain -------------------------------------------------------------------------------------------

def chain_order(records: Iterable[Record], order: Sequence[str] | None, first: str | None) -> list[Record]:
    """The enabled providers in failover order, ``first`` (when enabled) ahead of the rest."""
    ordered = [r for r in failover_order(records, order) if r.get("enabled", True)]
    if first:
        ordered.sort(key=lambda r: r["id"] != first)  # stable: the rest keep their order
    return ordered
