"""Build the configured provider chain (``LLM_PROVIDERS``, tried in order on throttling or 5xx)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crewhouse.core.settings import CoreSettings

if TYPE_CHECKING:  # settings modules import LlmSettings: the providers load when a chain is built
    from crewhouse.llm.provider import FailoverProvider


class LlmSettings(CoreSettings):
    llm_providers: str = "bedrock"  # comma-separated: bedrock, openai, offline
    bedrock_model_id: str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    openai_base_url: str = "https://api.openai.com/v1"
    openai_model: str = "gpt-4o-mini"
    openai_api_key_secret_arn: str | None = None
    crewhouse_local: bool = False


def provider_names(settings: LlmSettings) -> list[str]:
    names = [n.strip() for n in settings.llm_providers.split(",") if n.strip()]
    if settings.crewhouse_local:
        # The embedded cloud has no Bedrock; locally the offline provider stands in for it.
        names = ["offline" if n == "bedrock" else n for n in names]
    return list(dict.fromkeys(names)) or ["offline"]


PROVIDER_MAX_AGE = 900.0  # seconds: as long as an API key read from Secrets Manager stays cached
_chains: dict[LlmSettings, tuple[float, FailoverProvider]] = {}


def provider_chain(settings: LlmSettings) -> FailoverProvider:
    """The configured chain, built once per warm container (and settings) and again after ``PROVIDER_MAX_AGE``,
    so that a rotated API key is picked up; not once per message."""
    import time

    built = _chains.get(settings)
    if built is None or time.monotonic() - built[0] > PROVIDER_MAX_AGE:
        built = _chains[settings] = (time.monotonic(), build_provider(settings))
    return built[1]


def build_provider(settings: LlmSettings) -> FailoverProvider:
    from crewhouse.core.aws import aws_client
    from crewhouse.llm.provider import FailoverProvider, LLMProvider

    providers: list[LLMProvider] = []
    for name in provider_names(settings):
        if name == "bedrock":
            from crewhouse.llm.bedrock import BedrockProvider

            providers.append(BedrockProvider(aws_client("bedrock-runtime", settings), settings.bedrock_model_id))
        elif name == "openai":
            from crewhouse.llm.openai_compatible import OpenAICompatibleProvider

            key = None
            if settings.openai_api_key_secret_arn:
                from aws_lambda_powertools.utilities import parameters

                secrets = parameters.SecretsProvider(boto3_client=aws_client("secretsmanager", settings))
                key = str(secrets.get(settings.openai_api_key_secret_arn, max_age=900))
            providers.append(OpenAICompatibleProvider(settings.openai_base_url, settings.openai_model, key))
        elif name == "offline":
            from crewhouse.llm.offline import OfflineProvider

            providers.append(OfflineProvider())
        else:
            raise ValueError(f"unknown LLM provider {name!r}")
    return FailoverProvider(providers)
