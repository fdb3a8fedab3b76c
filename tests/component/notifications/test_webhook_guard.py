"""The SSRF guard's POST (:func:`crewhouse.core.ssrf.post`, what webhook deliveries go through) against loopback
servers: what ``tests/component/core/test_ssrf_fetch.py`` proves for GET, for the POST path: loopback only when
allowed, the body and headers sent, 307/308 followed with the body and every hop checked, other redirects and
error statuses answered rather than followed, DNS rebinding refused at connect, time capped."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from crewhouse.core.ssrf import FetchFailed, UnsafeUrl, post
from crewhouse.notifications.adapters import GuardedReceivers

ROUTES: dict[str, tuple[int, dict[str, str]]] = {
    "/hook": (204, {}),
    "/moved": (308, {"location": "/hook"}),
    "/temporary": (307, {"location": "/hook"}),
    "/see-other": (303, {"location": "/hook"}),
    "/to-metadata": (307, {"location": "http://169.254.169.254/latest/meta-data/"}),
    "/to-private": (308, {"location": "http://10.0.0.1/hook"}),
    "/to-v6-mapped": (307, {"location": "http://[::ffff:10.0.0.1]/hook"}),
    "/loop": (307, {"location": "/loop"}),
    "/broken": (500, {}),
}


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[str, list[tuple[str, str, bytes, dict[str, str]]]]]:
    seen: list[tuple[str, str, bytes, dict[str, str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            seen.append(("POST", self.path, body, {k.lower(): v for k, v in self.headers.items()}))
            if self.path == "/slow":
                time.sleep(1.5)
            status, headers = ROUTES.get(self.path, (200, {}))
            self.send_response(status)
            for name, value in {**headers, "content-length": "0"}.items():
                self.send_header(name, value)
            self.end_headers()

        def do_GET(self) -> None:
            seen.append(("GET", self.path, b"", {}))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


Site = tuple[str, list[tuple[str, str, bytes, dict[str, str]]]]


def test_the_body_and_headers_reach_loopback_only_when_allowed(site: Site) -> None:
    base, seen = site
    seen.clear()
    answer = post(f"{base}/hook", b'{"a":1}', headers={"Crewhouse-Event": "ping"}, allow_loopback=True)
    assert answer.status == 204
    assert seen == [("POST", "/hook", b'{"a":1}', seen[0][3])] and seen[0][3]["crewhouse-event"] == "ping"
    with pytest.raises(UnsafeUrl, match="loopback"):
        post(f"{base}/hook", b"{}")
    with pytest.raises(UnsafeUrl, match="loopback"):  # decimal 127.0.0.1 is loopback too
        post(f"http://2130706433:{base.rsplit(':', 1)[1]}/hook", b"{}")


def test_307_and_308_are_followed_with_the_body_and_every_hop_is_checked(site: Site) -> None:
    base, seen = site
    for path in ("/moved", "/temporary"):
        seen.clear()
        answer = post(f"{base}{path}", b"payload", allow_loopback=True)
        assert (answer.status, answer.url) == (204, f"{base}/hook")
        assert [(m, p, b) for m, p, b, _ in seen] == [("POST", path, b"payload"), ("POST", "/hook", b"payload")]
    for path, reason in (("/to-metadata", "metadata"), ("/to-private", "private"), ("/to-v6-mapped", "private")):
        with pytest.raises(UnsafeUrl, match=reason):
            post(f"{base}{path}", b"x", allow_loopback=True)
    with pytest.raises(UnsafeUrl, match="too many redirects"):
        post(f"{base}/loop", b"x", allow_loopback=True, max_redirects=2)


def test_other_redirects_and_error_statuses_are_the_answer(site: Site) -> None:
    base, seen = site
    seen.clear()
    assert post(f"{base}/see-other", b"x", allow_loopback=True).status == 303  # a POST is not turned into a GET
    assert [m for m, *_ in seen] == ["POST"]
    assert post(f"{base}/broken", b"x", allow_loopback=True).status == 500
    started = time.monotonic()
    with pytest.raises(FetchFailed, match="timed out"):
        post(f"{base}/slow", b"x", allow_loopback=True, timeout=0.5)
    assert time.monotonic() - started < 1.4


def test_dns_rebinding_is_refused_at_connect(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    base, seen = site
    port = int(base.rsplit(":", 1)[1])
    answers = iter(["127.0.0.1", "169.254.169.254"])
    real = socket.getaddrinfo

    def rebinding(host: str, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.test":
            return real(host, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers, "169.254.169.254"), port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    seen.clear()
    with pytest.raises(UnsafeUrl, match="metadata"):
        post(f"http://rebind.test:{port}/hook", b"x", allow_loopback=True)
    assert seen == []  # nothing was sent anywhere


def test_the_receivers_port_turns_refusals_and_failures_into_answers(site: Site) -> None:
    base, _ = site
    local = GuardedReceivers(allow_loopback=True, timeout=2)
    assert local.check(f"{base}/hook") is None
    assert local.post(f"{base}/hook", b"{}", {}).ok
    answer = local.post(f"{base}/broken", b"{}", {})
    assert (answer.ok, answer.status_code, answer.error) == (False, 500, "the receiver answered HTTP 500")
    answer = local.post(f"{base}/to-metadata", b"{}", {})
    assert answer.status_code is None and answer.error and "metadata" in answer.error
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    answer = local.post(f"http://127.0.0.1:{port}/", b"{}", {})
    assert answer.status_code is None and "could not be reached" in (answer.error or "")
    strict = GuardedReceivers(allow_loopback=False, timeout=2)
    assert "loopback" in (strict.check(f"{base}/hook") or "")
    assert "plain http" in (strict.check("http://93.184.216.34/") or "")
