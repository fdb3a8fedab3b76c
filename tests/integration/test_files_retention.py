"""The tenant's file-retention policy on the embedded cloud: an admin sets it over HTTP, two uploaded files are
made to look unopened (their ``last_opened_at`` written in the files table, as time would), the sweep worker
is invoked through the local Lambda API as EventBridge Scheduler would, and then: the due file and its S3
object are gone, the quota is given back, and the owner's ``file.retention.warning`` is on the crewhouse bus."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from crewhouse.core.table import Table
from crewhouse.files import keys
from crewhouse.files.store import DynamoFileStore
from crewhouse.local.cloud import EmbeddedCloud
from crewhouse.local.endpoint import local_client
from crewhouse.local.seed import SignedInUser
from tests.integration.conftest import bearer
from tests.integration.test_files_flow import _tenant, upload_small, wait_for
from tests.support.waiting import eventually


@pytest.fixture
def warnings() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Every ``file.retention.warning`` put on the crewhouse bus, through a rule to an SQS queue."""
    sqs, events = local_client("sqs"), local_client("events")
    name = f"retention-{uuid.uuid4().hex[:8]}"
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=name, EventBusName="crewhouse", EventPattern=json.dumps(
        {"source": ["crewhouse.files"], "detail-type": ["file.retention.warning"]}))
    events.put_targets(Rule=name, EventBusName="crewhouse", Targets=[{"Id": "q", "Arn": queue_arn}])

    def received() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        return [json.loads(m["Body"]) for m in messages.get("Messages", [])]

    yield received
    events.remove_targets(Rule=name, EventBusName="crewhouse", Ids=["q"])
    events.delete_rule(Name=name, EventBusName="crewhouse")
    sqs.delete_queue(QueueUrl=queue_url)


def files_store(cloud: EmbeddedCloud) -> DynamoFileStore:
    assert cloud.stack is not None
    table = next(cloud.stack.resources[k] for k, r in cloud.stack.template["Resources"].items()
                 if r["Type"] == "AWS::DynamoDB::Table" and k.startswith("FilesFilesTable"))
    return DynamoFileStore(Table(local_client("dynamodb"), table))


def sweep(cloud: EmbeddedCloud, tenant_id: str) -> dict[str, Any]:
    """Invoke the sweep function as the scheduler would (with one tenant, so other tests' tenants stay out)."""
    lambdas = boto3.client("lambda", endpoint_url=cloud.aws_endpoint, region_name=cloud.config.region,
                           aws_access_key_id="test", aws_secret_access_key="test")
    response = lambdas.invoke(FunctionName=cloud.function_name("FilesRetentionSweep"),
                              Payload=json.dumps({"tenant_id": tenant_id}).encode())
    payload = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, payload
    return dict(payload)


def test_unopened_files_are_deleted_and_their_owner_warned_a_week_before(
        api: httpx.Client, cloud: EmbeddedCloud, new_user: Callable[[], SignedInUser],
        warnings: Callable[[], list[dict[str, Any]]]) -> None:
    assert cloud.stack is not None
    owner_user = new_user()
    owner, tenant = bearer(owner_user.id_token), _tenant(owner_user)
    put = api.put("/files/retention", json={"enabled": True, "days": 30}, headers={**owner, "If-Match": '"0"'})
    assert put.status_code == 200 and put.headers["etag"] == '"1"', put.text

    stale = upload_small(api, owner, b"an old invoice", "text/plain", "old-invoice.txt")
    soon = upload_small(api, owner, b"a draft", "text/plain", "draft.txt")
    fresh = upload_small(api, owner, b"today's notes", "text/plain", "notes.txt")
    for created in (stale, soon, fresh):
        wait_for(api, owner, created["id"], "available")
    today = datetime.now(UTC).date()
    store, pk = files_store(cloud), keys.owner_pk(tenant, owner_user.user_id)
    opened = {}
    for created, days_ago in ((stale, 45), (soon, 25)):  # as if nobody had opened them since
        opened[created["id"]] = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
        assert store.change(pk, created["id"], set_fields={"last_opened_at": opened[created["id"]]})

    def previewed() -> dict[str, str] | None:
        items = api.get("/files/retention/preview", headers=owner).json()["items"]
        states = {i["file_id"]: i["state"] for i in items}
        return states if len(states) == 2 else None  # the index (a GSI) follows the table a moment later

    assert eventually(previewed) == {stale["id"]: "due", soon["id"]: "warning"}
    quota_before = api.get("/files/quota", headers=owner).json()["used"]

    result = sweep(cloud, tenant)
    assert result["deleted"] == [stale["id"]] and result["complete"], result
    assert (result["warned_users"], result["warned_files"]) == (1, 1), result

    assert api.get(f"/files/{stale['id']}", headers=owner).status_code == 404
    with pytest.raises(ClientError) as gone:
        local_client("s3").head_object(Bucket=cloud.stack.outputs["FilesBucketName"],
                                       Key=f"uploads/{tenant}/{owner_user.user_id}/{stale['id']}")
    assert gone.value.response["Error"]["Code"] in ("404", "NoSuchKey")
    assert api.get("/files/quota", headers=owner).json()["used"] == quota_before - len(b"an old invoice")

    received = eventually(warnings, timeout=20)
    assert received, "no file.retention.warning reached the bus"
    (event,) = received
    assert (event["source"], event["detail-type"]) == ("crewhouse.files", "file.retention.warning")
    delete_after = (today - timedelta(days=25) + timedelta(days=30)).isoformat()
    assert event["detail"] == {
        "tenant_id": tenant, "user_id": owner_user.user_id, "delete_after": delete_after, "more": 0,
        "files": [{"file_id": soon["id"], "filename": "draft.txt", "size": len(b"a draft"),
                   "last_opened_at": opened[soon["id"]], "delete_after": delete_after}]}

    again = sweep(cloud, tenant)  # the next day's run (here: at once) repeats nothing
    assert (again["deleted"], again["warned_users"]) == ([], 0), again
    assert warnings() == []
    for kept in (soon, fresh):  # (reading them opens them: after the second sweep)
        assert api.get(f"/files/{kept['id']}", headers=owner).status_code == 200
