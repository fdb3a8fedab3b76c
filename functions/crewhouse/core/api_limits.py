"""Per-user and per-tenant request limits of the HTTP API: GCRA buckets (:mod:`crewhouse.core.rate_limit`) in
the rate-limit table, charged before any route runs (:class:`crewhouse.core.http.RateLimits`).

- ``T#<tenant>#U#<user> / RATE``: the caller's bucket (``tat_ms``) and how many request weights it has taken
  (``taken``). One conditional UpdateItem admits a request (a second only while the caller is faster than the
  rate, or was refused).
- ``T#<tenant>#RATE / RATE``: the tenant's bucket. Every user's request would make it a hot key and double the
  cost, so a user prepays the tenant a block of ``tenant_block`` request weights at a time: the request that
  opens a block (the user's first, 11th, 21st … with the default 10) also charges the tenant that block. The
  tenant's limit is thus approximate: each active user may run up to one block ahead of it.

Every item carries ``expires_epoch`` (the table's TTL): once a bucket would be full again it may go.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from crewhouse.core import table as t
from crewhouse.core.errors import TooManyRequests
from crewhouse.core.keys import owner_pk, tenant_prefix
from crewhouse.core.rate_limit import Gcra, RateState, ceil_seconds
from crewhouse.core.settings import CoreSettings

BUCKET = "RATE"
NO_TENANT = "-"  # a signed-in caller who belongs to no tenant yet (sign-up, invitations)
IDLE_GRACE_SECONDS = 60  # an expired bucket is a full one; the grace only spares a re-create


class RateLimitSettings(CoreSettings):
    """The limits of a stage (each API function's environment; CDK sets them from the stage's context)."""

    rate_limit_table: str | None = None  # unset: no limits (a function outside the HTTP API)
    rate_limit_user_per_second: int = 20
    rate_limit_user_burst: int = 40
    rate_limit_tenant_per_second: int = 200
    rate_limit_tenant_burst: int = 400
    rate_limit_tenant_block: int = 10
    # ``METHOD /route`` (API Gateway's route key) = weight, comma-separated: a route that costs more counts more.
    rate_limit_weights: str = "POST /jobs=5,POST /chat/sessions/{session_id}/messages=3"

    def user_bucket(self) -> Gcra:
        return Gcra.per_second(self.rate_limit_user_per_second, self.rate_limit_user_burst)

    def tenant_bucket(self) -> Gcra:
        return Gcra.per_second(self.rate_limit_tenant_per_second, self.rate_limit_tenant_burst)

    def weights(self) -> dict[str, int]:
        weights = {}
        for entry in self.rate_limit_weights.split(","):
            route, _, weight = entry.rpartition("=")
            if route.strip() and weight.strip().isdigit():
                weights[route.strip()] = int(weight)
        return weights


def user_key(tenant_id: str | None, user_id: str) -> t.ItemKey:
    return owner_pk(tenant_id or NO_TENANT, user_id), BUCKET


def tenant_key(tenant_id: str) -> t.ItemKey:
    return f"{tenant_prefix(tenant_id)}{BUCKET}", BUCKET


@dataclass(frozen=True)
class Charge:
    """A bucket after an admission, and the weights it has taken in all (its ``taken`` counter)."""

    state: RateState
    taken: int


class BucketStore:
    """The rate-limit table: the only place that knows its item shapes."""

    def __init__(self, table: t.Table) -> None:
        self._table = table

    def charge(self, key: t.ItemKey, bucket: Gcra, weight: int, now_ms: int, *, owner: str = "your") -> Charge:
        """Take ``weight`` from the bucket at ``key``, or raise 429 with the headers when it is too empty.

        A caller within the rate finds the bucket idle (``tat`` behind now), so that update goes first."""
        cost = bucket.cost_ms(weight)
        expires = now_ms // 1000 + ceil_seconds(bucket.burst_ms + cost) + IDLE_GRACE_SECONDS
        values: dict[str, Any] = {":now": now_ms, ":cost": cost, ":weight": weight, ":expires": expires}
        for _ in range(3):  # idle, else busy; a race between two requests only repeats the pair
            item = self._table.update(
                key, "SET tat_ms = :now + :cost, expires_epoch = :expires ADD taken :weight", values=values,
                condition="attribute_not_exists(tat_ms) OR tat_ms < :now", return_new=True)
            if item is not None:
                return Charge(bucket.admitted(int(item["tat_ms"]), now_ms), int(item["taken"]))
            try:
                item = self._table.update(
                    key, "SET tat_ms = tat_ms + :cost, expires_epoch = :expires ADD taken :weight",
                    values={**values, ":latest": bucket.latest_tat(now_ms, weight)},
                    condition="tat_ms >= :now AND tat_ms <= :latest", return_new=True, explain_failure=True)
            except t.ConditionFailed as failed:
                tat = int((failed.current or {}).get("tat_ms", 0))
                if tat >= now_ms:
                    state = bucket.refused(tat, now_ms, weight)
                    raise TooManyRequests(f"Over {owner} limit of {bucket.limit} requests at once; retry in "
                                          f"{state.retry_after_seconds} s.", slug="rate-limited",
                                          headers=state.headers()) from failed
                continue  # idle again meanwhile (tat fell behind now): the first update applies
            assert item is not None
            return Charge(bucket.admitted(int(item["tat_ms"]), now_ms), int(item["taken"]))
        raise TooManyRequests("Requests raced too often; retry.", slug="rate-limited", headers={"Retry-After": "1"})


def blocks_opened(taken: int, weight: int, block: int) -> int:
    """How many tenant blocks the request that brought ``taken`` to its value opened (block n opens at
    ``(n - 1) * block + 1``: a user's first request prepays)."""
    return -(-taken // block) - -(-(taken - weight) // block)


class ApiLimiter:
    """Charges a request to its caller's bucket and, block by block, to their tenant's."""

    def __init__(self, store: BucketStore, settings: RateLimitSettings,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._user = settings.user_bucket()
        self._tenant = settings.tenant_bucket()
        self._block = max(1, settings.rate_limit_tenant_block)
        self._weights: Mapping[str, int] = settings.weights()
        self._clock = clock

    def weight(self, route_key: str) -> int:
        return self._weights.get(route_key, 1)

    def admit(self, tenant_id: str | None, user_id: str, route_key: str) -> RateState:
        """The caller's bucket after this request (for the headers), or 429 (the user's or the tenant's)."""
        now_ms = int(self._clock() * 1000)
        weight = self.weight(route_key)
        charged = self._store.charge(user_key(tenant_id, user_id), self._user, weight, now_ms)
        opened = blocks_opened(charged.taken, weight, self._block)
        if tenant_id and opened:
            self._store.charge(tenant_key(tenant_id), self._tenant, opened * self._block, now_ms,
                               owner="your tenant's")
        return charged.state


def default_limiter() -> ApiLimiter | None:
    """The function's limiter, from its settings; None where no rate-limit table is configured. Built per request:
    the parsed settings and the boto3 client are cached where they are made (and dropped with them in tests)."""
    from crewhouse.core.aws import aws_client
    from crewhouse.core.settings import load_settings

    settings = load_settings(RateLimitSettings)
    if not settings.rate_limit_table:
        return None
    return ApiLimiter(BucketStore(t.Table(aws_client("dynamodb", settings), settings.rate_limit_table)), settings)
