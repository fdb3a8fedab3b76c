"""boto3 clients are cached per credentials: in the local cloud many functions (roles) share one process."""

from __future__ import annotations

from crewhouse.core.aws import aws_client
from crewhouse.core.settings import CoreSettings


def settings(key: str, token: str) -> CoreSettings:
    return CoreSettings.from_environment({"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": f"{key}-secret",
                                          "AWS_SESSION_TOKEN": token, "AWS_ENDPOINT_URL": "http://127.0.0.1:1"})


def test_a_client_signs_with_the_credentials_of_the_settings_it_was_built_for() -> None:
    a, b = aws_client("sqs", settings("ASIAA", "token-a")), aws_client("sqs", settings("ASIAB", "token-b"))
    assert a is not b
    assert (a._request_signer._credentials.access_key, a._request_signer._credentials.token) == ("ASIAA", "token-a")
    assert (b._request_signer._credentials.access_key, b._request_signer._credentials.token) == ("ASIAB", "token-b")
    assert aws_client("sqs", settings("ASIAA", "token-a")) is a  # still one client per function and service


def test_the_secret_parts_stay_out_of_the_settings_repr() -> None:
    shown = repr(settings("ASIAA", "token-a"))
    assert "ASIAA-secret" not in shown and "token-a" not in shown
