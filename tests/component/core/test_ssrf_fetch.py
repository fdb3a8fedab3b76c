"""The guarded fetch against loopback servers: loopback only when allowed, every redirect checked, the address
checked is the address reached, size and time capped; and the local corpus research reads."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from crewhouse.core import ssrf
from crewhouse.core.ssrf import FetchFailed, UnsafeUrl, fetch
from crewhouse.local.web_corpus import SEARCH_PATH, WebCorpusServer

ROUTES: dict[str, tuple[int, dict[str, str], bytes]] = {
    "/page": (200, {"content-type": "text/html; charset=utf-8"}, b"<html><body><p>hello</p></body></html>"),
    "/to-metadata": (302, {"location": "http://169.254.169.254/latest/meta-data/"}, b""),
    "/to-private": (301, {"location": "http://10.0.0.1/"}, b""),
    "/to-page": (307, {"location": "/page"}, b""),
    "/loop": (302, {"location": "/loop"}, b""),
    "/big": (200, {"content-type": "text/plain"}, b"x" * 50_000),
    "/missing": (404, {"content-type": "text/plain"}, b"no"),
}


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/slow":
                time.sleep(1.5)
            status, headers, body = ROUTES.get(self.path, (200, {"content-type": "text/plain"}, b"slow"))
            self.send_response(status)
            for name, value in {**headers, "content-length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_loopback_is_fetched_only_when_allowed(site: str) -> None:
    page = fetch(f"{site}/page", allow_loopback=True)
    assert (page.status, page.content_type, page.truncated) == (200, "text/html", False)
    assert b"hello" in page.body and page.url == f"{site}/page"
    with pytest.raises(UnsafeUrl, match="loopback"):
        fetch(f"{site}/page")


def test_every_redirect_is_checked(site: str) -> None:
    assert fetch(f"{site}/to-page", allow_loopback=True).url == f"{site}/page"
    with pytest.raises(UnsafeUrl, match="metadata"):
        fetch(f"{site}/to-metadata", allow_loopback=True)
    with pytest.raises(UnsafeUrl, match="private"):
        fetch(f"{site}/to-private", allow_loopback=True)
    with pytest.raises(UnsafeUrl, match="too many redirects"):
        fetch(f"{site}/loop", allow_loopback=True, max_redirects=3)


def test_size_time_and_status_are_capped(site: str) -> None:
    big = fetch(f"{site}/big", allow_loopback=True, max_bytes=10_000)
    assert len(big.body) == 10_000 and big.truncated
    started = time.monotonic()
    with pytest.raises(FetchFailed, match="timed out"):
        fetch(f"{site}/slow", allow_loopback=True, timeout=0.5)
    assert time.monotonic() - started < 1.4
    with pytest.raises(FetchFailed, match="HTTP 404"):
        fetch(f"{site}/missing", allow_loopback=True)


def test_the_connection_goes_to_the_address_that_was_checked(site: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: the name answers loopback (allowed) for the check, then a private address. The connection
    resolves and checks again itself, so the private answer is refused instead of being connected to."""
    port = int(site.rsplit(":", 1)[1])
    answers = iter(["127.0.0.1", "10.0.0.9"])
    seen: list[str] = []
    real = socket.getaddrinfo

    def rebinding(host: str, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.test":
            return real(host, *args, **kwargs)
        address = next(answers, "10.0.0.9")
        seen.append(address)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with pytest.raises(UnsafeUrl, match=r"10\.0\.0\.9 is private"):
        fetch(f"http://rebind.test:{port}/page", allow_loopback=True)
    assert seen == ["127.0.0.1", "10.0.0.9"]  # checked, then resolved again (and refused) at connect
    monkeypatch.setattr(ssrf, "_refusal", lambda address, allow: None)  # a guard that checks nothing...
    answers = iter(["127.0.0.1", "127.0.0.1"])
    assert fetch(f"http://rebind.test:{port}/page", allow_loopback=True).status == 200  # ...would connect


def test_the_local_corpus_answers_like_a_search_api_and_serves_its_pages() -> None:
    with WebCorpusServer() as corpus, httpx.Client(base_url=corpus.base_url) as http:
        token = {"X-Subscription-Token": "any"}
        assert http.get(SEARCH_PATH, params={"q": "dynamodb"}).status_code == 401
        results = http.get(SEARCH_PATH, params={"q": "DynamoDB single-table design", "count": 3},
                           headers=token).json()["web"]["results"]
        assert 1 <= len(results) <= 3
        assert results[0]["url"].endswith("/pages/dynamodb-single-table-design.html")
        assert results[0]["title"] == "DynamoDB single-table design" and results[0]["description"]
        assert http.get(SEARCH_PATH, params={"q": "zebra quantum"}, headers=token).json()["web"]["results"] == []
        page = http.get(results[0]["url"].removeprefix(corpus.base_url))
        assert page.status_code == 200 and "partition key" in page.text
        assert http.get("/pages/none.html").status_code == 404
        assert fetch(results[0]["url"], allow_loopback=True).content_type == "text/html"
        with pytest.raises(UnsafeUrl, match="loopback"):  # outside local mode research never reaches it
            fetch(results[0]["url"])
