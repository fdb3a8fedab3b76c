"""A webhook receiver on loopback for the webhook channel's tests (local mode allows plain http to loopback)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: str
    at: float  # time.monotonic() when it arrived


class WebhookReceiver:
    """Records every POST; answers the statuses queued in ``answers``, then ``status``."""

    def __init__(self, path: str = "/hook") -> None:
        self.received: list[Received] = []
        self.answers: list[int] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
                receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                                                  time.monotonic()))
                self.send_response(receiver.answers.pop(0) if receiver.answers else receiver.status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def of(self, event: str) -> list[Received]:
        """The deliveries of one ``Crewhouse-Event``."""
        return [r for r in self.received if r.headers.get("crewhouse-event") == event]


@contextmanager
def serving(path: str = "/hook") -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(path)
    threading.Thread(target=receiver.server.serve_forever, daemon=True).start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
