"""Streaming download: ranged GETs, resume from the bytes on disk, survive a dropped connection, verify SHA-256."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
import pytest
from bus_fakes import BrokenStream, FakeBus
from crewhouse_bus import ChecksumMismatchError

MIB = 1024 * 1024
DATA = os.urandom(6 * MIB + 123)
URL = "http://s3.test/bucket/ctx1?X-Amz-Signature=x"


def serve(bus: FakeBus, *, data: bytes = DATA, sha256: str | None = None, drop_after: list[int | None] | None = None,
          ignore_range: bool = False) -> list[str | None]:
    """The download routes; returns the Range header of every storage GET."""
    ranges: list[str | None] = []
    drops = list(drop_after or [])
    bus.route("GET", "/contexts/ctx1/download", httpx.Response(200, json={
        "url": URL, "expires_in": 3600, "version": 1, "size": len(data),
        "sha256": sha256 or hashlib.sha256(data).hexdigest(), "content_type": "application/octet-stream"}))

    def storage(request: httpx.Request) -> httpx.Response:
        assert "authorization" not in request.headers
        header = request.headers.get("range")
        ranges.append(header)
        start = int(header.removeprefix("bytes=").split("-")[0]) if header and not ignore_range else 0
        body = data[start:]
        status = 206 if start else 200
        return httpx.Response(status, stream=BrokenStream(body, drops.pop(0) if drops else None))

    bus.route("GET", "/bucket/ctx1", storage)
    return ranges


def test_a_download_lands_whole_and_verified(tmp_path: Path) -> None:
    bus = FakeBus()
    ranges = serve(bus)
    dest = tmp_path / "out.bin"
    seen: list[int] = []

    result = bus.client().download("ctx1", dest, progress=lambda done, total: seen.append(done))

    assert dest.read_bytes() == DATA
    assert result.sha256 == hashlib.sha256(DATA).hexdigest() and result.resumed_from == 0
    assert not (tmp_path / "out.bin.part").exists()
    assert ranges == [None]
    assert seen[-1] == len(DATA) and seen == sorted(seen)


def test_a_partial_file_is_resumed_from_its_last_byte(tmp_path: Path) -> None:
    bus = FakeBus()
    ranges = serve(bus)
    dest = tmp_path / "out.bin"
    (tmp_path / "out.bin.part").write_bytes(DATA[:3 * MIB])

    result = bus.client().download("ctx1", dest)

    assert ranges == [f"bytes={3 * MIB}-"]
    assert result.resumed_from == 3 * MIB
    assert dest.read_bytes() == DATA


def test_a_dropped_connection_continues_where_it_stopped(tmp_path: Path) -> None:
    bus = FakeBus()
    ranges = serve(bus, drop_after=[2 * MIB, MIB])
    dest = tmp_path / "out.bin"

    bus.client().download("ctx1", dest)

    assert ranges == [None, f"bytes={2 * MIB}-", f"bytes={3 * MIB}-"]
    assert dest.read_bytes() == DATA
    assert len(bus.sleeps) == 2


def test_an_interrupted_download_leaves_its_part_file_for_the_next_call(tmp_path: Path) -> None:
    bus = FakeBus()
    ranges = serve(bus)
    dest = tmp_path / "out.bin"

    def stop_half_way(done: int, total: int) -> None:
        if done >= total // 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        bus.client().download("ctx1", dest, progress=stop_half_way)
    kept = (tmp_path / "out.bin.part").stat().st_size
    assert 0 < kept < len(DATA) and not dest.exists()

    bus.client().download("ctx1", dest)
    assert ranges[-1] == f"bytes={kept}-"
    assert dest.read_bytes() == DATA


def test_a_server_that_ignores_the_range_restarts_the_file(tmp_path: Path) -> None:
    bus = FakeBus()
    serve(bus, ignore_range=True)
    dest = tmp_path / "out.bin"
    (tmp_path / "out.bin.part").write_bytes(b"stale bytes")

    bus.client().download("ctx1", dest)
    assert dest.read_bytes() == DATA


def test_a_sha256_mismatch_raises_and_keeps_nothing(tmp_path: Path) -> None:
    bus = FakeBus()
    serve(bus, sha256="0" * 64)
    dest = tmp_path / "out.bin"

    with pytest.raises(ChecksumMismatchError):
        bus.client().download("ctx1", dest)
    assert not dest.exists() and not (tmp_path / "out.bin.part").exists()


def test_a_part_file_longer_than_the_payload_is_discarded(tmp_path: Path) -> None:
    bus = FakeBus()
    ranges = serve(bus, data=DATA[:MIB])
    dest = tmp_path / "out.bin"
    (tmp_path / "out.bin.part").write_bytes(os.urandom(2 * MIB))

    bus.client().download("ctx1", dest)
    assert ranges == [None]
    assert dest.read_bytes() == DATA[:MIB]


def test_an_expired_download_url_is_asked_for_again(tmp_path: Path) -> None:
    bus = FakeBus()
    serve(bus)
    bus.routes[("GET", "/bucket/ctx1")].insert(0, httpx.Response(403, text="<Error><Code>AccessDenied</Code></Error>"))
    dest = tmp_path / "out.bin"

    bus.client().download("ctx1", dest)

    assert len(bus.calls("GET", "/contexts/ctx1/download")) == 2
    assert dest.read_bytes() == DATA
