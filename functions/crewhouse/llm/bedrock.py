"""Amazon Bedrock through the Converse API (boto3 ``bedrock-runtime``): the default provider in AWS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crewhouse.llm.provider import ConverseResult, Message, ProviderError, ProviderUnavailable

RETRYABLE = {"ThrottlingException", "ServiceUnavailableException", "InternalServerException",
             "ModelNotReadyException", "ModelTimeoutException", "ServiceQuotaExceededException"}


@dataclass
class BedrockProvider:
    client: Any  # boto3 bedrock-runtime client
    model_id: str  # a model id or an inference profile id (e.g. "us.anthropic.claude-…")
    name: str = "bedrock"

    def converse(self, *, messages: list[Message], system: list[dict[str, Any]] | None = None,
                 tool_config: dict[str, Any] | None = None, max_tokens: int = 1024,
                 temperature: float | None = None) -> ConverseResult:
        from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

        inference: dict[str, Any] = {"maxTokens": max_tokens}
        if temperature is not None:
            inference["temperature"] = temperature
        request: dict[str, Any] = {"modelId": self.model_id, "messages": messages, "inferenceConfig": inference}
        if system:
            request["system"] = system
        if tool_config:
            request["toolConfig"] = tool_config
        try:
            response = self.client.converse(**request)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in RETRYABLE or status >= 500:
                raise ProviderUnavailable(f"{code or status}") from exc
            raise ProviderError(f"{code}: {exc}") from exc
        except (ConnectionError, ReadTimeoutError) as exc:
            raise ProviderUnavailable(type(exc).__name__) from exc
        return ConverseResult(message=response["output"]["message"], stop_reason=response["stopReason"],
                              usage=dict(response.get("usage", {})), provider=self.name)
