"""A completed multipart upload sends one ObjectCreated event, as S3 does (crewhouse.local.s3_gaps): moto also
sent an ObjectCreated:Put from its inner store, so every consumer of the files bucket ran twice."""

from __future__ import annotations

import json

import boto3
import pytest

from crewhouse.local import s3_gaps
from tests.support.mock import mocked_aws

PART = 5 * 1024 * 1024  # S3's smallest part but the last


def _created_events(monkeypatch: pytest.MonkeyPatch, *, completed: bool) -> list[str]:
    """The ObjectCreated event names a bucket notifies to SQS for one upload (multipart or a plain put)."""
    with mocked_aws(monkeypatch):
        s3, sqs = boto3.client("s3", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="created")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.create_bucket(Bucket="files")
        s3.put_bucket_notification_configuration(Bucket="files", NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
        sqs.purge_queue(QueueUrl=queue)  # the configuration's test event
        if completed:
            upload = s3.create_multipart_upload(Bucket="files", Key="big.bin")["UploadId"]
            parts = [{"PartNumber": n, "ETag": s3.upload_part(Bucket="files", Key="big.bin", UploadId=upload,
                                                             PartNumber=n, Body=body)["ETag"]}
                     for n, body in ((1, b"a" * PART), (2, b"b"))]
            s3.complete_multipart_upload(Bucket="files", Key="big.bin", UploadId=upload,
                                         MultipartUpload={"Parts": parts})
        else:
            s3.put_object(Bucket="files", Key="small.txt", Body=b"hello")
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        return [record["eventName"] for m in messages for record in json.loads(m["Body"]).get("Records", [])]


def test_a_completed_multipart_upload_is_one_event_and_a_put_still_is_its_own(
        monkeypatch: pytest.MonkeyPatch) -> None:
    s3_gaps.install_single_completion_event()
    assert _created_events(monkeypatch, completed=True) == ["ObjectCreated:CompleteMultipartUpload"]
    assert _created_events(monkeypatch, completed=False) == ["ObjectCreated:Put"]
