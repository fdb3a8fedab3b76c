"""The providers context's public surface: a tenant's own model providers, for any function that runs a model.

Other contexts code against exactly this::

    tenant_provider(tenant_id: str, settings: CoreSettings | None = None, *, provider_id: str | None = None,
                    agent_id: str | None = None) -> FailoverProvider | None   # an LLMProvider
        # A crewhouse.llm.provider.FailoverProvider over the tenant's enabled providers in failover order (the
        # provider ``provider_id`` first when it is enabled); every successful call adds its tokens and one call
        # to the day's usage row of (provider, ``agent_id``). None when the tenant has no enabled provider, or
        # the function has no PROVIDERS_TABLE: then use crewhouse.llm.factory.provider_chain(settings).
    ProvidersSettings          # PROVIDERS_TABLE, PROVIDERS_KEY_ID, PROVIDERS_CACHE_SECONDS (+ LlmSettings)
    forget_tenant(tenant_id: str) -> None   # drop this container's cached providers of a tenant

``settings``: the caller's settings; a :class:`ProvidersSettings` is used as is, anything else (or None) means
"read ProvidersSettings from this function's environment". The function needs the environment and grants that
``Providers.grant_tenant_providers(function)`` (cdk/crewhouse_cdk/constructs/providers.py) gives: read the
providers table, UpdateItem on it (usage), ``kms:Decrypt`` on the providers' key, and Bedrock Converse.

Decrypted API keys stay in this container's memory for ``PROVIDERS_CACHE_SECONDS`` (5 minutes), per tenant: a
tenant's entry holds only its own providers. In local mode a ``bedrock`` provider runs as the offline provider,
as ``crewhouse.llm.factory.provider_names`` does (the embedded cloud has no Bedrock).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from crewhouse.core.aws import aws_client
from crewhouse.core.observability import logger
from crewhouse.core.settings import CoreSettings, load_settings
from crewhouse.core.table import Table
from crewhouse.llm.provider import FailoverProvider, LLMProvider
from crewhouse.providers.envelope import KeyUnavailable
from crewhouse.providers.logic import MeteredProvider, ProviderService, chain_order
from crewhouse.providers.settings import ProvidersSettings
from crewhouse.providers.store import DynamoProviders, DynamoUsage, KmsKeys

__all__ = ["ProvidersSettings", "forget_tenant", "provider_service", "tenant_provider"]

MAX_CACHED_TENANTS = 256
Record = dict[str, Any]
# (table, tenant) -> (when read, [(record, decrypted api key)]): one tenant's providers per entry, never mixed.
_cache: dict[tuple[str, str], tuple[float, list[tuple[Record, str | None]]]] = {}
_lock = threading.Lock()


def forget_tenant(tenant_id: str) -> None:
    with _lock:
        for key in [k for k in _cache if k[1] == tenant_id]:
            del _cache[key]


def _providers_settings(settings: CoreSettings | None) -> ProvidersSettings:
    return settings if isinstance(settings, ProvidersSettings) else load_settings(ProvidersSettings)


def _table(settings: ProvidersSettings) -> Table:
    assert settings.providers_table
    return Table(aws_client("dynamodb", settings), settings.providers_table)


def connect(settings: ProvidersSettings, record: Mapping[str, Any], api_key: str | None) -> LLMProvider:
    """The Converse provider a record describes (no usage recording: see :class:`MeteredProvider`)."""
    kind = record["kind"]
    if kind == "bedrock" and not settings.crewhouse_local:
        from crewhouse.llm.bedrock import BedrockProvider

        region = record.get("region") or settings.aws_region
        regional = settings if region == settings.aws_region else settings.model_copy(update={"aws_region": region})
        return BedrockProvider(aws_client("bedrock-runtime", regional), str(record["model"]))
    if kind == "openai_compatible":
        from crewhouse.llm.openai_compatible import OpenAICompatibleProvider
        from crewhouse.providers.transport import guarded_transport

        return OpenAICompatibleProvider(str(record["base_url"]), str(record["model"]), api_key, timeout=30.0,
                                        transport=guarded_transport(allow_loopback=settings.crewhouse_local))
    from crewhouse.llm.offline import OfflineProvider

    return OfflineProvider()


def url_checker(settings: ProvidersSettings) -> Any:
    from crewhouse.core.ssrf import check_url

    def check(url: str) -> None:
        check_url(url, allow_loopback=settings.crewhouse_local)

    return check


def provider_service(settings: ProvidersSettings | None = None) -> ProviderService:
    settings = _providers_settings(settings)
    table = _table(settings)
    return ProviderService(DynamoProviders(table), KmsKeys(aws_client("kms", settings), settings.providers_key_id),
                           url_checker(settings), lambda record, key: connect(settings, record, key),
                           DynamoUsage(table), test_max_tokens=settings.provider_test_max_tokens,
                           on_change=forget_tenant)


def _usable(settings: ProvidersSettings, tenant_id: str) -> list[tuple[Record, str | None]]:
    """The tenant's providers with their API keys, from this container's cache while it is fresh."""
    assert settings.providers_table
    key = (settings.providers_table, tenant_id)
    cached = _cache.get(key)
    if cached is not None and time.monotonic() - cached[0] <= settings.providers_cache_seconds:
        return cached[1]
    service = provider_service(settings)
    records, order = service.store.listing(tenant_id)
    usable: list[tuple[Record, str | None]] = []
    for record in chain_order(records, (order or {}).get("ids"), None):
        try:
            usable.append((record, service.api_key(record)))
        except KeyUnavailable:
            logger.warning("a provider's API key could not be decrypted; it is left out",
                           extra={"tenant_id": tenant_id, "provider_id": record["id"]})
    with _lock:
        if len(_cache) >= MAX_CACHED_TENANTS:
            _cache.clear()
        _cache[key] = (time.monotonic(), usable)
    return usable


def tenant_provider(tenant_id: str, settings: CoreSettings | None = None, *, provider_id: str | None = None,
                    agent_id: str | None = None) -> FailoverProvider | None:
    providers_settings = _providers_settings(settings)
    if not providers_settings.providers_table:
        return None
    usable = _usable(providers_settings, tenant_id)
    if not usable:
        return None
    if provider_id:
        usable = sorted(usable, key=lambda pair: pair[0]["id"] != provider_id)
    ledger = DynamoUsage(_table(providers_settings))
    return FailoverProvider([MeteredProvider(connect(providers_settings, record, key), tenant_id, record["id"],
                                             agent_id, ledger) for record, key in usable])
