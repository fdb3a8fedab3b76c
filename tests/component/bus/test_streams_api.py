"""The streams Lambda in-process against moto: a multipart upload through presigned part URLs (moto intercepts
them), resumed with only the missing parts, completed with the whole SHA-256 verified, refused on a mismatch, and
aborted."""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

import boto3
import pytest
import requests

from crewhouse.bus import contexts_api, streams_api
from tests.component.bus.test_contexts_api import AGENT_A, AGENT_B, aws, seed_agent  # noqa: F401  # fixtures
from tests.support.bus import BUCKET, BUS_TABLE, Call, as_agent, as_person

MIB = 1024 * 1024
PART = 5 * MIB


@pytest.fixture(scope="module")
def payload() -> bytes:
    return os.urandom(PART) + os.urandom(3000)  # two parts: 5 MiB and the rest


@pytest.fixture
def streams(aws: Any) -> Call:  # noqa: F811
    return as_agent(streams_api.handler, AGENT_A)


@pytest.fixture
def contexts(aws: Any) -> Call:  # noqa: F811
    return as_agent(contexts_api.handler, AGENT_A)


def checksum(part: bytes) -> str:
    return base64.b64encode(hashlib.sha256(part).digest()).decode()


def parts_of(data: bytes, size: int = PART) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def start(call: Call, data: bytes, *, declared_sha256: str | None = None, **fields: Any) -> dict[str, Any]:
    body = {"size": len(data), "sha256": declared_sha256 or hashlib.sha256(data).hexdigest(), "part_size": PART,
            "part_checksums": [checksum(p) for p in parts_of(data)], **fields}
    status, stream, _ = call("POST", "/streams", body)
    assert status == 201, stream
    return dict(stream)


def upload(part: dict[str, Any], data: bytes) -> None:
    """What a client does with a part URL (the bytes go to S3, never through the Lambda)."""
    answer = requests.put(part["url"], data=data, headers=part["headers"], timeout=30)
    assert answer.status_code == 200, answer.text


def test_start_resume_with_the_missing_part_complete_and_download(streams: Call, contexts: Call, payload: bytes,
                                                                    aws: dict[str, Any]) -> None:  # noqa: F811
    stream = start(streams, payload, name="dataset", scope="tenant", tags=["big"])
    assert stream["status"] == "open" and stream["upload_id"] and stream["expires_at"]
    assert [p["number"] for p in stream["parts"]] == [1, 2] and stream["parts_received"] == []
    first, second = stream["parts"]
    chunks = parts_of(payload)
    assert first["headers"] == {"x-amz-checksum-sha256": checksum(chunks[0])}
    assert first["checksum_sha256"] == checksum(chunks[0]) and (first["size"], second["size"]) == (PART, 3000)
    assert "x-amz-checksum-sha256" in first["url"].lower().replace("%3b", ";")  # the checksum is signed

    upload(first, chunks[0])  # then the client is interrupted
    status, resumed, _ = streams("GET", f"/streams/{stream['stream_id']}")
    assert status == 200
    assert [(p["number"], p["size"]) for p in resumed["parts_received"]] == [(1, PART)]
    assert [p["number"] for p in resumed["parts"]] == [2]  # only what is missing, with a fresh URL
    status, problem, _ = streams("POST", f"/streams/{stream['stream_id']}/complete", {})
    assert status == 409 and problem["type"].endswith("stream-incomplete") and problem["missing"] == [2]

    upload(resumed["parts"][0], chunks[1])
    status, created, headers = streams("POST", f"/streams/{stream['stream_id']}/complete", {})
    assert status == 201, created
    assert created["sha256"] == hashlib.sha256(payload).hexdigest() and created["size"] == len(payload)
    assert (created["name"], created["scope"], created["tags"], created["storage"]) == (
        "dataset", "tenant", ["big"], "s3")
    assert created["id"] == stream["context_id"] and headers["etag"] == '"1"'

    status, read, _ = as_agent(contexts_api.handler, AGENT_B)("GET", f"/contexts/{created['id']}")
    assert status == 200 and read["version"] == 1
    downloaded = requests.get(read["download_url"], timeout=30).content
    assert hashlib.sha256(downloaded).hexdigest() == created["sha256"]
    tail = requests.get(read["download_url"], headers={"Range": f"bytes={PART}-"}, timeout=30)
    assert tail.status_code == 206 and tail.content == payload[PART:]  # a reader resumes where it stopped

    status, done, _ = streams("GET", f"/streams/{stream['stream_id']}")
    assert (done["status"], done["version"], done["parts"]) == ("completed", 1, [])
    assert streams("POST", f"/streams/{stream['stream_id']}/complete", {})[0] == 409  # once only
    assert aws["s3"].list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_a_payload_whose_sha256_differs_is_refused_and_nothing_is_created(
        streams: Call, contexts: Call, payload: bytes, aws: dict[str, Any]) -> None:  # noqa: F811
    stream = start(streams, payload, name="forged", declared_sha256=hashlib.sha256(b"other").hexdigest())
    for part, data in zip(stream["parts"], parts_of(payload), strict=True):
        upload(part, data)
    status, problem, _ = streams("POST", f"/streams/{stream['stream_id']}/complete")
    assert status == 409 and problem["type"].endswith("checksum-mismatch")
    assert problem["actual"] == hashlib.sha256(payload).hexdigest()
    assert contexts("GET", f"/contexts/{stream['context_id']}")[0] == 404
    assert contexts("GET", "/contexts")[1]["items"] == []
    assert aws["s3"].list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0  # the assembled object is gone
    context_items = aws["dynamodb"].scan(TableName=BUS_TABLE, FilterExpression="begins_with(PK, :p)",
                                         ExpressionAttributeValues={":p": {"S": "T#t1#CTX#"}})["Items"]
    assert context_items == []
    _, failed, _ = streams("GET", f"/streams/{stream['stream_id']}")
    assert (failed["status"], failed["failure"]) == ("failed", "checksum-mismatch")


def test_a_stream_writes_a_new_version_of_an_existing_context(streams: Call, contexts: Call, payload: bytes,
                                                              aws: dict[str, Any]) -> None:  # noqa: F811
    status, existing, _ = contexts("POST", "/contexts", {"name": "model", "payload": {"weights": "small"}})
    assert status == 201
    status, problem, _ = streams("POST", "/streams", {
        "size": len(payload), "sha256": hashlib.sha256(payload).hexdigest(), "part_size": PART,
        "part_checksums": [checksum(p) for p in parts_of(payload)], "context_id": existing["id"], "if_match": '"7"'})
    assert status == 412, problem
    stream = start(streams, payload, context_id=existing["id"], if_match='"1"')
    for part, data in zip(stream["parts"], parts_of(payload), strict=True):
        upload(part, data)
    status, updated, headers = streams("POST", f"/streams/{stream['stream_id']}/complete")
    assert status == 200, updated
    assert (updated["id"], updated["version"], updated["storage"], headers["etag"]) == (existing["id"], 2, "s3", '"2"')
    assert updated["content_type"] == "application/json" and updated["name"] == "model"
    assert contexts("GET", f"/contexts/{existing['id']}", query="version=1")[1]["payload"] == {"weights": "small"}

    overtaken = start(streams, payload, context_id=existing["id"], if_match='"2"')
    for part, data in zip(overtaken["parts"], parts_of(payload), strict=True):
        upload(part, data)
    assert contexts("PUT", f"/contexts/{existing['id']}", {"payload": "meanwhile"})[1]["version"] == 3
    assert streams("POST", f"/streams/{overtaken['stream_id']}/complete")[0] == 412
    _, failed, _ = streams("GET", f"/streams/{overtaken['stream_id']}")
    assert (failed["status"], failed["failure"]) == ("failed", "http-412")
    assert contexts("GET", f"/contexts/{existing['id']}")[1]["payload"] == "meanwhile"
    keys = [o["Key"] for o in aws["s3"].list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert keys and not any(overtaken["stream_id"] in key for key in keys)  # the overtaken upload is gone


def test_abort_frees_the_parts(streams: Call, payload: bytes, aws: dict[str, Any]) -> None:  # noqa: F811
    stream = start(streams, payload, name="dropped")
    upload(stream["parts"][0], parts_of(payload)[0])
    assert as_agent(streams_api.handler, AGENT_B)("DELETE", f"/streams/{stream['stream_id']}")[0] == 404
    assert streams("DELETE", f"/streams/{stream['stream_id']}")[0] == 204
    assert aws["s3"].list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    _, aborted, _ = streams("GET", f"/streams/{stream['stream_id']}")
    assert (aborted["status"], aborted["parts"]) == ("aborted", [])
    assert streams("POST", f"/streams/{stream['stream_id']}/complete")[0] == 409
    assert streams("DELETE", f"/streams/{stream['stream_id']}")[0] == 409


def test_streams_are_their_starters_and_need_write_rights(streams: Call, payload: bytes,
                                                          aws: dict[str, Any]) -> None:  # noqa: F811
    stream = start(streams, payload, name="mine")
    assert as_agent(streams_api.handler, AGENT_B)("GET", f"/streams/{stream['stream_id']}")[0] == 404
    assert as_person(streams_api.handler, "ada", role="admin")("GET", f"/streams/{stream['stream_id']}")[0] == 200
    seed_agent(boto3.client("dynamodb", region_name="us-east-1"), "01jabcdefghjkmnpqrstvwxyz9", role="agent-consumer")
    consumer = as_agent(streams_api.handler, "01jabcdefghjkmnpqrstvwxyz9")
    body = {"size": 10, "sha256": "0" * 64, "part_size": PART, "part_checksums": [checksum(b"x")], "name": "n"}
    assert consumer("POST", "/streams", body)[0] == 403
    assert streams("POST", "/streams", {**body, "part_size": PART - 1})[0] == 422  # under S3's minimum
    assert streams("POST", "/streams", {**body, "part_checksums": [checksum(b"x")] * 2})[0] == 422
    assert streams("POST", "/streams", {**body, "name": None})[0] == 422
