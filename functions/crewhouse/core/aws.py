"""One place that builds boto3 clients.

``AWS_ENDPOINT_URL`` (from the function's settings) points every client at an AWS-compatible endpoint:
the embedded moto cloud, LocalStack, or nothing for real AWS. boto3 is imported lazily so that handler
modules stay cheap to import (cold starts).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

from crewhouse.core.settings import CoreSettings

_lock = threading.Lock()
Credentials = tuple[str | None, str | None, str | None]
ClientKey = tuple[str, str, str | None, str | None, Credentials]
_clients: dict[ClientKey, Any] = {}
_session: Any = None  # one botocore session: its loader reads each service model once for every client
MAX_CLIENTS = 256  # locally one set per function role and service; AWS has one key set per sandbox


def _credentials(settings: CoreSettings) -> Credentials:
    """The function's own credentials (Lambda's ``AWS_ACCESS_KEY_ID`` …); all None means boto3's default chain."""
    return settings.aws_access_key_id, settings.aws_secret_access_key, settings.aws_session_token


def _shared_session() -> Any:
    global _session
    if _session is None:
        import boto3

        _session = boto3.session.Session()
    return _session


# Keyed by the credentials too: locally many functions (each with its own role) share this process, and a
# client must never sign one function's calls with another's keys.
def _client(key: ClientKey) -> Any:
    client = _clients.get(key)
    if client is not None:
        return client
    from botocore.config import Config

    service, region, endpoint_url, signature_version, (access_key, secret, token) = key
    with _lock:  # boto3 sessions are not thread-safe while creating clients; one build per key
        client = _clients.get(key)
        if client is None:
            if len(_clients) >= MAX_CLIENTS:
                _clients.clear()  # credentials renewed many times over: drop the stale ones
            config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=30,
                            signature_version=signature_version)
            client = _clients[key] = _shared_session().client(
                service, region_name=region, endpoint_url=endpoint_url, config=config,
                aws_access_key_id=access_key, aws_secret_access_key=secret, aws_session_token=token,
            )
    return client


_forget_with_clients: list[Callable[[], object]] = []  # per-container caches of what AWS holds


def forget_with_clients(forget: Callable[[], object]) -> None:
    """Call ``forget`` whenever the clients are cleared: a cache of what the AWS behind them holds (a marker known
    to be written) is only true of that AWS (tests start a fresh moto behind new clients)."""
    _forget_with_clients.append(forget)


def clear_clients() -> None:
    """Forget every cached client and the session (tests: clients made outside ``mock_aws`` would bypass it), and
    the caches registered with :func:`forget_with_clients`."""
    global _session
    with _lock:
        _clients.clear()
        _session = None
    for forget in _forget_with_clients:
        forget()


def aws_client(service: str, settings: CoreSettings, *, signature_version: str | None = None) -> Any:
    """A cached boto3 client for ``service`` honouring the settings' region, endpoint and credentials.

    ``signature_version="s3v4"`` for S3 clients that presign: botocore otherwise presigns with SigV2 in us-east-1.
    """
    return _client((service, settings.aws_region, settings.aws_endpoint_url, signature_version,
                    _credentials(settings)))


def aws_resource(service: str, settings: CoreSettings) -> Any:
    key, secret, token = _credentials(settings)
    with _lock:
        return _shared_session().resource(
            service, region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url,
            aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
        )


def secret_key(settings: CoreSettings, secret_arn: str | None, fixed: str | None, *, name: str) -> bytes:
    """A key the functions share: ``fixed`` when given (locally and in tests), else the Secrets Manager secret,
    cached for 15 minutes by Powertools (one GetSecretValue per container and quarter hour)."""
    if fixed:
        return fixed.encode()
    if not secret_arn:
        raise RuntimeError(f"{name} is not configured")
    return str(_secrets_provider(aws_client("secretsmanager", settings)).get(secret_arn, max_age=900)).encode()


_secrets_providers: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _secrets_provider(client: Any) -> Any:
    """One Powertools provider per client: its cache lives in the provider, so a provider made per call read the
    secret anew at every call (one GetSecretValue per signed cursor, per authorizer cache miss)."""
    with _lock:
        provider = _secrets_providers.get(client)
        if provider is None:
            from aws_lambda_powertools.utilities import parameters

            provider = _secrets_providers[client] = parameters.SecretsProvider(boto3_client=client)
        return provider
