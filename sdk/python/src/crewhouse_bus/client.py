"""``BusClient``: the bus's HTTP API as typed Python calls, with auth, retries and pagination built in."""

from __future__ import annotations

import base64
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, cast

import httpx

from crewhouse_bus._auth import ClientCredentials, StaticToken, TokenSource
from crewhouse_bus._retry import RETRYABLE_STATUSES, RetryPolicy
from crewhouse_bus._version import __version__
from crewhouse_bus.errors import ReplyTimeoutError, error_from_response
from crewhouse_bus.heartbeat import HeartbeatLoop
from crewhouse_bus.models import (
    Agent,
    AgentCredentials,
    Context,
    ContextScope,
    DownloadLink,
    Heartbeat,
    Message,
    Reply,
    SendResult,
    Settled,
    Stream,
)
from crewhouse_bus.streams import DownloadResult, Progress, Upload, download_to, plan_upload
from crewhouse_bus.subscription import Subscription, consume_messages

DEFAULT_BASE_URL = "http://localhost:8000/"
MAX_RECEIPTS_PER_CALL = 100
MAX_SYNC_REQUEST_SECONDS = 25  # the API Gateway integration's ceiling leaves room for the answer
Json = dict[str, Any]
Source = str | os.PathLike[str] | IO[bytes]


def _if_match(version: int | str | None) -> dict[str, str]:
    if version is None:
        return {}
    if isinstance(version, int):
        return {"If-Match": f'"{version}"'}
    return {"If-Match": version}


def _without_none(values: Mapping[str, Any]) -> Json:
    return {key: value for key, value in values.items() if value is not None}


class BusClient:
    """One tenant's bus, as one agent (client credentials) or one person (bearer token). Thread-safe.

    Build it with :meth:`builder`; close it (or use ``with``) to release connections.
    """

    def __init__(self, *, base_url: str, auth: Callable[[BusClient], TokenSource], timeout: float,
                 retry: RetryPolicy, transport: httpx.BaseTransport | None = None,
                 storage_transport: httpx.BaseTransport | None = None, user_agent: str | None = None,
                 auto_idempotency_keys: bool = True) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout = timeout
        self.retry = retry
        self.auto_idempotency_keys = auto_idempotency_keys
        headers = {"User-Agent": user_agent or f"crewhouse-bus-sdk/{__version__}"}
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport, headers=headers)
        # Presigned S3 URLs carry their own signature: no bearer token must reach them.
        self._storage = httpx.Client(timeout=timeout, transport=storage_transport or transport, headers=headers)
        self._auth = auth(self)

    @staticmethod
    def builder() -> BusClientBuilder:
        return BusClientBuilder()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> BusClient:
        """``CREWHOUSE_BUS_URL`` with ``CREWHOUSE_BUS_CLIENT_ID``/``_SECRET``, or ``CREWHOUSE_BUS_TOKEN``."""
        builder = cls.builder().base_url(environ.get("CREWHOUSE_BUS_URL", DEFAULT_BASE_URL))
        if environ.get("CREWHOUSE_BUS_CLIENT_ID"):
            builder.client_credentials(environ["CREWHOUSE_BUS_CLIENT_ID"], environ["CREWHOUSE_BUS_CLIENT_SECRET"])
        elif environ.get("CREWHOUSE_BUS_TOKEN"):
            builder.bearer_token(environ["CREWHOUSE_BUS_TOKEN"])
        return builder.build()

    def close(self) -> None:
        self._http.close()
        self._storage.close()

    def __enter__(self) -> BusClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- the request machinery

    def _retrying(self, send: Callable[[], httpx.Response]) -> httpx.Response:
        """``send`` again after connection errors, 429 and 5xx; the last answer is returned, good or bad."""
        attempt = 0
        while True:
            try:
                response = send()
            except httpx.TransportError:
                delay = self.retry.delay(attempt, None)
                if delay is None:
                    raise
            else:
                if response.status_code not in RETRYABLE_STATUSES:
                    return response
                delay = self.retry.delay(attempt, response.headers.get("Retry-After"))
                if delay is None:
                    return response
                response.close()
            self.retry.sleep(delay)
            attempt += 1

    def _post_form(self, url: str, form: dict[str, str]) -> httpx.Response:
        return self._retrying(lambda: self._http.post(url, data=form))

    def call(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None,
             headers: Mapping[str, str] | None = None, read_timeout: float | None = None,
             ok: tuple[int, ...] = ()) -> httpx.Response:
        """One authenticated call; a 2xx (or a status in ``ok``) is returned, anything else raised as ``BusError``.

        A 401 renews the token and tries once more (a token revoked or expired early). Every POST carries an
        ``Idempotency-Key``, the same across retries, so a retried send is not delivered twice (unless the client
        was built with ``.idempotency_keys(False)``).
        """
        sent_headers = dict(headers or {})
        if method.upper() == "POST" and self.auto_idempotency_keys:
            sent_headers.setdefault("Idempotency-Key", str(uuid.uuid4()))
        timeout = httpx.Timeout(self.timeout, read=read_timeout) if read_timeout else self.timeout
        query = _without_none(params or {})

        def send() -> httpx.Response:
            authorization = {"Authorization": f"Bearer {self._auth.token()}"}
            return self._http.request(method, path, params=query, json=json,
                                      headers={**sent_headers, **authorization}, timeout=timeout)

        response = self._retrying(send)
        if response.status_code == 401 and self._auth.invalidate():
            response = self._retrying(send)
        if response.is_success or response.status_code in ok:
            return response
        raise error_from_response(response)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        return response.json() if response.content else None

    def paginate(self, path: str, params: Mapping[str, Any] | None = None, *, page_size: int | None = None
                 ) -> Iterator[Json]:
        """Every item of a ``{"items", "next_cursor"}`` listing, fetching pages as the iteration needs them."""
        query = dict(params or {})
        if page_size is not None:
            query["limit"] = page_size
        while True:
            page = self._json("GET", path, params=query)
            yield from page.get("items", [])
            cursor = page.get("next_cursor")
            if not cursor:
                return
            query["cursor"] = cursor

    # ---- registry

    def register_agent(self, name: str, *, kind: str = "external", role: str = "agent-full",
                       capabilities: list[str] | None = None, description: str | None = None,
                       metadata: dict[str, str] | None = None, **settings: Any) -> Agent:
        """Admins only. An external agent's answer carries ``credentials`` once: keep the secret."""
        body = _without_none({"name": name, "kind": kind, "role": role, "capabilities": capabilities,
                              "description": description, "metadata": metadata, **settings})
        return cast(Agent, self._json("POST", "agents", json=body))

    def get_agent(self, agent_id: str) -> Agent:
        return cast(Agent, self._json("GET", f"agents/{agent_id}"))

    def list_agents(self, *, capability: str | None = None, kind: str | None = None, status: str | None = None,
                    page_size: int | None = None) -> Iterator[Agent]:
        """Discovery: agents with a capability, of a kind, or in a status; pages are fetched lazily."""
        params = {"capability": capability, "kind": kind, "status": status}
        return cast(Iterator[Agent], self.paginate("agents", params, page_size=page_size))

    def discover(self, capability: str, *, status: str | None = None, limit: int = 50) -> list[Agent]:
        found: list[Agent] = []
        for agent in self.list_agents(capability=capability, status=status, page_size=min(limit, 200)):
            found.append(agent)
            if len(found) >= limit:
                break
        return found

    def update_agent(self, agent_id: str, changes: Mapping[str, Any], *, if_match: int | str | None = None) -> Agent:
        return cast(Agent, self._json("PATCH", f"agents/{agent_id}", json=dict(changes), headers=_if_match(if_match)))

    def delete_agent(self, agent_id: str) -> None:
        self.call("DELETE", f"agents/{agent_id}")

    def heartbeat(self, agent_id: str) -> Heartbeat:
        return cast(Heartbeat, self._json("PUT", f"agents/{agent_id}/heartbeat"))

    def start_heartbeat(self, agent_id: str, *, interval: float | None = None) -> HeartbeatLoop:
        """Heartbeats from a daemon thread, every ``interval`` seconds (default: the agent's own interval)."""
        if interval is None:
            interval = float(self.get_agent(agent_id).get("heartbeat_interval_seconds", 30))
        loop = HeartbeatLoop(lambda: self.heartbeat(agent_id), interval)
        loop.start()
        return loop

    def rotate_credentials(self, agent_id: str) -> AgentCredentials:
        return cast(AgentCredentials, self._json("POST", f"agents/{agent_id}/credentials"))

    def revoke_credentials(self, agent_id: str) -> None:
        self.call("DELETE", f"agents/{agent_id}/credentials")

    def agent_card(self, agent_id: str) -> Json:
        return cast(Json, self._json("GET", f"agents/{agent_id}/card"))

    # ---- contexts

    def create_context(self, name: str, *, payload: Any = None, payload_bytes: bytes | None = None,
                       scope: ContextScope = "private", members: list[str] | None = None,
                       tags: list[str] | None = None, content_type: str | None = None,
                       ttl_seconds: int | None = None) -> Context:
        """An inline context (JSON ``payload`` or binary ``payload_bytes``, up to 256 KiB); larger: :meth:`upload`."""
        body = _without_none({"name": name, "scope": scope, "members": members, "tags": tags,
                              "content_type": content_type, "ttl_seconds": ttl_seconds})
        body.update(_payload_fields(payload, payload_bytes))
        return cast(Context, self._json("POST", "contexts", json=body))

    def get_context(self, context_id: str, *, version: int | None = None, wait_version: int | None = None
                    ) -> Context:
        """``wait_version=N`` long-polls until version N exists (the bus answers within 25 s)."""
        params = {"version": version, "wait_version": wait_version}
        read_timeout = MAX_SYNC_REQUEST_SECONDS + self.timeout if wait_version is not None else None
        return cast(Context, self._json("GET", f"contexts/{context_id}", params=params, read_timeout=read_timeout))

    def update_context(self, context_id: str, *, payload: Any = None, payload_bytes: bytes | None = None,
                       if_match: int | str | None = None, **fields: Any) -> Context:
        """A new version. ``if_match`` (the version read, or its ETag) makes a stale write a 412."""
        body = _without_none(fields)
        body.update(_payload_fields(payload, payload_bytes))
        return cast(Context, self._json("PUT", f"contexts/{context_id}", json=body, headers=_if_match(if_match)))

    def list_contexts(self, *, tag: str | None = None, name: str | None = None, page_size: int | None = None
                      ) -> Iterator[Context]:
        return cast(Iterator[Context], self.paginate("contexts", {"tag": tag, "name": name}, page_size=page_size))

    def context_versions(self, context_id: str) -> Iterator[Context]:
        return cast(Iterator[Context], self.paginate(f"contexts/{context_id}/versions"))

    def delete_context(self, context_id: str) -> None:
        self.call("DELETE", f"contexts/{context_id}")

    def download_link(self, context_id: str, *, version: int | None = None) -> DownloadLink:
        return cast(DownloadLink, self._json("GET", f"contexts/{context_id}/download", params={"version": version}))

    # ---- streams

    def start_upload(self, source: Source, *, name: str | None = None, part_size: int | None = None,
                     context_id: str | None = None, if_match: int | str | None = None, **context_fields: Any
                     ) -> Upload:
        """Hashes ``source`` in one streaming pass and opens a stream; ``Upload.send()`` moves the bytes.

        A new context needs ``name``; ``context_id`` (with ``if_match``) makes the payload its next version.
        """
        plan = plan_upload(source, part_size)
        body = _without_none({"name": name, "size": plan.size, "sha256": plan.sha256, "part_size": plan.part_size,
                              "part_checksums": [part.checksum_sha256 for part in plan.parts],
                              "context_id": context_id, "if_match": _if_match(if_match).get("If-Match"),
                              **context_fields})
        stream = cast(Stream, self._json("POST", "streams", json=body))
        return Upload(self, plan, stream)

    def resume_upload(self, stream_id: str, source: Source, *, part_size: int | None = None) -> Upload:
        """The upload of an interrupted stream: only the parts the bus lacks will be sent."""
        stream = self.get_stream(stream_id)
        plan = plan_upload(source, part_size or stream.get("part_size"))
        return Upload(self, plan, stream)

    def upload(self, source: Source, *, name: str | None = None, progress: Progress | None = None,
               stream_id: str | None = None, part_size: int | None = None, **context_fields: Any) -> Context:
        """Streams a file or binary stream into a context, resuming ``stream_id`` when given."""
        if stream_id is not None:
            upload = self.resume_upload(stream_id, source, part_size=part_size)
        else:
            upload = self.start_upload(source, name=name, part_size=part_size, **context_fields)
        return upload.send(progress=progress)

    def get_stream(self, stream_id: str) -> Stream:
        return cast(Stream, self._json("GET", f"streams/{stream_id}"))

    def complete_stream(self, stream_id: str, parts: list[Json]) -> Context:
        answer = self._json("POST", f"streams/{stream_id}/complete", json={"parts": parts})
        return cast(Context, answer.get("context", answer) if isinstance(answer, dict) else answer)

    def abort_stream(self, stream_id: str) -> None:
        self.call("DELETE", f"streams/{stream_id}")

    def download(self, context_id: str, dest_path: str | os.PathLike[str], *, progress: Progress | None = None,
                 version: int | None = None) -> DownloadResult:
        """Ranged, resumable download into ``dest_path`` (partial bytes kept in ``<dest>.part``), SHA-256 checked."""
        return download_to(self, context_id, Path(dest_path), progress=progress, version=version)

    # ---- messaging

    def send(self, to: str, payload: Any, *, attributes: dict[str, str] | None = None,
             context_ref: str | None = None, idempotency_key: str | None = None) -> SendResult:
        """To one agent. Pass your own ``idempotency_key`` to deduplicate across processes (24 h, per sender)."""
        body = _without_none({"to": to, "payload": payload, "attributes": attributes, "context_ref": context_ref})
        return self._send_message("messages", body, idempotency_key)

    def broadcast(self, payload: Any, *, attributes: dict[str, str] | None = None, context_ref: str | None = None,
                  idempotency_key: str | None = None) -> SendResult:
        body = _without_none({"payload": payload, "attributes": attributes, "context_ref": context_ref})
        return self._send_message("messages/broadcast", body, idempotency_key)

    def publish(self, topic: str, payload: Any, *, attributes: dict[str, str] | None = None,
                context_ref: str | None = None, idempotency_key: str | None = None) -> SendResult:
        body = _without_none({"payload": payload, "attributes": attributes, "context_ref": context_ref})
        return self._send_message(f"topics/{topic}/messages", body, idempotency_key)

    def _send_message(self, path: str, body: Json, idempotency_key: str | None) -> SendResult:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return cast(SendResult, self._json("POST", path, json=body, headers=headers))

    def subscribe_topic(self, agent_id: str, topic: str, *, filter: dict[str, list[str]] | None = None) -> Json:
        return cast(Json, self._json("PUT", f"agents/{agent_id}/subscriptions/{topic}",
                                     json={"filter": filter or {}}))

    def unsubscribe_topic(self, agent_id: str, topic: str) -> None:
        self.call("DELETE", f"agents/{agent_id}/subscriptions/{topic}")

    def topic_subscriptions(self, agent_id: str) -> list[Json]:
        return cast(list[Json], self._json("GET", f"agents/{agent_id}/subscriptions"))

    def request(self, to: str, payload: Any, *, timeout_seconds: float = MAX_SYNC_REQUEST_SECONDS,
                      attributes: dict[str, str] | None = None, context_ref: str | None = None) -> Reply:
        """Synchronous request: the reply, or ``ReplyTimeoutError`` (with the correlation id) after the timeout."""
        timeout_seconds = min(timeout_seconds, MAX_SYNC_REQUEST_SECONDS)
        body = _without_none({"to": to, "payload": payload, "timeout_seconds": timeout_seconds, "wait": True,
                              "attributes": attributes, "context_ref": context_ref})
        response = self.call("POST", "messages/requests", json=body, read_timeout=timeout_seconds + self.timeout)
        answer = response.json()
        if response.status_code == 202:
            raise ReplyTimeoutError(str(answer.get("correlation_id")))
        return _reply_of(answer)

    def request_async(self, to: str, payload: Any, *, timeout_seconds: float | None = None,
                      attributes: dict[str, str] | None = None, context_ref: str | None = None) -> str:
        """Asynchronous request: the correlation id at once; fetch the reply with :meth:`get_reply`."""
        body = _without_none({"to": to, "payload": payload, "timeout_seconds": timeout_seconds, "wait": False,
                              "attributes": attributes, "context_ref": context_ref})
        answer = self._json("POST", "messages/requests", json=body)
        return str(answer["correlation_id"])

    def get_reply(self, correlation_id: str, *, wait: int = 0) -> Reply | None:
        """The reply, or ``None`` while it is pending (``wait`` long-polls up to that many seconds)."""
        response = self.call("GET", f"replies/{correlation_id}", params={"wait": wait or None},
                                read_timeout=wait + self.timeout if wait else None)
        if response.status_code == 202:
            return None
        return _reply_of(response.json())

    def wait_reply(self, correlation_id: str, *, timeout: float, clock: Callable[[], float] = time.monotonic
                   ) -> Reply:
        deadline = clock() + timeout
        while True:
            left = deadline - clock()
            reply = self.get_reply(correlation_id, wait=max(0, min(20, int(left))))
            if reply is not None:
                return reply
            if clock() >= deadline:
                raise ReplyTimeoutError(correlation_id)

    def reply(self, correlation_id: str, payload: Any, *, attributes: dict[str, str] | None = None) -> None:
        body = _without_none({"payload": payload, "attributes": attributes})
        self.call("POST", f"replies/{correlation_id}", json=body)

    def receive(self, agent_id: str, *, wait: int = 20, max: int = 10) -> list[Message]:
        """One long-poll of the agent's inbox; each message must then be acked or nacked by its receipt."""
        answer = self._json("GET", f"agents/{agent_id}/messages", params={"wait": wait, "max": max},
                            read_timeout=wait + self.timeout)
        items = answer.get("items", answer.get("messages", [])) if isinstance(answer, dict) else answer
        return cast(list[Message], items or [])

    def ack(self, agent_id: str, receipts: list[str]) -> Settled:
        """The messages are not delivered again; receipts the queue refused (expired) are in ``failed``."""
        return self._settle(agent_id, "ack", {"receipts": receipts})

    def nack(self, agent_id: str, receipts: list[str], *, delay_seconds: int = 0) -> Settled:
        """The messages come back after ``delay_seconds``; after the agent's max deliveries, as dead letters."""
        return self._settle(agent_id, "nack", {"receipts": receipts, "delay_seconds": delay_seconds})

    def _settle(self, agent_id: str, verb: str, body: Json) -> Settled:
        receipts: list[str] = body["receipts"]
        outcome: Settled = {"failed": []}
        for start in range(0, len(receipts), MAX_RECEIPTS_PER_CALL):
            answer = self._json("POST", f"agents/{agent_id}/messages/{verb}",
                                json={**body, "receipts": receipts[start:start + MAX_RECEIPTS_PER_CALL]})
            if isinstance(answer, dict):
                outcome["failed"].extend(answer.get("failed") or [])
        return outcome

    def subscribe(self, agent_id: str, *, wait: int = 20, max: int = 10, nack_delay: int = 0) -> Subscription:
        """A context manager whose iterator long-polls: a message is acked when the loop body finishes it
        (asks for the next one or ``break``s) and nacked when the body raises::

            with client.subscribe(agent_id) as messages:
                for message in messages:
                    handle(message)
        """
        return Subscription(self, agent_id, wait=wait, max=max, nack_delay=nack_delay)

    def consume(self, agent_id: str, handler: Callable[[Message], None], *, wait: int = 20, max: int = 10,
                stop: threading.Event | None = None, limit: int | None = None, nack_delay: int = 0) -> int:
        """Calls ``handler`` for each message until ``stop`` is set (or ``limit`` messages): ack when it returns,
        nack (and go on) when it raises. Returns how many messages were handled successfully."""
        return consume_messages(self, agent_id, handler, wait=wait, max=max, stop=stop, limit=limit,
                                nack_delay=nack_delay)

    def dead_letters(self, agent_id: str, *, max: int = 10) -> Json:
        """Admins: a look at the agent's dead letters (``messages``, ``approximate_count``); they stay there."""
        return cast(Json, self._json("GET", f"agents/{agent_id}/dead-letters", params={"max": max}))

    def redrive_dead_letters(self, agent_id: str, *, limit: int = 100) -> Json:
        """Admins: move up to ``limit`` dead letters back to the inbox (``{"moved": n}``)."""
        return cast(Json, self._json("POST", f"agents/{agent_id}/dead-letters/redrive", json={"limit": limit}))

    def audit(self, *, actor: str | None = None, resource: str | None = None, since: str | None = None,
              until: str | None = None, page_size: int | None = None) -> Iterator[Json]:
        params = {"actor": actor, "resource": resource, "since": since, "until": until}
        return self.paginate("audit", params, page_size=page_size)


def _payload_fields(payload: Any, payload_bytes: bytes | None) -> Json:
    """Exactly one of the two, as the bus wants; a JSON ``null`` payload is a payload too."""
    if payload_bytes is not None:
        return {"payload_base64": base64.b64encode(payload_bytes).decode("ascii")}
    return {"payload": payload}


def _reply_of(answer: Any) -> Reply:
    if isinstance(answer, dict) and isinstance(answer.get("reply"), dict):
        return cast(Reply, answer["reply"])
    return cast(Reply, answer)


class BusClientBuilder:
    """``BusClient.builder().base_url(url).client_credentials(id, secret).timeout(10).build()``."""

    def __init__(self) -> None:
        self._base_url = DEFAULT_BASE_URL
        self._token_url: str | None = None
        self._client_id: str | None = None
        self._client_secret: str | None = None
        self._bearer_token: str | None = None
        self._timeout = 30.0
        self._retry = RetryPolicy()
        self._refresh_margin = 60.0
        self._clock: Callable[[], float] = time.monotonic
        self._transport: httpx.BaseTransport | None = None
        self._storage_transport: httpx.BaseTransport | None = None
        self._user_agent: str | None = None
        self._auto_idempotency_keys = True

    def base_url(self, url: str) -> BusClientBuilder:
        self._base_url = url
        return self

    def client_credentials(self, client_id: str, client_secret: str, *, token_url: str | None = None
                           ) -> BusClientBuilder:
        """An agent's credentials from its registration; ``token_url`` defaults to ``<base_url>bus/token``."""
        self._client_id, self._client_secret, self._token_url = client_id, client_secret, token_url
        self._bearer_token = None
        return self

    def bearer_token(self, token: str) -> BusClientBuilder:
        """A person's Cognito ID token (not renewable by the SDK)."""
        self._bearer_token = token
        self._client_id = self._client_secret = None
        return self

    def timeout(self, seconds: float) -> BusClientBuilder:
        self._timeout = seconds
        return self

    def retries(self, max_attempts: int = 5, *, base_delay: float = 0.2, max_delay: float = 20.0,
                max_retry_after: float = 120.0) -> BusClientBuilder:
        self._retry.max_attempts = max_attempts
        self._retry.base_delay = base_delay
        self._retry.max_delay = max_delay
        self._retry.max_retry_after = max_retry_after
        return self

    def sleep(self, sleep: Callable[[float], None]) -> BusClientBuilder:
        """What waits between retries (tests pass a recorder instead of ``time.sleep``)."""
        self._retry.sleep = sleep
        return self

    def jitter(self, jitter: Callable[[], float]) -> BusClientBuilder:
        """The source of uniform [0, 1) numbers for full jitter (tests pin it)."""
        self._retry.jitter = jitter
        return self

    def clock(self, clock: Callable[[], float]) -> BusClientBuilder:
        """The monotonic clock that decides when a token is due for renewal."""
        self._clock = clock
        return self

    def refresh_margin(self, seconds: float) -> BusClientBuilder:
        self._refresh_margin = seconds
        return self

    def transport(self, transport: httpx.BaseTransport, *, storage: httpx.BaseTransport | None = None
                  ) -> BusClientBuilder:
        """The HTTP transport for the API (and presigned storage URLs unless ``storage`` is given)."""
        self._transport, self._storage_transport = transport, storage
        return self

    def idempotency_keys(self, auto: bool) -> BusClientBuilder:
        """Whether each POST gets a generated ``Idempotency-Key`` (default): safe retries, at the price of the
        bus's deduplication record per send. Keys passed explicitly (``send(idempotency_key=)``) are always sent."""
        self._auto_idempotency_keys = auto
        return self

    def user_agent(self, value: str) -> BusClientBuilder:
        self._user_agent = value
        return self

    def build(self) -> BusClient:
        base_url = self._base_url if self._base_url.endswith("/") else self._base_url + "/"
        if self._client_id and self._client_secret:
            client_id, secret = self._client_id, self._client_secret
            token_url = self._token_url or base_url + "bus/token"
            margin, clock = self._refresh_margin, self._clock

            def auth(client: BusClient) -> TokenSource:
                return ClientCredentials(client._post_form, token_url, client_id, secret,
                                         refresh_margin=margin, clock=clock)
        elif self._bearer_token:
            token = self._bearer_token

            def auth(client: BusClient) -> TokenSource:
                return StaticToken(token)
        else:
            raise ValueError("set client_credentials(...) or bearer_token(...) before build()")
        return BusClient(base_url=base_url, auth=auth, timeout=self._timeout, retry=self._retry,
                         transport=self._transport, storage_transport=self._storage_transport,
                         user_agent=self._user_agent, auto_idempotency_keys=self._auto_idempotency_keys)
