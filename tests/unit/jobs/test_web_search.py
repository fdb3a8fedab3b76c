"""Research's web provider without a network: what it asks the search API, which pages it reads, what it drops."""

from __future__ import annotations

import json
from typing import Any

from crewhouse.core.ssrf import FetchedPage, FetchFailed, UnsafeUrl
from crewhouse.jobs.types.base import SearchHit
from crewhouse.jobs.web_search import WebSearch, WebSearchApi, page_text

ENDPOINT = "https://search.example/res/v1/web/search"
ARTICLE = ("<html><head><title>Single-table design</title></head><body><nav>Home | About</nav><article>"
           "<h1>Single-table design</h1><p>" + "DynamoDB keeps related items under one partition key. " * 20 +
           "</p></article><footer>© Example</footer></body></html>")


class Web:
    """Answers fetches from a dict of URL -> page or exception, and records them."""

    def __init__(self, pages: dict[str, Any]) -> None:
        self.pages = pages
        self.asked: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, url: str, **options: Any) -> FetchedPage:
        self.asked.append((url, options))
        answer = self.pages[url.split("?", 1)[0]]
        if isinstance(answer, Exception):
            raise answer
        return answer


class Own:
    name = "tenant"

    def search(self, query: str, limit: int) -> list[SearchHit]:
        return [SearchHit(kind="note", ref=f"n{i}", title=f"note {i}", snippet="own") for i in range(limit)]


def results(*urls: str) -> FetchedPage:
    body = {"web": {"results": [{"title": f"T{i}", "url": u, "description": f"<strong>d</strong>{i}"}
                                for i, u in enumerate(urls)]}}
    return FetchedPage(url=ENDPOINT, status=200, content_type="application/json", body=json.dumps(body).encode(),
                       truncated=False)


def html(url: str) -> FetchedPage:
    return FetchedPage(url=url, status=200, content_type="text/html", body=ARTICLE.encode(), truncated=False)


def test_pages_are_read_interleaved_with_the_workspace_and_unsafe_ones_dropped() -> None:
    web = Web({ENDPOINT: results("https://a.example/x", "http://169.254.169.254/latest", "https://down.example/"),
               "https://a.example/x": html("https://a.example/final"),
               "http://169.254.169.254/latest": UnsafeUrl("the address 169.254.169.254 is link-local"),
               "https://down.example/": FetchFailed("timed out")})
    hits = WebSearch(WebSearchApi(ENDPOINT, "k-123"), Own(), fetch=web).search("dynamodb design", 4)
    assert [(h.kind, h.ref) for h in hits] == [("web", "https://a.example/final"), ("note", "n0"),
                                               ("web", "https://down.example/"), ("note", "n1")]
    assert "one partition key" in hits[0].text and "Home | About" not in hits[0].text  # the article, not the menu
    assert hits[2].text == "" and hits[2].snippet == "d2"  # unreachable: its search snippet, highlights removed
    search_url, options = web.asked[0]
    assert search_url.startswith(ENDPOINT + "?") and "q=dynamodb+design" in search_url and "count=4" in search_url
    assert options["headers"]["X-Subscription-Token"] == "k-123" and options["allow_loopback"] is False
    assert all(o["allow_loopback"] is False for _, o in web.asked)


def test_a_failing_search_api_leaves_the_workspace() -> None:
    for failure in (FetchFailed("HTTP 401"), UnsafeUrl("private address")):
        hits = WebSearch(WebSearchApi(ENDPOINT, "k"), Own(), fetch=Web({ENDPOINT: failure})).search("x", 2)
        assert [h.kind for h in hits] == ["note", "note"]


def test_text_pages_pass_through_and_other_types_give_nothing() -> None:
    text = FetchedPage(url="u", status=200, content_type="text/plain", body=b" plain words ", truncated=False)
    pdf = FetchedPage(url="u", status=200, content_type="application/pdf", body=b"%PDF", truncated=False)
    assert page_text(text) == "plain words" and page_text(pdf) == ""
