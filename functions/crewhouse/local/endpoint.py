"""Where the embedded cloud listens, for local code that calls back into it with boto3."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

DEFAULT_REGION = "us-east-1"
_state: dict[str, str | None] = {"url": None, "region": DEFAULT_REGION}


def set_endpoint_url(url: str | None, region: str = DEFAULT_REGION) -> None:
    _state["url"] = url
    _state["region"] = region
    _client.cache_clear()


def endpoint_url() -> str | None:
    return _state["url"]


def region() -> str:
    return _state["region"] or DEFAULT_REGION


@lru_cache(maxsize=32)
def _client(service: str, url: str | None, region_name: str) -> Any:
    import boto3

    return boto3.session.Session().client(service, region_name=region_name, endpoint_url=url,
                                          aws_access_key_id="test", aws_secret_access_key="test")


def local_client(service: str) -> Any:
    """A boto3 client for the embedded cloud (test credentials)."""
    if not endpoint_url():
        raise RuntimeError("the embedded cloud's endpoint is not set")
    return _client(service, endpoint_url(), region())
