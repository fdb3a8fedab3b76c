"""A moto server on a free loopback port, for component tests of the local gap fillers."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3

REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_moto_server() -> Iterator[str]:
    """Start ThreadedMotoServer in-process with the local Lambda runtime installed; yields the endpoint."""
    from moto.server import ThreadedMotoServer

    import crewhouse.local.lambda_runtime as lambda_runtime

    for key, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                       "AWS_DEFAULT_REGION": REGION}.items():
        os.environ.setdefault(key, value)
    lambda_runtime.install()
    port = free_port()
    os.environ["MOTO_PORT"] = str(port)  # moto's Step Functions interpreter calls back through this port
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    lambda_runtime.set_endpoint(endpoint)
    try:
        yield endpoint
    finally:
        server.stop()


def client(service: str, endpoint: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint,
                        aws_access_key_id="test", aws_secret_access_key="test")


@contextmanager
def embedded_cloud_environment() -> Iterator[None]:
    """Around embedded clouds in a test process: none may start while ``mock_aws`` is active (it would reset the
    cloud's moto state), and the process environment a cloud sets is given back as it was found."""
    from moto.core.models import MockAWS

    from crewhouse.local.cloud import LOCAL_PROCESS_ENVIRONMENT

    assert not MockAWS._nested_count, "mock_aws is active: it would reset the embedded cloud's moto state"
    saved = {name: os.environ.get(name) for name in ("MOTO_PORT", *LOCAL_PROCESS_ENVIRONMENT)}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
