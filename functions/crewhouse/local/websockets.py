"""Local stand-in for API Gateway WebSocket APIs: real WebSockets (RFC 6455) and the management API callback.

moto stores ``AWS::ApiGatewayV2`` WebSocket APIs, routes and integrations but serves none of them, and the
project locks no WebSocket library, so this module speaks the protocol itself over asyncio streams, on one
local port for both:

* ``ws://<host>:<port>/<stage>?…``: the upgrade runs the ``$connect`` route's Lambda (the connection opens only
  on a 2xx answer; its ``Sec-WebSocket-Protocol`` header is passed on), each text or binary frame the route that
  ``$request.body.action`` selects (else ``$default``), and a close (by the client, the server or ``DELETE``) the
  ``$disconnect`` route, each with API Gateway's WebSocket event shape (``requestContext.connectionId``,
  ``routeKey``, ``eventType`` CONNECT/MESSAGE/DISCONNECT, ``domainName``, ``stage``, ``apiId`` …);
* ``POST|GET|DELETE /<stage>/@connections/<id>``: what a Lambda's ``boto3.client("apigatewaymanagementapi",
  endpoint_url=<callback url>)`` calls (``PostToConnection``, ``GetConnection``, ``DeleteConnection``); an unknown
  connection answers 410 ``GoneException`` as AWS does.

Limits kept from AWS: 128 KB a message (frames of one message together; 1009 close beyond), 29 s an integration.
Not emulated: Lambda authorizers on ``$connect`` (refused at start), the management API's SigV4 check and IAM,
route responses (replies go through ``@connections``), idle (10 min) and 2-hour connection limits.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import os
import re
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

logger = logging.getLogger(__name__)

Invoke = Callable[[str, dict[str, Any]], tuple[Any, str | None]]
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_MESSAGE_BYTES = 128 * 1024
INTEGRATION_TIMEOUT = 29.0
_CONNECTIONS = re.compile(r"^(?:/[^/]+)?/@connections/([^/?]+)$")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class WebSocketApi:
    """One deployed ``AWS::ApiGatewayV2::Api`` of protocol WEBSOCKET: route key -> function name."""

    api_id: str
    stage: str
    routes: Mapping[str, str]
    selection_expression: str = "$request.body.action"


def websocket_apis(apigw: Any) -> list[WebSocketApi]:
    """The WebSocket APIs the emulator's API Gateway holds (deployed from the template), with their routes."""
    found = []
    for api in apigw.get_apis()["Items"]:
        if api.get("ProtocolType") != "WEBSOCKET":
            continue
        routes: dict[str, str] = {}
        for route in apigw.get_routes(ApiId=api["ApiId"])["Items"]:
            if route.get("AuthorizationType") not in (None, "NONE"):
                raise ValueError(f"route {route['RouteKey']}: the embedded WebSocket gateway runs no authorizers")
            integration = apigw.get_integration(ApiId=api["ApiId"], IntegrationId=route["Target"].split("/", 1)[1])
            uri = integration["IntegrationUri"]
            arn = uri.split("/functions/", 1)[1].rsplit("/invocations", 1)[0] if "/functions/" in uri else uri
            routes[route["RouteKey"]] = arn.split(":")[6]
        stages = [s["StageName"] for s in apigw.get_stages(ApiId=api["ApiId"]).get("Items", [])]
        found.append(WebSocketApi(api["ApiId"], stages[0] if stages else "live", routes,
                                  api.get("RouteSelectionExpression") or "$request.body.action"))
    return found


# --- frames ----------------------------------------------------------------------------------------------------

def encode_frame(opcode: int, payload: bytes, *, mask: bool = False) -> bytes:
    head = bytes([0x80 | opcode])
    length = len(payload)
    mask_bit = 0x80 if mask else 0
    if length < 126:
        head += bytes([mask_bit | length])
    elif length < 65536:
        head += bytes([mask_bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", length)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + _unmask(payload, key)


def _unmask(payload: bytes, key: bytes) -> bytes:
    if not payload:
        return payload
    repeated = (key * (len(payload) // 4 + 1))[:len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(len(payload), "big")


async def read_frame(reader: asyncio.StreamReader) -> tuple[bool, int, bytes]:
    """(fin, opcode, payload) of the next frame, unmasked."""
    first, second = await reader.readexactly(2)
    length = second & 0x7F
    if length == 126:
        length = struct.unpack("!H", await reader.readexactly(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", await reader.readexactly(8))[0]
    if length > MAX_MESSAGE_BYTES + 16:
        raise _TooBig()
    key = await reader.readexactly(4) if second & 0x80 else b""
    payload = await reader.readexactly(length)
    return bool(first & 0x80), first & 0x0F, _unmask(payload, key) if key else payload


class _TooBig(Exception):
    pass


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


# --- the server ---------------------------------------------------------------------------------------------

@dataclass
class _Connection:
    connection_id: str
    api: WebSocketApi
    writer: asyncio.StreamWriter
    headers: dict[str, str]
    source_ip: str
    connected_at: float
    last_active: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closed: bool = False

    async def send(self, opcode: int, payload: bytes) -> None:
        async with self.lock:
            self.writer.write(encode_frame(opcode, payload))
            await self.writer.drain()


class WebSocketGateway:
    """The WebSocket APIs of a deployed stack on one local port, in a daemon thread with its own event loop."""

    def __init__(self, invoke: Invoke, host: str = "127.0.0.1", port: int = 0) -> None:
        self.invoke = invoke
        self.host = host
        self.port = port
        self.apis: list[WebSocketApi] = []
        self._connections: dict[str, _Connection] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        stage = self.apis[0].stage if self.apis else "live"
        return f"ws://{self.host}:{self.port}/{stage}"

    def callback_url(self, stage: str) -> str:
        return f"http://{self.host}:{self.port}/{stage}"

    def start(self, timeout: float = 10.0) -> WebSocketGateway:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(asyncio.start_server(
                    self._accept, self.host, self.port, reuse_address=True))
                self.port = int(self._server.sockets[0].getsockname()[1])
            except BaseException as exc:  # the port is taken
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="crewhouse-websockets", daemon=True)
        self._thread.start()
        ready.wait(timeout)
        if failure:
            raise RuntimeError(f"The WebSocket gateway could not listen on {self.host}:{self.port}") from failure[0]
        return self

    def stop(self, timeout: float = 5.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shut() -> None:
            if self._server is not None:
                self._server.close()
            for connection in list(self._connections.values()):
                await self._close(connection, 1001, "Going away", notify=False)
            # Idle keep-alive requests of the management API (boto3's pooled connections) wait in _accept.
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shut(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._loop = self._thread = None

    # --- one TCP connection: HTTP requests (keep-alive) or one WebSocket -----------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                method, target, headers, body_length = request
                if headers.get("upgrade", "").lower() == "websocket":
                    await self._websocket(reader, writer, target, headers)
                    return
                body = await reader.readexactly(body_length) if body_length else b""
                status, extra, payload = await self._management(method, target, body)
                _write_response(writer, status, extra, payload)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        except Exception:
            logger.exception("WebSocket gateway request failed")
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _management(self, method: str, target: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        match = _CONNECTIONS.match(unquote(urlsplit(target).path))  # boto3 sends the id's "=" as %3D
        if match is None:
            return _error(404, "NotFoundException", "Not Found")
        connection = self._connections.get(match.group(1))
        if connection is None or connection.closed:
            return _error(410, "GoneException", f"Connection {match.group(1)} is gone")
        if method == "POST":
            if len(body) > MAX_MESSAGE_BYTES:
                return _error(413, "PayloadTooLargeException", "Message too long")
            await connection.send(0x1, body)  # PostToConnection sends text frames for UTF-8 data
            return 200, {}, b""
        if method == "GET":
            return 200, {"content-type": "application/json"}, json.dumps({
                "ConnectedAt": _iso(connection.connected_at), "LastActiveAt": _iso(connection.last_active),
                "Identity": {"SourceIp": connection.source_ip,
                             "UserAgent": connection.headers.get("user-agent", "")}}).encode()
        if method == "DELETE":
            await self._close(connection, 1000, "", notify=True)
            return 204, {}, b""
        return _error(405, "MethodNotAllowed", "Method Not Allowed")

    async def _websocket(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: str,
                         headers: dict[str, str]) -> None:
        parts = urlsplit(target)
        stage = parts.path.strip("/").split("/")[0]
        api = next((a for a in self.apis if a.stage == stage), self.apis[0] if len(self.apis) == 1 else None)
        if api is None or "sec-websocket-key" not in headers:
            _write_response(writer, 404 if api is None else 400, {}, b"")
            await writer.drain()
            return
        peer = writer.get_extra_info("peername") or ("127.0.0.1", 0)
        now = time.time()
        connection = _Connection(_connection_id(), api, writer, headers, str(peer[0]), now, now)
        query = parse_qsl(parts.query, keep_blank_values=True)
        event = self._event(connection, "$connect", "CONNECT", extra={
            "headers": _api_headers(headers, self.host, self.port),
            "multiValueHeaders": {k: [v] for k, v in _api_headers(headers, self.host, self.port).items()},
            **({"queryStringParameters": dict(query),
                "multiValueQueryStringParameters": _multi(query)} if query else {})})
        answer = await self._run_route(api, "$connect", event)
        status = int(answer.get("statusCode", 200)) if isinstance(answer, dict) else (200 if answer is None else 500)
        if not 200 <= status < 300:
            _write_response(writer, status if status in (401, 403) else 500 if status >= 500 else status, {},
                            json.dumps({"message": "Forbidden" if status == 403 else "Unauthorized"
                                        if status == 401 else "Internal server error"}).encode())
            await writer.drain()
            return
        reply = {"Upgrade": "websocket", "Connection": "Upgrade",
                 "Sec-WebSocket-Accept": accept_key(headers["sec-websocket-key"])}
        protocol = {k.lower(): v for k, v in ((answer or {}).get("headers") or {}).items()}.get(
            "sec-websocket-protocol")
        if protocol:
            reply["Sec-WebSocket-Protocol"] = str(protocol)
        _write_response(writer, 101, reply, b"", length=False)
        await writer.drain()
        self._connections[connection.connection_id] = connection
        await self._serve(connection, reader)

    async def _serve(self, connection: _Connection, reader: asyncio.StreamReader) -> None:
        inbox: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        worker = asyncio.create_task(self._messages(connection, inbox))
        code, reason = 1006, "Connection lost"
        fragments: list[bytes] = []
        fragment_opcode = 0
        try:
            while not connection.closed:
                fin, opcode, payload = await read_frame(reader)
                connection.last_active = time.time()
                if opcode == 0x8:  # close: answer it, then $disconnect
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                    reason = payload[2:].decode(errors="replace")
                    with contextlib.suppress(Exception):
                        await connection.send(0x8, payload[:2])
                    break
                if opcode == 0x9:
                    await connection.send(0xA, payload)
                    continue
                if opcode == 0xA:
                    continue
                if opcode in (0x1, 0x2):
                    fragments, fragment_opcode = [payload], opcode
                elif opcode == 0x0:
                    fragments.append(payload)
                if sum(len(f) for f in fragments) > MAX_MESSAGE_BYTES:
                    code, reason = 1009, "Message too long"
                    with contextlib.suppress(Exception):
                        await connection.send(0x8, struct.pack("!H", 1009) + b"Message too long")
                    break
                if fin:
                    await inbox.put((fragment_opcode, b"".join(fragments)))
                    fragments = []
        except (asyncio.IncompleteReadError, ConnectionError, _TooBig):
            pass
        await inbox.put(None)
        with contextlib.suppress(Exception):
            await worker
        if not connection.closed:
            await self._close(connection, code, reason, notify=True, send_close=False)

    async def _messages(self, connection: _Connection, inbox: asyncio.Queue[tuple[int, bytes] | None]) -> None:
        """One client message at a time, in order, each to the route its action selects."""
        while (item := await inbox.get()) is not None:
            opcode, payload = item
            binary = opcode == 0x2
            body = base64.b64encode(payload).decode() if binary else payload.decode("utf-8", errors="replace")
            route = self._select(connection.api, None if binary else body)
            event = self._event(connection, route, "MESSAGE", extra={"body": body, "isBase64Encoded": binary})
            event["requestContext"]["messageId"] = uuid.uuid4().hex[:16]
            await self._run_route(connection.api, route, event)

    def _select(self, api: WebSocketApi, body: str | None) -> str:
        match = re.fullmatch(r"\$request\.body\.([A-Za-z0-9_]+)", api.selection_expression)
        if body is not None and match:
            with contextlib.suppress(ValueError, AttributeError):
                value = json.loads(body).get(match.group(1))
                if isinstance(value, str) and value in api.routes:
                    return value
        return "$default"

    async def _close(self, connection: _Connection, code: int, reason: str, *, notify: bool,
                     send_close: bool = True) -> None:
        if connection.closed:
            return
        connection.closed = True
        self._connections.pop(connection.connection_id, None)
        if send_close:
            with contextlib.suppress(Exception):
                await connection.send(0x8, struct.pack("!H", code) + reason.encode()[:120])
        with contextlib.suppress(Exception):
            connection.writer.close()
        if notify:
            event = self._event(connection, "$disconnect", "DISCONNECT", extra={
                "headers": _api_headers(connection.headers, self.host, self.port)})
            event["requestContext"].update({"disconnectStatusCode": code, "disconnectReason": reason})
            await self._run_route(connection.api, "$disconnect", event)

    async def _run_route(self, api: WebSocketApi, route: str, event: dict[str, Any]) -> Any:
        function = api.routes.get(route)
        if function is None:
            return None  # no integration: API Gateway accepts and does nothing
        try:
            payload, error = await asyncio.wait_for(asyncio.to_thread(self.invoke, function, event),
                                                    INTEGRATION_TIMEOUT)
        except Exception:
            logger.exception("Invoking %s for %s failed", function, route)
            return {"statusCode": 500}
        if error:
            logger.warning("%s failed on %s: %s", function, route, payload)
            return {"statusCode": 500}
        return payload

    def _event(self, connection: _Connection, route: str, event_type: str, *,
               extra: Mapping[str, Any]) -> dict[str, Any]:
        now = time.time()
        return {**extra, "requestContext": {
            "routeKey": route, "eventType": event_type, "extendedRequestId": uuid.uuid4().hex[:16],
            "requestTime": _clf(now), "messageDirection": "IN", "stage": connection.api.stage,
            "connectedAt": int(connection.connected_at * 1000), "requestTimeEpoch": int(now * 1000),
            "identity": {"sourceIp": connection.source_ip, "userAgent": connection.headers.get("user-agent", "")},
            "requestId": uuid.uuid4().hex[:16], "domainName": f"{self.host}:{self.port}",
            "connectionId": connection.connection_id, "apiId": connection.api.api_id}}


def _connection_id() -> str:
    return base64.b64encode(os.urandom(10)).decode().replace("/", "_").replace("+", "-")


def _api_headers(headers: Mapping[str, str], host: str, port: int) -> dict[str, str]:
    canonical = {"sec-websocket-key": "Sec-WebSocket-Key", "sec-websocket-version": "Sec-WebSocket-Version",
                 "sec-websocket-protocol": "Sec-WebSocket-Protocol",
                 "sec-websocket-extensions": "Sec-WebSocket-Extensions", "host": "Host"}
    shown = {canonical.get(k, k): v for k, v in headers.items()}
    shown.update({"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Port": str(port), "X-Forwarded-Proto": "http"})
    return shown


def _multi(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in pairs:
        out.setdefault(key, []).append(value)
    return out


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], int] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return method, target, headers, int(headers.get("content-length") or 0)


_REASONS = {101: "Switching Protocols", 200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
            403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 410: "Gone", 413: "Payload Too Large",
            500: "Internal Server Error"}


def _write_response(writer: asyncio.StreamWriter, status: int, headers: Mapping[str, str], body: bytes, *,
                    length: bool = True) -> None:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


def _error(status: int, error_type: str, message: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"content-type": "application/json", "x-amzn-ErrorType": error_type}, json.dumps(
        {"message": message}).encode()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _clf(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return f"{moment.day:02d}/{_MONTHS[moment.month - 1]}/{moment.year}:{moment:%H:%M:%S} +0000"


# --- a small blocking client (tests, benchmarks, scripts) ------------------------------------------------------

class HandshakeRefused(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"WebSocket handshake refused: HTTP {status} {body[:200]!r}")
        self.status = status


class WebSocketClient:
    """A blocking RFC 6455 client: ``connect(url)``, ``send``, ``receive``, ``close``."""

    def __init__(self, sock: socket.socket, protocol: str | None) -> None:
        self._sock = sock
        self._buffer = b""
        self.protocol = protocol
        self.closed = False

    @classmethod
    def connect(cls, url: str, *, protocols: list[str] | None = None, timeout: float = 10.0) -> WebSocketClient:
        parts = urlsplit(url)
        sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        target = parts.path or "/"
        if parts.query:
            target += f"?{parts.query}"
        lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13", "User-Agent: crewhouse-local-client"]
        if protocols:
            lines.append(f"Sec-WebSocket-Protocol: {', '.join(protocols)}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        client = cls(sock, None)
        head = client._read_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        status = int(head[0].split(" ")[1])
        headers = {line.split(":", 1)[0].strip().lower(): line.split(":", 1)[1].strip() for line in head[1:]
                   if ":" in line}
        if status != 101:
            body = client._read_exactly(int(headers.get("content-length") or 0))
            sock.close()
            raise HandshakeRefused(status, body)
        if headers.get("sec-websocket-accept") != accept_key(key):
            sock.close()
            raise HandshakeRefused(status, b"bad Sec-WebSocket-Accept")
        client.protocol = headers.get("sec-websocket-protocol")
        return client

    def send(self, message: str | Mapping[str, Any]) -> None:
        text = message if isinstance(message, str) else json.dumps(message)
        self._sock.sendall(encode_frame(0x1, text.encode(), mask=True))

    def receive(self, timeout: float = 5.0) -> str:
        """The next text message; TimeoutError when none comes in time, ConnectionError once closed."""
        self._sock.settimeout(timeout)
        parts: list[bytes] = []
        while True:
            try:
                first, second = self._read_exactly(2)
            except TimeoutError:
                raise
            except OSError as exc:
                raise ConnectionError("closed") from exc
            self._sock.settimeout(10)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._read_exactly(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._read_exactly(8))[0]
            payload = self._read_exactly(length)
            opcode = first & 0x0F
            if opcode == 0x8:
                self.closed = True
                raise ConnectionError(f"closed by the server: {payload[:2].hex()} {payload[2:]!r}")
            if opcode == 0x9:
                self._sock.sendall(encode_frame(0xA, payload, mask=True))
                continue
            if opcode in (0x1, 0x2, 0x0):
                parts.append(payload)
                if first & 0x80:
                    return b"".join(parts).decode()

    def receive_json(self, timeout: float = 5.0) -> dict[str, Any]:
        return dict(json.loads(self.receive(timeout)))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):
                self._sock.sendall(encode_frame(0x8, struct.pack("!H", 1000), mask=True))
                self._sock.settimeout(2)
                self._read_exactly(2)
        with contextlib.suppress(OSError):
            self._sock.close()

    def __enter__(self) -> WebSocketClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read_exactly(self, count: int) -> bytes:
        while len(self._buffer) < count:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self._buffer += chunk
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self._buffer:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed during the handshake")
            self._buffer += chunk
        index = self._buffer.index(marker) + len(marker)
        data, self._buffer = self._buffer[:index], self._buffer[index:]
        return data
