from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from crewhouse.core.settings import function_environment
from tests.support.events import claims_for, http_event, lambda_context, response_json
from tests.support.members import seed_membership
from tests.support.routing import handler_for
from tests.support.tables import mocked_tables

BUCKET = "files-bucket"
ENV = {"FILES_TABLE": "files", "FILES_BUCKET": BUCKET, "TASKS_TABLE": "tasks", "NOTES_TABLE": "notes",
       "SEARCH_TABLE": "search", "IDEMPOTENCY_TABLE": "idem", "CURSOR_SIGNING_KEY": "test-key",
       "AWS_REGION": "us-east-1", "MALWARE_SCAN_REQUIRED": "false", "OCR_PROVIDER": "none"}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mocked_tables(monkeypatch, {"files": "FilesFilesTable",
                                      "tasks": "TasksTasksTable",
                                      "notes": "TasksTasksTable",
                                      "search": "StorageSearchIndexTable",
                                      "idem": "StorageIdempotencyTable"}) as dynamodb:
        # the notes table has the same keys (PK, SK)
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield dynamodb


@pytest.fixture
def s3(aws: Any) -> Any:
    return boto3.client("s3", region_name="us-east-1")


Call = Callable[..., tuple[int, dict[str, str], Any]]


@pytest.fixture
def env() -> dict[str, str]:
    return dict(ENV)


@pytest.fixture
def call(aws: Any, env: dict[str, str]) -> Call:
    """``call(method, path, body=None, user="u1", tenant="t1", role="member", query="")``."""

    def invoke(method: str, path: str, body: Any = None, *, user: str = "u1", tenant: str = "t1",
               role: str = "member", query: str = "") -> tuple[int, dict[str, str], Any]:
        seed_membership(tenant, user, role)
        event = http_event(method, path, body=body, claims=claims_for(tenant, user), query=query)
        with function_environment(env):
            response = handler_for(method, path)(event, lambda_context("files"))
        return response["statusCode"], response.get("headers", {}), response_json(response)

    return invoke


def object_created(key: str, version_id: str | None = None, bucket: str = BUCKET) -> dict[str, Any]:
    """S3's "Object Created" event as EventBridge delivers it."""
    return {"version": "0", "id": "e1", "detail-type": "Object Created", "source": "aws.s3",
            "account": "123456789012", "time": "2026-11-22T10:00:00Z", "region": "us-east-1",
            "resources": [f"arn:aws:s3:::{bucket}"],
            "detail": {"version": "0", "bucket": {"name": bucket},
                       "object": {"key": key, "size": 1, "etag": "x", "version-id": version_id},
                       "reason": "PutObject"}}


def scan_result(key: str, status: str, threats: list[str] | None = None, bucket: str = BUCKET) -> dict[str, Any]:
    return {"version": "0", "id": "e2", "detail-type": "GuardDuty Malware Protection Object Scan Result",
            "source": "aws.guardduty", "account": "123456789012", "region": "us-east-1", "resources": [],
            "detail": {"schemaVersion": "1.0", "scanStatus": "COMPLETED", "resourceType": "S3_OBJECT",
                       "s3ObjectDetails": {"bucketName": bucket, "objectKey": key, "eTag": "x", "versionId": None,
                                           "s3Throttled": False},
                       "scanResultDetails": {"scanResultStatus": status,
                                             "threats": [{"name": t} for t in threats or []] or None}}}


def run_worker(env: dict[str, str], name: str, event: dict[str, Any], **kwargs: Any) -> Any:
    from crewhouse.files import workers

    with function_environment(env):
        return getattr(workers, name)(event, lambda_context(f"files-{name}"), **kwargs)


def png(width: int = 600, height: int = 300) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "navy").save(buffer, format="PNG")
    return buffer.getvalue()


def policy_of(upload: dict[str, Any]) -> dict[str, Any]:
    import base64

    return dict(json.loads(base64.b64decode(upload["fields"]["policy"])))
