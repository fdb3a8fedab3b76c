"""A scripted bus behind ``httpx.MockTransport``: routes by method and path, records every request."""

from __future__ import annotations

import base64
import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from crewhouse_bus import BusClient

BASE_URL = "http://bus.test/"
Handler = Callable[[httpx.Request], httpx.Response]


def problem(status: int, detail: str = "", *, headers: dict[str, str] | None = None, **extra: Any) -> httpx.Response:
    body = {"type": f"https://crewhouse.dev/problems/{status}", "title": f"T{status}", "status": status,
            "detail": detail, **extra}
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json", **(headers or {})})


class FakeBus:
    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Handler | httpx.Response]] = defaultdict(list)
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []
        self.tokens_issued = 0
        self.token_lifetime = 300
        self.route("POST", "/bus/token", self._issue_token)

    def _issue_token(self, request: httpx.Request) -> httpx.Response:
        self.tokens_issued += 1
        return httpx.Response(200, json={"access_token": f"tok{self.tokens_issued}", "token_type": "Bearer",
                                         "expires_in": self.token_lifetime})

    def route(self, method: str, path: str, *answers: Handler | httpx.Response) -> None:
        """Answers are used in turn; the last one keeps answering."""
        self.routes[(method, path)] = list(answers)

    def handle(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        answers = self.routes.get((request.method, request.url.path))
        if not answers:
            return problem(404, f"no fake route {request.method} {request.url.path}")
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return answer(request) if callable(answer) else answer

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def client(self, *, token: str | None = None, clock: Callable[[], float] | None = None,
               max_attempts: int = 4) -> BusClient:
        builder = BusClient.builder().base_url(BASE_URL).transport(self.transport()).sleep(self.sleeps.append)
        builder.retries(max_attempts, base_delay=0.2, max_delay=5.0).jitter(lambda: 0.5)
        if token is not None:
            builder.bearer_token(token)
        else:
            builder.client_credentials("client-1", "secret-1")
        if clock is not None:
            builder.clock(clock)
        return builder.build()

    def calls(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]

    def api_calls(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path != "/bus/token"]


def json_of(request: httpx.Request) -> Any:
    return json.loads(request.content)


def b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


class FakeStreams:
    """The stream routes and an S3 that, like the real one, refuses a part whose checksum header is wrong."""

    def __init__(self, bus: FakeBus, *, stream_id: str = "s1") -> None:
        self.bus = bus
        self.stream_id = stream_id
        self.declared: dict[str, Any] = {}
        self.stored: dict[int, bytes] = {}
        self.put_numbers: list[int] = []
        self.completed_with: list[dict[str, Any]] | None = None
        bus.route("POST", "/streams", self._start)
        bus.route("GET", f"/streams/{stream_id}", lambda r: httpx.Response(200, json=self.view()))
        bus.route("POST", f"/streams/{stream_id}/complete", self._complete)
        for number in range(1, 1001):
            bus.route("PUT", f"/bucket/{stream_id}/{number}", self._put)

    def _start(self, request: httpx.Request) -> httpx.Response:
        self.declared = json_of(request)
        return httpx.Response(201, json=self.view())

    def view(self) -> dict[str, Any]:
        checksums = self.declared["part_checksums"]
        missing = [n for n in range(1, len(checksums) + 1) if n not in self.stored]
        return {
            "stream_id": self.stream_id, "status": "open", "size": self.declared["size"],
            "sha256": self.declared["sha256"], "part_size": self.declared["part_size"],
            "parts": [{"number": n, "url": f"http://s3.test/bucket/{self.stream_id}/{n}?X-Amz-Signature=x",
                       "checksum_sha256": checksums[n - 1],
                       "headers": {"x-amz-checksum-sha256": checksums[n - 1]}} for n in missing],
            "parts_received": [{"number": n, "etag": f'"etag-{n}"', "size": len(data)}
                               for n, data in sorted(self.stored.items())],
        }

    def _put(self, request: httpx.Request) -> httpx.Response:
        number = int(request.url.path.rsplit("/", 1)[1])
        self.put_numbers.append(number)
        if request.headers.get("x-amz-checksum-sha256") != b64_sha256(request.content):
            return httpx.Response(400, text="<Error><Code>BadDigest</Code></Error>")
        self.stored[number] = request.content
        return httpx.Response(200, headers={"ETag": f'"etag-{number}"'})

    def _complete(self, request: httpx.Request) -> httpx.Response:
        self.completed_with = json_of(request)["parts"]
        whole = b"".join(self.stored[n] for n in sorted(self.stored))
        if hashlib.sha256(whole).hexdigest() != self.declared["sha256"]:
            return problem(409, "checksum mismatch")
        return httpx.Response(201, json={"id": "ctx1", "version": 1, "size": len(whole),
                                         "sha256": self.declared["sha256"]})


class BrokenStream(httpx.SyncByteStream):
    """A body that delivers ``data`` in chunks, then drops the connection after ``fail_after`` bytes."""

    def __init__(self, data: bytes, fail_after: int | None, chunk: int = 256 * 1024) -> None:
        self.data, self.fail_after, self.chunk = data, fail_after, chunk

    def __iter__(self) -> Iterator[bytes]:
        sent = 0
        while sent < len(self.data):
            if self.fail_after is not None and sent >= self.fail_after:
                raise httpx.ReadError("connection reset by peer")
            piece = self.data[sent:sent + self.chunk]
            sent += len(piece)
            yield piece
