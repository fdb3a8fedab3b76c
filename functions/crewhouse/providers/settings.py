"""What a function that reads tenants' model providers needs from its environment.

The providers API has it; any other function that runs a model for a tenant (the chat, agent jobs, hosted agents)
gets the same variables and grants from ``Providers.grant_tenant_providers`` in ``cdk/…/providers.py`` and reads
this class through :mod:`crewhouse.providers.wiring` (``ProvidersSettings``).
"""

from __future__ import annotations

from crewhouse.llm.factory import LlmSettings


class ProvidersSettings(LlmSettings):
    # Providers (T#<tenant>#PROVIDERS / P#<id>), the failover order (… / ORDER) and daily usage
    # (T#<tenant>#USAGE / D#<day>#P#<provider>#A#<agent>). Unset: the function uses no tenant providers.
    providers_table: str | None = None
    # The customer-managed KMS key (its ARN) that wraps each provider's data key.
    providers_key_id: str | None = None
    # How long a warm container keeps a tenant's decrypted providers (like llm.factory.PROVIDER_MAX_AGE).
    providers_cache_seconds: float = 300.0
    # The /test call's answer budget, in tokens.
    provider_test_max_tokens: int = 64
