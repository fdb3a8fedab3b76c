"""A hosted agent's temperature reaches each provider's request; without one the model keeps its default."""

from __future__ import annotations

import json
from typing import Any

import boto3
import httpx
from botocore.stub import Stubber

from crewhouse.llm.bedrock import BedrockProvider
from crewhouse.llm.openai_compatible import OpenAICompatibleProvider
from crewhouse.llm.provider import FailoverProvider, text_message

HELLO = [text_message("user", "hello")]


def bedrock_request(temperature: float | None) -> dict[str, Any]:
    runtime = boto3.client("bedrock-runtime", region_name="us-east-1", aws_access_key_id="x",
                           aws_secret_access_key="x")
    stubber = Stubber(runtime)
    inference: dict[str, Any] = {"maxTokens": 64}
    if temperature is not None:
        inference["temperature"] = temperature
    stubber.add_response("converse", {
        "output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}}, "stopReason": "end_turn",
        "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}, "metrics": {"latencyMs": 1}},
        expected_params={"modelId": "m", "messages": HELLO, "inferenceConfig": inference})
    with stubber:
        FailoverProvider([BedrockProvider(runtime, "m")]).converse(messages=HELLO, max_tokens=64,
                                                                  temperature=temperature)
    stubber.assert_no_pending_responses()
    return inference


def test_bedrock_sends_the_temperature_in_the_inference_config() -> None:
    assert bedrock_request(0.3) == {"maxTokens": 64, "temperature": 0.3}
    assert bedrock_request(None) == {"maxTokens": 64}


def openai_payload(temperature: float | None) -> dict[str, Any]:
    sent: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": "hi"},
                                                      "finish_reason": "stop"}],
                                         "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

    provider = OpenAICompatibleProvider("https://llm.example/v1", "m", transport=httpx.MockTransport(answer))
    provider.converse(messages=HELLO, temperature=temperature)
    return sent[0]


def test_an_openai_compatible_endpoint_gets_the_temperature_only_when_set() -> None:
    assert openai_payload(0.0)["temperature"] == 0.0
    assert "temperature" not in openai_payload(None)
