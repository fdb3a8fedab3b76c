"""Large payloads: resumable multipart upload to presigned part URLs and resumable ranged download.

Memory stays bounded by ``CHUNK_SIZE`` whatever the payload's size: parts are read from the file as they are
sent and downloads are written as they arrive; nothing holds a whole part, let alone the payload.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import httpx

from crewhouse_bus._retry import RETRYABLE_STATUSES
from crewhouse_bus.errors import ChecksumMismatchError, error_from_response
from crewhouse_bus.models import Context, Stream, StreamPart

if TYPE_CHECKING:
    from crewhouse_bus.client import BusClient

CHUNK_SIZE = 1024 * 1024
MIN_PART_SIZE = 5 * 1024 * 1024  # S3's minimum for every part but the last
DEFAULT_PART_SIZE = 8 * 1024 * 1024
MAX_PARTS = 1000  # the bus's ceiling (it keeps the declared checksums on one item)

Progress = Callable[[int, int], None]
"""Called as ``progress(bytes_done, bytes_total)``; raising from it interrupts the transfer (it can resume)."""


@dataclass(frozen=True)
class PartPlan:
    number: int
    offset: int
    size: int
    checksum_sha256: str  # base64 of the part's SHA-256 digest, as S3's x-amz-checksum-sha256 wants it


@dataclass
class UploadPlan:
    """A source's size, whole SHA-256 (hex) and per-part checksums, from one streaming pass."""

    path: Path | None
    fileobj: IO[bytes] | None
    start: int
    size: int
    sha256: str
    part_size: int
    parts: list[PartPlan]
    spool: Path | None = None  # a non-seekable source copied to disk so its parts can be read again

    @contextlib.contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        if self.path is not None:
            with self.path.open("rb") as handle:
                yield handle
        else:
            assert self.fileobj is not None
            yield self.fileobj

    def discard_spool(self) -> None:
        if self.spool is not None:
            self.spool.unlink(missing_ok=True)
            self.spool = None


def choose_part_size(size: int, requested: int | None = None) -> int:
    part_size = max(MIN_PART_SIZE, requested or DEFAULT_PART_SIZE)
    smallest_fitting = -(-size // MAX_PARTS)
    return max(part_size, smallest_fitting)


def hash_parts(handle: IO[bytes], size: int, part_size: int) -> tuple[str, list[PartPlan]]:
    """The whole SHA-256 (hex) and each part's base64 SHA-256, reading ``size`` bytes once in chunks."""
    whole = hashlib.sha256()
    parts: list[PartPlan] = []
    offset = 0
    while offset < size or not parts:
        length = min(part_size, size - offset)
        part_hash = hashlib.sha256()
        left = length
        while left:
            chunk = handle.read(min(CHUNK_SIZE, left))
            if not chunk:
                raise ValueError(f"the source ended at byte {offset + length - left} of {size}")
            part_hash.update(chunk)
            whole.update(chunk)
            left -= len(chunk)
        parts.append(PartPlan(len(parts) + 1, offset, length,
                              base64.b64encode(part_hash.digest()).decode("ascii")))
        offset += length
    return whole.hexdigest(), parts


def plan_upload(source: str | os.PathLike[str] | IO[bytes], part_size: int | None = None) -> UploadPlan:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        size = path.stat().st_size
        chosen = choose_part_size(size, part_size)
        with path.open("rb") as handle:
            sha256, parts = hash_parts(handle, size, chosen)
        return UploadPlan(path, None, 0, size, sha256, chosen, parts)
    if source.seekable():
        start = source.tell()
        size = source.seek(0, os.SEEK_END) - start
        source.seek(start)
        chosen = choose_part_size(size, part_size)
        sha256, parts = hash_parts(source, size, chosen)
        source.seek(start)
        return UploadPlan(None, source, start, size, sha256, chosen, parts)
    # A pipe or socket: the size is unknown and parts must be read twice, so it goes to disk first.
    with tempfile.NamedTemporaryFile(prefix="crewhouse-bus-", suffix=".spool", delete=False) as spool:
        shutil.copyfileobj(source, spool, CHUNK_SIZE)
    plan = plan_upload(spool.name, part_size)
    plan.spool = Path(spool.name)
    return plan


def _digest_matches(digest: bytes, expected: str) -> bool:
    """The bus may state a SHA-256 as hex or as base64 (S3's form)."""
    return expected.lower() == digest.hex() or expected == base64.b64encode(digest).decode("ascii")


@dataclass
class _Reporter:
    """Reports progress monotonically: a retried part does not make the bar jump back."""

    callback: Progress | None
    total: int
    reported: int = -1

    def __call__(self, done: int) -> None:
        if self.callback is not None and done > self.reported:
            self.reported = done
            self.callback(done, self.total)


def _received_etags(stream: Stream) -> dict[int, str]:
    """Parts the storage holds whole: in ``parts_received`` and not offered again in ``parts`` (the bus offers
    a part again when the one held has the wrong size)."""
    offered = {int(part["number"]) for part in stream.get("parts", [])}
    return {int(part["number"]): str(part["etag"]) for part in stream.get("parts_received", [])
            if part.get("etag") and int(part["number"]) not in offered}


def _part_targets(stream: Stream) -> dict[int, StreamPart]:
    return {int(part["number"]): part for part in stream.get("parts", []) if part.get("url")}


def _report_from(report: _Reporter, base: int, sent: int) -> None:
    report(base + sent)


@dataclass
class Upload:
    """An open stream and the plan of its source; :meth:`send` sends the parts the bus still lacks."""

    client: BusClient
    plan: UploadPlan
    stream: Stream
    stream_id: str = field(init=False)

    def __post_init__(self) -> None:
        self.stream_id = str(self.stream["stream_id"])
        declared_sha, declared_size = self.stream.get("sha256"), self.stream.get("size")
        if declared_size is not None and int(declared_size) != self.plan.size:
            raise ChecksumMismatchError(f"stream {self.stream_id} size", str(declared_size), str(self.plan.size))
        if declared_sha and not _digest_matches(bytes.fromhex(self.plan.sha256), declared_sha):
            raise ChecksumMismatchError(f"stream {self.stream_id}", declared_sha, self.plan.sha256)

    def missing_parts(self) -> list[PartPlan]:
        received = _received_etags(self.stream)
        return [part for part in self.plan.parts if part.number not in received]

    def send(self, *, progress: Progress | None = None) -> Context:
        """PUTs each missing part, then completes the stream; the context is returned."""
        etags = _received_etags(self.stream)
        report = _Reporter(progress, self.plan.size)
        done = sum(part.size for part in self.plan.parts if part.number in etags)
        report(done)
        with self.plan.open() as handle:
            for part in self.plan.parts:
                if part.number in etags:
                    continue
                etags[part.number] = self._put_part(handle, part, functools.partial(_report_from, report, done))
                done += part.size
                report(done)
        completed = [{"number": part.number, "etag": etags[part.number], "checksum_sha256": part.checksum_sha256}
                     for part in self.plan.parts]
        context = self.client.complete_stream(self.stream_id, completed)
        self.plan.discard_spool()
        return context

    def abort(self) -> None:
        self.client.abort_stream(self.stream_id)
        self.plan.discard_spool()

    def _target(self, number: int, *, refresh: bool = False) -> StreamPart:
        if refresh or number not in _part_targets(self.stream):
            self.stream = self.client.get_stream(self.stream_id)  # fresh presigned URLs
        target = _part_targets(self.stream).get(number)
        if target is None:
            raise ValueError(f"stream {self.stream_id} offers no URL for part {number}")
        return target

    def _put_part(self, handle: IO[bytes], part: PartPlan, on_sent: Callable[[int], None]) -> str:
        target = self._target(part.number)
        for refreshed in (False, True):
            response = self.client._retrying(
                lambda target=target: self._put_once(handle, part, target, on_sent))  # type: ignore[misc]
            if response.status_code == 403 and not refreshed:  # the presigned URL expired while we waited
                target = self._target(part.number, refresh=True)
                continue
            break
        if not response.is_success:
            raise error_from_response(response)
        etag = str(response.headers.get("ETag") or "")
        if not etag:
            raise ValueError(f"part {part.number}: the storage answered without an ETag")
        return etag

    def _put_once(self, handle: IO[bytes], part: PartPlan, target: StreamPart,
                  on_sent: Callable[[int], None]) -> httpx.Response:
        promised = target.get("checksum_sha256")
        if promised and promised != part.checksum_sha256:
            raise ChecksumMismatchError(f"part {part.number}", promised, part.checksum_sha256)
        headers = dict(target.get("headers") or {"x-amz-checksum-sha256": part.checksum_sha256})
        headers["Content-Length"] = str(part.size)  # a known length: S3 refuses chunked bodies on presigned PUTs
        return self.client._storage.put(target["url"], content=self._part_bytes(handle, part, on_sent),
                                        headers=headers)

    def _part_bytes(self, handle: IO[bytes], part: PartPlan, on_sent: Callable[[int], None]) -> Iterator[bytes]:
        handle.seek(self.plan.start + part.offset)
        sent = 0
        while sent < part.size:
            chunk = handle.read(min(CHUNK_SIZE, part.size - sent))
            if not chunk:
                raise ValueError(f"part {part.number}: the source is shorter than when it was hashed")
            sent += len(chunk)
            yield chunk
            on_sent(sent)


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    size: int
    sha256: str
    resumed_from: int  # bytes already on disk when this call started


def partial_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _hash_file(path: Path, length: int) -> Any:
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        left = length
        while left:
            chunk = handle.read(min(CHUNK_SIZE, left))
            if not chunk:
                break
            hasher.update(chunk)
            left -= len(chunk)
    return hasher


def download_to(client: BusClient, context_id: str, dest: Path, *, progress: Progress | None = None,
                version: int | None = None) -> DownloadResult:
    """Ranged GETs from the presigned URL into ``<dest>.part``, from the bytes already there; renamed to
    ``dest`` once the SHA-256 matches. A dropped connection resumes at the last byte written."""
    link = client.download_link(context_id, version=version)
    size, expected = link.get("size"), link.get("sha256")
    if size is None or expected is None:
        context = client.get_context(context_id, version=version)
        size = size if size is not None else context.get("size")
        expected = expected or context.get("sha256")
    partial = partial_path(dest)
    have = partial.stat().st_size if partial.exists() else 0
    if size is not None and have > size:
        partial.unlink()
        have = 0
    hasher = _hash_file(partial, have) if have else hashlib.sha256()
    resumed_from = have
    report = _Reporter(progress, int(size or 0))
    url, attempt, refreshed = link["url"], 0, False
    with partial.open("ab") as out:
        report(have)
        while size is None or have < size:
            progressed = False
            try:
                with client._storage.stream("GET", url, headers={"Range": f"bytes={have}-"} if have else {}) as got:
                    if got.status_code == 403 and not refreshed:  # the presigned URL expired: ask for a new one
                        url, refreshed = client.download_link(context_id, version=version)["url"], True
                        continue
                    if got.status_code in RETRYABLE_STATUSES:
                        delay = client.retry.delay(attempt, got.headers.get("Retry-After"))
                        if delay is None:
                            got.read()
                            raise error_from_response(got)
                        client.retry.sleep(delay)
                        attempt += 1
                        continue
                    if got.status_code == 200 and have:  # the range was ignored: start over
                        out.truncate(0)
                        hasher, have = hashlib.sha256(), 0
                    elif got.status_code not in (200, 206):
                        got.read()
                        raise error_from_response(got)
                    for chunk in got.iter_bytes(CHUNK_SIZE):
                        out.write(chunk)
                        hasher.update(chunk)
                        have += len(chunk)
                        progressed = True
                        report(have)
                    if size is None:
                        size = have
            except httpx.TransportError:
                out.flush()
                attempt = 0 if progressed else attempt
                delay = client.retry.delay(attempt, None)
                if delay is None:
                    raise
                client.retry.sleep(delay)
                attempt += 1
    digest = hasher.digest()
    if expected and not _digest_matches(digest, expected):
        partial.unlink()
        raise ChecksumMismatchError(f"context {context_id}", expected, digest.hex())
    os.replace(partial, dest)
    return DownloadResult(dest, have, digest.hex(), resumed_from)
