"""A small web for research on the embedded cloud: a search API in the Brave Search API's shape, and the pages
it finds, served on loopback from the bundled ``web_corpus/`` directory.

``GET /res/v1/web/search?q=…&count=…`` (header ``X-Subscription-Token`` required, as Brave's) ranks the pages by
how many of the query's words their title and text hold; ``GET /pages/<slug>.html`` serves a page. Research jobs
reach it only because the SSRF guard allows loopback in local mode (``crewhouse.core.ssrf``).
"""

from __future__ import annotations

import html
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

CORPUS_DIR = Path(__file__).resolve().parent / "web_corpus"
SEARCH_PATH = "/res/v1/web/search"
STOP_WORDS = frozenset({"a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "how", "in", "is", "it",
                        "of", "on", "or", "the", "to", "what", "when", "which", "who", "why", "with"})
DEFAULT_COUNT, MAX_COUNT = 5, 20


def _words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOP_WORDS]


class Page:
    def __init__(self, path: Path) -> None:
        self.slug = path.stem
        self.html = path.read_text(encoding="utf-8")
        found = re.search(r"<title>(.*?)</title>", self.html, re.S)
        self.title = html.unescape(found.group(1).strip()) if found else self.slug
        paragraphs = re.findall(r"<p>(.*?)</p>", self.html, re.S)
        self.description = html.unescape(re.sub(r"<[^>]+>", "", paragraphs[0]))[:240] if paragraphs else ""
        self.words = set(_words(self.title + " " + re.sub(r"<[^>]+>", " ", self.html)))
        self.title_words = set(_words(self.title))

    def score(self, query: list[str]) -> int:
        """Query words in the page, those in the title counting twice."""
        return sum(1 for w in query if w in self.words) + sum(1 for w in query if w in self.title_words)


def load_pages(directory: Path = CORPUS_DIR) -> dict[str, Page]:
    return {page.slug: page for page in map(Page, sorted(directory.glob("*.html")))}


class WebCorpusServer:
    """The corpus on ``host``:``port`` (0: any free port) in a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, directory: Path = CORPUS_DIR) -> None:
        self.pages = load_pages(directory)
        self._host, self._port = host, port
        self._server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "the corpus server is not started"
        return f"http://{self._host}:{self._server.server_address[1]}"

    def search(self, query: str, count: int) -> list[dict[str, str]]:
        words = _words(query)
        ranked = sorted(((page.score(words), page.slug) for page in self.pages.values()), key=lambda s: (-s[0], s[1]))
        return [{"title": self.pages[slug].title, "url": f"{self.base_url}/pages/{slug}.html",
                 "description": self.pages[slug].description} for score, slug in ranked[:count] if score > 0]

    def start(self) -> WebCorpusServer:
        corpus = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path == SEARCH_PATH:
                    if not self.headers.get("X-Subscription-Token"):
                        self._send(401, "application/json", json.dumps({"type": "ErrorResponse", "error": {
                            "code": "SUBSCRIPTION_TOKEN_INVALID", "status": 401}}).encode())
                        return
                    query = parse_qs(url.query)
                    q = (query.get("q") or [""])[0]
                    try:
                        count = min(MAX_COUNT, max(1, int((query.get("count") or [str(DEFAULT_COUNT)])[0])))
                    except ValueError:
                        count = DEFAULT_COUNT
                    answer = {"type": "search", "query": {"original": q},
                              "web": {"type": "search", "results": corpus.search(q, count)}}
                    self._send(200, "application/json", json.dumps(answer).encode())
                    return
                found = re.fullmatch(r"/pages/([a-z0-9-]+)\.html", url.path)
                page = corpus.pages.get(found.group(1)) if found else None
                if page is None:
                    self._send(404, "text/plain; charset=utf-8", b"not found")
                    return
                self._send(200, "text/html; charset=utf-8", page.html.encode())

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass  # the corpus is quiet: research reads it many times

        self._server = ThreadingHTTPServer((self._host, self._port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="web-corpus", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> WebCorpusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
