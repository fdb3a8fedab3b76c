"""The shapes the model-providers API accepts and answers (``/llm-providers``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

Kind = Literal["bedrock", "openai_compatible", "offline"]
KINDS: tuple[str, ...] = ("bedrock", "openai_compatible", "offline")
REGION_PATTERN = r"^[a-z]{2}(-gov)?-[a-z]+-\d$"
ID_PATTERN = r"^[0-9a-z]{26}$"
MAX_PROVIDERS = 20  # per tenant: the whole failover list is one Query, one page
DAY_PATTERN = r"^\d{4}-\d{2}-\d{2}$"


class ProviderFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    model: str | None = Field(default=None, min_length=1, max_length=200,
                              description="A Bedrock model or inference profile id, or the endpoint's model name")
    base_url: str | None = Field(default=None, min_length=8, max_length=2048,
                                 description="openai_compatible only: https on a public address, e.g. "
                                             "https://api.openai.com/v1")
    api_key: SecretStr | None = Field(default=None, min_length=1, max_length=4096,
                                      description="openai_compatible only; write-only (never answered)")
    region: str | None = Field(default=None, pattern=REGION_PATTERN, description="bedrock only, e.g. us-east-1")
    enabled: bool | None = None


class ProviderCreate(ProviderFields):
    name: str = Field(min_length=1, max_length=100)
    kind: Kind
    enabled: bool = True


class ProviderUpdate(ProviderFields):
    """Only the fields given change; ``"api_key": null`` removes the key."""


class Provider(BaseModel):
    id: str
    name: str
    kind: Kind
    model: str
    base_url: str | None = None
    region: str | None = None
    enabled: bool
    has_api_key: bool
    api_key_set_at: str | None = None
    position: int = Field(description="1-based place in the failover order")
    version: int
    created_at: str
    updated_at: str
    created_by: str


class ProviderPage(BaseModel):
    items: list[Provider]
    next_cursor: str | None = None


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[str] = Field(min_length=1, max_length=MAX_PROVIDERS,
                           description="Provider ids, first tried first; providers left out follow in their "
                                       "current order")


class TokenUsage(BaseModel):
    input_tokens: int
    output_tokens: int
    total_tokens: int


class TestResult(BaseModel):
    ok: bool
    provider_id: str
    kind: Kind
    model: str
    latency_ms: int
    usage: TokenUsage
    stop_reason: str
    text: str


class UsageRow(BaseModel):
    day: str
    provider_id: str
    agent_id: str | None = Field(description="The hosted agent the calls ran for; null: the chat and agent jobs")
    calls: int
    input_tokens: int
    output_tokens: int
    total_tokens: int


class UsagePage(BaseModel):
    items: list[UsageRow]
    next_cursor: str | None = None
