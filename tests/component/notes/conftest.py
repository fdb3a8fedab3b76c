from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from crewhouse.core.settings import function_environment
from crewhouse.local.dynamodb_streams import dynamodb_event_record
from crewhouse.notes.workers import on_table_changes
from tests.support.events import claims_for, http_event, lambda_context, response_json
from tests.support.members import seed_membership
from tests.support.routing import handler_for
from tests.support.tables import mocked_tables

ENV = {"NOTES_TABLE": "notes", "TASKS_TABLE": "tasks", "SEARCH_TABLE": "search", "SYNC_TABLE": "sync",
       "IDEMPOTENCY_TABLE": "idem", "FILES_BUCKET": "files", "CURSOR_SIGNING_KEY": "test-key",
       "AWS_REGION": "us-east-1", "MAX_BODY_BYTES": str(3 * 1024 * 1024)}
BUCKET = "files"

Call = Callable[..., tuple[int, dict[str, str], Any]]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mocked_tables(monkeypatch, {"notes": "NotesNotesTable",
                                      "tasks": "TasksTasksTable",
                                      "search": "StorageSearchIndexTable",
                                      "sync": "StorageSyncLogTable",
                                      "idem": "StorageIdempotencyTable"}) as dynamodb:
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        boto3.client("events", region_name="us-east-1").create_event_bus(Name="crewhouse")
        yield dynamodb


def _invoker(name: str) -> Call:
    """Calls the function API Gateway would invoke for each request (tests.support.routing)."""

    def invoke(method: str, path: str, body: Any = None, *, user: str = "u1", tenant: str = "t1",
               headers: dict[str, str] | None = None, query: str = "", raw: bool = False
               ) -> tuple[int, dict[str, str], Any]:
        seed_membership(tenant, user)
        event = http_event(method, path, body=body, claims=claims_for(tenant, user), headers=headers, query=query)
        with function_environment(ENV):
            response = handler_for(method, path)(event, lambda_context(name))
        payload = response.get("body") if raw else response_json(response)
        return response["statusCode"], response.get("headers", {}), payload

    return invoke


@pytest.fixture
def call(aws: Any) -> Call:
    """``call(method, path, body=None, user="u1", tenant="t1", headers=None, query="", raw=False)`` on notes."""
    return _invoker("notes")


@pytest.fixture
def call_tasks(aws: Any) -> Call:
    """The tasks functions: /tasks and the /sync feed."""
    return _invoker("tasks")


def _stream_drain(aws: Any, table: str, worker: Callable[..., dict[str, Any]], name: str
                  ) -> Callable[[], dict[str, Any]]:
    """Deliver ``table``'s new stream records to ``worker``, as Lambda would; returns its answer."""
    # botocore would address the account-scoped streams host, which moto's in-process mock does not serve.
    streams = boto3.client("dynamodbstreams", region_name="us-east-1",
                           endpoint_url="https://streams.dynamodb.us-east-1.amazonaws.com")
    arn = aws.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    position: dict[str, str] = {}

    def deliver() -> dict[str, Any]:
        kwargs: dict[str, Any] = {"StreamArn": arn, "ShardId": shard}
        if position:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=position["last"])
        else:
            kwargs.update(ShardIteratorType="TRIM_HORIZON")
        iterator = streams.get_shard_iterator(**kwargs)["ShardIterator"]
        records = streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
        if not records:
            return {"batchItemFailures": []}
        position["last"] = records[-1]["dynamodb"]["SequenceNumber"]
        event = {"Records": [dynamodb_event_record(r, arn) for r in records]}
        with function_environment(ENV):
            return worker(event, lambda_context(name))

    return deliver


@pytest.fixture
def drain(aws: Any) -> Callable[[], dict[str, Any]]:
    """Deliver the notes table's new stream records to the notes worker, as Lambda would; returns its answer."""
    return _stream_drain(aws, "notes", on_table_changes, "notes-stream")


@pytest.fixture
def drain_tasks(aws: Any) -> Callable[[], dict[str, Any]]:
    """The same for the tasks table and the tasks worker."""
    from crewhouse.tasks.workers import on_table_changes as on_task_changes

    return _stream_drain(aws, "tasks", on_task_changes, "tasks-stream")
