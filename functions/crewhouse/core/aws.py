"""One place that builds boto3 clients.

``AWS_ENDPOINT_URL`` (from the function's settings) points every client at an AWS-compatible endpoint:
the embedded moto cloud, LocalStack, or nothing for real AWS. boto3 is imported lazily so that handler
modules stay cheap to import (cold starts).
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

from crewhouse.core.settings import CoreSettings

_lock = threading.Lock()


Credentials = tuple[str | None, str | None, str | None]


def _credentials(settings: CoreSettings) -> Credentials:
    """The function's own credentials (Lambda's ``AWS_ACCESS_KEY_ID`` …); all None means boto3's default chain."""
    return settings.aws_access_key_id, settings.aws_secret_access_key, settings.aws_session_token


# Keyed by the credentials too: locally many functions (each with its own role) share this process, and a
# client must never sign one function's calls with another's keys. In AWS there is one key set per sandbox.
@lru_cache(maxsize=256)
def _client(service: str, region: str, endpoint_url: str | None, signature_version: str | None,
            credentials: Credentials) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=30,
                    signature_version=signature_version)
    key, secret, token = credentials
    with _lock:  # boto3's default session is not thread-safe while creating clients
        return boto3.session.Session().client(
            service, region_name=region, endpoint_url=endpoint_url, config=config,
            aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
        )


def aws_client(service: str, settings: CoreSettings, *, signature_version: str | None = None) -> Any:
    """A cached boto3 client for ``service`` honouring the settings' region, endpoint and credentials.

    ``signature_version="s3v4"`` for S3 clients that presign: botocore otherwise presigns with SigV2 in us-east-1.
    """
    return _client(service, settings.aws_region, settings.aws_endpoint_url, signature_version,
                   _credentials(settings))


def aws_resource(service: str, settings: CoreSettings) -> Any:
    import boto3

    key, secret, token = _credentials(settings)
    with _lock:
        return boto3.session.Session().resource(
            service, region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url,
            aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
        )
