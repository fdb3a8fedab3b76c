"""Streaming upload: one hashing pass, per-part checksums, presigned PUTs, resume with only the missing parts."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import httpx
import pytest
from bus_fakes import BASE_URL, FakeBus, FakeStreams, b64_sha256
from crewhouse_bus import BadRequestError, ChecksumMismatchError
from crewhouse_bus.streams import CHUNK_SIZE, MIN_PART_SIZE, choose_part_size, hash_parts

MIB = 1024 * 1024
PART = MIN_PART_SIZE


class Interrupted(Exception):
    pass


@pytest.fixture
def payload(tmp_path: Path) -> tuple[Path, bytes]:
    data = os.urandom(2 * PART + 3 * 1024)  # three parts, the last one short
    path = tmp_path / "payload.bin"
    path.write_bytes(data)
    return path, data


def slices(data: bytes) -> list[bytes]:
    return [data[i:i + PART] for i in range(0, len(data), PART)]


def test_the_stream_declares_the_whole_sha256_and_each_parts_base64_sha256(payload: tuple[Path, bytes]) -> None:
    path, data = payload
    bus = FakeBus()
    streams = FakeStreams(bus)

    context = bus.client().upload(path, name="big", part_size=PART, tags=["demo"])

    assert context["id"] == "ctx1"
    assert streams.declared == {
        "name": "big", "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "part_size": PART,
        "part_checksums": [b64_sha256(part) for part in slices(data)], "tags": ["demo"]}
    assert [streams.stored[n] for n in (1, 2, 3)] == slices(data)
    assert streams.completed_with == [{"number": n, "etag": f'"etag-{n}"', "checksum_sha256": b64_sha256(part)}
                                      for n, part in enumerate(slices(data), start=1)]


def test_parts_go_to_the_presigned_urls_with_the_given_headers_and_no_bearer_token(
        payload: tuple[Path, bytes]) -> None:
    path, data = payload
    bus = FakeBus()
    FakeStreams(bus)

    bus.client().upload(path, name="big", part_size=PART)

    puts = [r for r in bus.requests if r.method == "PUT"]
    assert [r.url.host for r in puts] == ["s3.test"] * 3
    for request, part in zip(puts, slices(data), strict=True):
        assert "authorization" not in request.headers
        assert request.headers["x-amz-checksum-sha256"] == b64_sha256(part)
        assert request.headers["content-length"] == str(len(part))
        assert "transfer-encoding" not in request.headers
    assert all(r.url.host == "bus.test" for r in bus.requests if r.method != "PUT")
    assert BASE_URL.startswith("http://bus.test")


def test_an_interrupted_upload_resumes_with_only_the_missing_parts(payload: tuple[Path, bytes]) -> None:
    path, data = payload
    bus = FakeBus()
    streams = FakeStreams(bus)
    client = bus.client()
    upload = client.start_upload(path, name="big", part_size=PART)

    def stop_at_60_percent(done: int, total: int) -> None:
        if done >= 0.6 * total:
            raise Interrupted

    with pytest.raises(Interrupted):
        upload.send(progress=stop_at_60_percent)
    assert sorted(streams.stored) == [1]  # part 2 was cut off mid-way
    assert streams.completed_with is None

    streams.put_numbers.clear()
    seen: list[tuple[int, int]] = []
    context = client.upload(path, stream_id=upload.stream_id, progress=lambda d, t: seen.append((d, t)))

    assert streams.put_numbers == [2, 3]
    assert context["sha256"] == hashlib.sha256(data).hexdigest()
    assert seen[0] == (PART, len(data))  # starts from what the bus already holds
    assert seen[-1] == (len(data), len(data))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    completed: list[dict[str, object]] = streams.completed_with or []
    assert [part["number"] for part in completed] == [1, 2, 3]


def test_resuming_with_a_different_file_is_refused_before_any_byte_is_sent(
        payload: tuple[Path, bytes], tmp_path: Path) -> None:
    path, data = payload
    bus = FakeBus()
    streams = FakeStreams(bus)
    client = bus.client()
    stream_id = client.start_upload(path, name="big", part_size=PART).stream_id
    other = tmp_path / "other.bin"
    other.write_bytes(b"x" + data[1:])

    with pytest.raises(ChecksumMismatchError):
        client.resume_upload(stream_id, other)
    assert streams.put_numbers == []


def test_a_non_seekable_source_is_spooled_to_disk_and_uploaded(payload: tuple[Path, bytes]) -> None:
    _, data = payload
    bus = FakeBus()
    streams = FakeStreams(bus)

    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self.inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

        def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
            chunk = self.inner.read(len(buffer))
            buffer[:len(chunk)] = chunk
            return len(chunk)

    pipe = io.BufferedReader(Pipe())  # type: ignore[type-var]
    upload = bus.client().start_upload(pipe, name="piped", part_size=PART)
    spool = upload.plan.spool
    assert spool is not None and spool.exists()
    upload.send()

    assert b"".join(streams.stored[n] for n in sorted(streams.stored)) == data
    assert not spool.exists()


def test_hashing_and_sending_read_in_bounded_chunks(payload: tuple[Path, bytes]) -> None:
    _, data = payload
    reads: list[int] = []

    class Recording(io.BytesIO):
        def read(self, size: int | None = -1, /) -> bytes:
            reads.append(-1 if size is None else size)
            return super().read(size)

    bus = FakeBus()
    streams = FakeStreams(bus)
    bus.client().start_upload(Recording(data), name="big", part_size=PART).send()

    assert reads and all(0 < size <= CHUNK_SIZE for size in reads)
    assert len(streams.stored) == 3


def test_hash_parts_matches_hashlib_for_an_exact_multiple_of_the_part_size() -> None:
    data = os.urandom(2 * PART)
    sha, parts = hash_parts(io.BytesIO(data), len(data), PART)
    assert sha == hashlib.sha256(data).hexdigest()
    assert [(p.number, p.offset, p.size) for p in parts] == [(1, 0, PART), (2, PART, PART)]
    assert [p.checksum_sha256 for p in parts] == [b64_sha256(s) for s in slices(data)]


def test_the_part_size_grows_to_stay_within_the_part_limit() -> None:
    assert choose_part_size(10 * MIB, 1) == MIN_PART_SIZE
    assert choose_part_size(20_000 * MIB) == 20 * MIB


def test_an_expired_part_url_is_replaced_by_a_fresh_one_from_the_stream(payload: tuple[Path, bytes]) -> None:
    path, data = payload
    bus = FakeBus()
    streams = FakeStreams(bus)
    expired = httpx.Response(403, text="<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>")
    bus.routes[("PUT", "/bucket/s1/2")].insert(0, expired)

    bus.client().upload(path, name="big", part_size=PART)

    assert streams.put_numbers == [1, 2, 3]  # the 403 never reached the fake S3's store
    assert len(bus.calls("GET", "/streams/s1")) == 1
    assert b"".join(streams.stored[n] for n in (1, 2, 3)) == data


def test_a_part_whose_connection_dropped_is_sent_again_from_its_first_byte(payload: tuple[Path, bytes]) -> None:
    path, data = payload
    bus = FakeBus()
    streams = FakeStreams(bus)

    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.WriteError("broken pipe", request=request)

    bus.routes[("PUT", "/bucket/s1/2")].insert(0, drop)

    bus.client().upload(path, name="big", part_size=PART)

    assert streams.stored[2] == slices(data)[1]
    assert len(bus.sleeps) == 1


def test_a_storage_error_that_is_not_retryable_is_raised(payload: tuple[Path, bytes]) -> None:
    path, _ = payload
    bus = FakeBus()
    streams = FakeStreams(bus)
    bus.routes[("PUT", "/bucket/s1/1")].insert(0, httpx.Response(400, text="<Error><Code>BadDigest</Code></Error>"))

    with pytest.raises(BadRequestError, match="BadDigest"):
        bus.client().upload(path, name="big", part_size=PART)
    assert streams.completed_with is None
