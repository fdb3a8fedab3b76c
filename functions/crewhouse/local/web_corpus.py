"""A small web for research on the embedded cloud: a search API in the Brave Search API's shape, and the pages
it finds, served on loopback from the bundled ``web_corpus/`` directory.

``GET /res/v1/web/search?q=…&count=…`` (header ``X-Subscription-Token`` required, as Brave's; any value) ranks the
pages by how many of the query's words their title and text hold, title words counting twice; ``GET
/pages/<slug>.html`` serves a page. Research jobs reach it only because the SSRF guard allows loopback in local mode
(:mod:`crewhouse.core.ssrf`).
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
PAGE_PATH = re.compile(r"/pages/([a-z0-9-]+)\.html")
STOP_WORDS = frozenset({"a", "about", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for",
                        "from", "how", "i", "in", "is", "it", "its", "of", "on", "or", "that", "the", "this", "to",
                        "what", "when", "which", "who", "why", "with"})
DEFAULT_COUNT, MAX_COUNT = 5, 20  # Brave's default and maximum
DESCRIPTION_CHARS = 240


def words(text: str) -> list[str]:
    """Lower-case words without stop words: "single-table" is two words, as a query would write it."""
    return [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOP_WORDS]


def _plain(markup: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


class Page:
    """One corpus page: its HTML, and what search reads of it."""

    def __init__(self, path: Path) -> None:
        self.slug = path.stem
        self.html = path.read_text(encoding="utf-8")
        found = re.search(r"<title>(.*?)</title>", self.html, re.S)
        self.title = _plain(found.group(1)) if found else self.slug
        first = re.search(r"<p>(.*?)</p>", self.html, re.S)
        self.description = _cut(_plain(first.group(1)) if first else "", DESCRIPTION_CHARS)
        article = re.search(r"<article>(.*?)</article>", self.html, re.S)  # not the menu and footer
        self.title_words = set(words(self.title))
        self.text_words = set(words(_plain(article.group(1) if article else self.html)))

    def score(self, query: list[str]) -> int:
        """The query's distinct words found in the page, those in the title counting twice."""
        distinct = set(query)
        return len(distinct & (self.text_words | self.title_words)) + len(distinct & self.title_words)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


def load_pages(directory: Path = CORPUS_DIR) -> dict[str, Page]:
    return {page.slug: page for page in map(Page, sorted(directory.glob("*.html")))}


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    corpus: WebCorpusServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up mid-answer is not news; the default prints a traceback to stderr


class _Handler(BaseHTTPRequestHandler):
    server: _QuietServer

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == SEARCH_PATH:
            self._search(parse_qs(url.query))
            return
        found = PAGE_PATH.fullmatch(url.path)
        page = self.server.corpus.pages.get(found.group(1)) if found else None
        if page is None:
            self._send(404, "text/plain; charset=utf-8", b"not found")
            return
        self._send(200, "text/html; charset=utf-8", page.html.encode())

    def _search(self, params: dict[str, list[str]]) -> None:
        if not (self.headers.get("X-Subscription-Token") or "").strip():
            self._json(401, {"type": "ErrorResponse", "error": {
                "code": "SUBSCRIPTION_TOKEN_INVALID", "status": 401,
                "detail": "The provided subscription token is invalid."}})
            return
        query = (params.get("q") or [""])[0]
        try:
            count = min(MAX_COUNT, max(1, int((params.get("count") or [str(DEFAULT_COUNT)])[0])))
        except ValueError:
            count = DEFAULT_COUNT
        self._json(200, {"type": "search", "query": {"original": query},
                         "web": {"type": "search", "results": self.server.corpus.search(query, count)}})

    def _json(self, status: int, answer: dict[str, Any]) -> None:
        self._send(status, "application/json", json.dumps(answer).encode())

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: research reads it many times


class WebCorpusServer:
    """The corpus served on ``host``:``port`` (0: any free port) from a background thread; a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, directory: Path = CORPUS_DIR) -> None:
        self.pages = load_pages(directory)
        self._host, self._port = host, port
        self._server: _QuietServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the web corpus server is not started")
        return f"http://{self._host}:{self._server.server_address[1]}"

    def search(self, query: str, count: int = DEFAULT_COUNT) -> list[dict[str, str]]:
        """At most ``count`` results in Brave's shape, best first; only pages holding one of the query's words."""
        terms = words(query)
        ranked = sorted(((page.score(terms), slug) for slug, page in self.pages.items()), key=lambda s: (-s[0], s[1]))
        return [{"title": self.pages[slug].title, "url": f"{self.base_url}/pages/{slug}.html",
                 "description": self.pages[slug].description} for score, slug in ranked[:count] if score > 0]

    def start(self) -> WebCorpusServer:
        if self._server is None:
            self._server = _QuietServer((self._host, self._port), _Handler)
            self._server.corpus = self
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                            name="web-corpus", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> WebCorpusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
