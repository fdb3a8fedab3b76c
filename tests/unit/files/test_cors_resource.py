"""The files bucket's CORS custom resource (crewhouse.files.cors): what it asks S3, what it answers CloudFormation."""

from __future__ import annotations

from typing import Any

import pytest

from crewhouse.files import cors

RULE = {"ID": "console-uploads", "AllowedOrigins": ["https://d111.cloudfront.net"],
        "AllowedMethods": ["GET", "PUT", "POST"], "AllowedHeaders": ["x-amz-checksum-sha256"],
        "ExposeHeaders": ["ETag"], "MaxAgeSeconds": "3600"}  # CloudFormation passes numbers as strings


class FakeS3:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail = fail

    def put_bucket_cors(self, **kwargs: Any) -> None:
        if self.fail:
            raise RuntimeError("AccessDenied")
        self.calls.append(("put", kwargs))

    def delete_bucket_cors(self, **kwargs: Any) -> None:
        if self.fail:
            raise RuntimeError("AccessDenied")
        self.calls.append(("delete", kwargs))


class Context:
    function_name = "cors"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:cors"
    aws_request_id = "request"


def event(request_type: str) -> dict[str, Any]:
    return {"RequestType": request_type, "ResponseURL": "https://cloudformation-response.example/x",
            "StackId": "stack", "RequestId": "r1", "LogicalResourceId": "Rule",
            "ResourceProperties": {"ServiceToken": "arn", "BucketName": "files", "CorsRules": [RULE]}}


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    sent: list[tuple[str, str, str]] = []
    monkeypatch.setattr(cors, "respond", lambda e, status, reason, physical: sent.append((status, reason, physical)))
    return sent


def test_create_puts_the_rule_in_s3s_shape(monkeypatch: pytest.MonkeyPatch,
                                           answers: list[tuple[str, str, str]]) -> None:
    s3 = FakeS3()
    cors.handler(event("Create"), Context(), s3=s3)
    assert s3.calls == [("put", {"Bucket": "files", "CORSConfiguration": {"CORSRules": [{
        "ID": "console-uploads", "AllowedOrigins": ["https://d111.cloudfront.net"],
        "AllowedMethods": ["GET", "PUT", "POST"], "AllowedHeaders": ["x-amz-checksum-sha256"],
        "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 3600}]}})]
    assert answers == [("SUCCESS", "", "files-cors")]


def test_delete_removes_the_rule_and_a_failure_does_not_hold_the_stack(
        monkeypatch: pytest.MonkeyPatch, answers: list[tuple[str, str, str]]) -> None:
    s3 = FakeS3()
    cors.handler({**event("Delete"), "PhysicalResourceId": "files-cors"}, Context(), s3=s3)
    assert s3.calls == [("delete", {"Bucket": "files"})]
    cors.handler({**event("Delete"), "PhysicalResourceId": "files-cors"}, Context(), s3=FakeS3(fail=True))
    assert [a[0] for a in answers] == ["SUCCESS", "SUCCESS"]


def test_a_failed_create_is_reported_to_cloudformation(monkeypatch: pytest.MonkeyPatch,
                                                       answers: list[tuple[str, str, str]]) -> None:
    cors.handler(event("Create"), Context(), s3=FakeS3(fail=True))
    ((status, reason, _),) = answers
    assert status == "FAILED" and "AccessDenied" in reason


def test_only_an_https_response_url_is_answered() -> None:
    with pytest.raises(ValueError, match="https"):
        cors.respond({**event("Create"), "ResponseURL": "file:///etc/passwd"}, "SUCCESS", "", "x")
