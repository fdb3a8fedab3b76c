"""A shared key is read from Secrets Manager once per container and quarter hour, not at every use."""

from __future__ import annotations

import boto3
import pytest

from crewhouse.core.aws import aws_client, secret_key
from crewhouse.core.settings import CoreSettings
from tests.support.mock import mocked_aws


def test_the_key_is_read_once_and_then_served_from_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    with mocked_aws(monkeypatch):
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        arn = secrets.create_secret(Name="cursor-key", SecretString="first")["ARN"]
        settings = CoreSettings(aws_region="us-east-1")
        reads: list[str] = []
        aws_client("secretsmanager", settings).meta.events.register("before-call.secrets-manager.GetSecretValue",
                                            lambda **_: reads.append("read"))
        assert secret_key(settings, arn, None, name="CURSOR_SECRET_ARN") == b"first"
        secrets.put_secret_value(SecretId=arn, SecretString="second")
        assert secret_key(settings, arn, None, name="CURSOR_SECRET_ARN") == b"first"  # cached, not re-read
        assert reads == ["read"]
