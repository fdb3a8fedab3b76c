"""The local S3 gap fillers' checks, against URLs and policies that botocore itself signs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config

from crewhouse.local import guardduty
from crewhouse.local.s3_gaps import evaluate_bucket_policy, verify_post_policy, verify_presigned_query


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> object:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    return boto3.client("s3", region_name="us-east-1", endpoint_url="http://127.0.0.1:4566",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(signature_version="s3v4"))


def check(url: str, method: str = "GET", headers: dict[str, str] | None = None,
          now: datetime | None = None) -> int | None:
    parts = urlsplit(url)
    refused = verify_presigned_query(method, parts.path, parts.query, {"host": parts.netloc, **(headers or {})},
                                     now=now)
    return None if refused is None else refused[0]


def test_presigned_get_is_valid_for_its_key_only_and_until_it_expires(s3: object) -> None:
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "uploads/t/u/F1"},  # type: ignore[attr-defined]
                                    ExpiresIn=60)
    assert check(url) is None
    assert check(url.replace("F1", "F2")) == 403
    assert check(url, method="PUT") == 403
    assert check(url, now=datetime.now(UTC) + timedelta(seconds=61)) == 403
    assert check(url.replace("X-Amz-Signature=", "X-Amz-Signature=0")) == 403
    assert check("http://127.0.0.1:4566/b/k") is None  # not presigned: left to moto


def test_presigned_part_url_signs_its_checksum_header(s3: object) -> None:
    url = s3.generate_presigned_url("upload_part", Params={  # type: ignore[attr-defined]
        "Bucket": "b", "Key": "k", "UploadId": "U", "PartNumber": 3, "ChecksumSHA256": "abc="}, ExpiresIn=60)
    assert check(url, "PUT", {"x-amz-checksum-sha256": "abc="}) is None
    assert check(url, "PUT", {"x-amz-checksum-sha256": "xyz="}) == 403


def test_presigned_post_policy_holds_every_condition(s3: object) -> None:
    post = s3.generate_presigned_post(  # type: ignore[attr-defined]
        "b", "uploads/k", Fields={"Content-Type": "image/png"},
        Conditions=[{"Content-Type": "image/png"}, ["content-length-range", 10, 10]], ExpiresIn=60)
    fields = dict(post["fields"])
    assert verify_post_policy("b", fields, 10) is None
    assert verify_post_policy("b", fields, 11) is not None and verify_post_policy("b", fields, 11)[0] == 400  # type: ignore[index]
    assert verify_post_policy("b", fields, 9)[0] == 400  # type: ignore[index]
    assert verify_post_policy("other", fields, 10)[0] == 403  # type: ignore[index]
    assert verify_post_policy("b", {**fields, "key": "uploads/other"}, 10)[0] == 403  # type: ignore[index]
    assert verify_post_policy("b", {**fields, "Content-Type": "text/html"}, 10)[0] == 403  # type: ignore[index]
    assert verify_post_policy("b", {**fields, "acl": "public-read"}, 10)[0] == 403  # type: ignore[index]
    later = datetime.now(UTC) + timedelta(seconds=120)
    assert verify_post_policy("b", fields, 10, now=later)[0] == 403  # type: ignore[index]
    assert verify_post_policy("b", {"key": "k"}, 10) is None  # no policy: not a presigned POST


def test_bucket_policy_conditions_decide_whether_a_statement_applies() -> None:
    tls_only = json.dumps({"Statement": [{
        "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
        "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]})
    assert evaluate_bucket_policy(tls_only, "s3:GetObject", "arn:aws:s3:::b/k") == "NEUTRAL"
    assert evaluate_bucket_policy(tls_only, "s3:GetObject", "arn:aws:s3:::b/k",
                                  {"aws:securetransport": "false"}) == "DENIED"
    tagged = json.dumps({"Statement": [{
        "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::b/*",
        "Condition": {"StringEquals": {"s3:ExistingObjectTag/GuardDutyMalwareScanStatus": "THREATS_FOUND"}}}]})
    assert evaluate_bucket_policy(tagged, "s3:GetObject", "arn:aws:s3:::b/k") == "NEUTRAL"
    plain = json.dumps({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:Get*",
                                       "Resource": "arn:aws:s3:::b/secret/*"}]})
    assert evaluate_bucket_policy(plain, "s3:GetObject", "arn:aws:s3:::b/secret/x") == "DENIED"
    assert evaluate_bucket_policy(plain, "s3:GetObject", "arn:aws:s3:::b/public/x") == "NEUTRAL"
    assert evaluate_bucket_policy(None, "s3:GetObject", "arn:aws:s3:::b/k") == "NEUTRAL"


def test_local_malware_scan_finds_eicar_and_reports_guardduty_shape() -> None:
    assert guardduty.verdict(b"hello") == ("NO_THREATS_FOUND", [])
    assert guardduty.verdict(b"prefix " + guardduty.EICAR + b" suffix")[0] == "THREATS_FOUND"
    plan = guardduty.Plan("p1", "bucket", ("uploads/",), True, "us-east-1", "123456789012")
    assert plan.protects("bucket", "uploads/x") and not plan.protects("bucket", "thumbnails/x")
    assert not plan.protects("other", "uploads/x")
    detail = guardduty.scan_result_event(plan, "uploads/x", "etag", "v1", "THREATS_FOUND", ["EICAR"])
    assert detail["s3ObjectDetails"] == {"bucketName": "bucket", "objectKey": "uploads/x", "eTag": "etag",
                                         "versionId": "v1", "s3Throttled": False}
    assert detail["scanResultDetails"] == {"scanResultStatus": "THREATS_FOUND", "threats": [{"name": "EICAR"}]}
