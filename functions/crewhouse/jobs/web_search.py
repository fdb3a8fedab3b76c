"""Research that reads the web: a web search API, the top pages read through the SSRF guard, the owner's own notes
and files beside them.

The search API speaks the Brave Search API's shape (``GET <endpoint>?q=…&count=…`` with the tenant's key in
``X-Subscription-Token``; results in ``web.results[]``). Each tenant brings its own key: a tenant admin stores it
with ``PUT /research/web-search`` into Secrets Manager (write-only, one secret per tenant); without one, research
searches the tenant's notes and files only, and its report says so. Pages are fetched with
:func:`crewhouse.core.ssrf.fetch` (public addresses only, every redirect checked, size and time capped) and their
main text extracted with trafilatura. Locally the embedded cloud serves a small corpus on loopback
(:mod:`crewhouse.local.web_corpus`): loopback is allowed for the search endpoint and its pages only in local mode.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from crewhouse.jobs.types.base import SearchHit, SearchProvider

if TYPE_CHECKING:
    from crewhouse.core.ssrf import FetchedPage

WEB_SEARCH = "web"
PAGE_BYTES = 2_000_000  # a page read for research; bigger ones are cut (their start is what matters)
PAGE_SECONDS = 10.0
PAGE_TEXT_CHARS = 20_000  # what one page may add to the model's sources (the budget trims further)
SEARCH_SECONDS = 10.0

Fetch = Callable[..., "FetchedPage"]


class WebSearchUnavailable(Exception):
    """The search API refused or failed; research then keeps to the tenant's own sources."""


@dataclass(frozen=True)
class WebSearchApi:
    endpoint: str
    api_key: str
    allow_loopback: bool = False  # the local corpus only (local mode)

    def results(self, query: str, count: int, fetch: Fetch) -> list[SearchHit]:
        from crewhouse.core.ssrf import FetchFailed, UnsafeUrl

        url = f"{self.endpoint}?{urlencode({'q': query, 'count': count})}"
        try:
            page = fetch(url, max_bytes=PAGE_BYTES, timeout=SEARCH_SECONDS, allow_loopback=self.allow_loopback,
                         headers={"X-Subscription-Token": self.api_key, "Accept": "application/json"})
            answer: Any = json.loads(page.body)
        except (UnsafeUrl, FetchFailed, ValueError) as error:
            raise WebSearchUnavailable(str(getattr(error, "reason", error))) from error
        results = (answer.get("web") or {}).get("results") or [] if isinstance(answer, dict) else []
        return [SearchHit(kind="web", ref=str(r["url"]), title=str(r.get("title") or r["url"]),
                          snippet=_plain(str(r.get("description") or "")))
                for r in results[:count] if isinstance(r, dict) and r.get("url")]


def _plain(text: str) -> str:
    """Search snippets carry ``<strong>`` highlights; the model reads plain text."""
    import re

    return re.sub(r"<[^>]+>", "", text).strip()


def page_text(page: FetchedPage) -> str:
    """The main text of an HTML page (trafilatura), or a text page as it is; empty when nothing is readable."""
    if page.content_type in ("text/html", "application/xhtml+xml"):
        import trafilatura

        html = page.body.decode("utf-8", errors="replace")
        return (trafilatura.extract(html, url=page.url, include_comments=False) or "").strip()
    if page.content_type.startswith("text/"):
        return page.body.decode("utf-8", errors="replace").strip()
    return ""


class WebSearch:
    """The web's hits (each page read) and the tenant's own, taken in turn, up to ``limit``."""

    name = WEB_SEARCH

    def __init__(self, api: WebSearchApi, own: SearchProvider, fetch: Fetch | None = None) -> None:
        self._api = api
        self._own = own
        self._fetch = fetch

    def _fetcher(self) -> Fetch:
        if self._fetch is None:
            from crewhouse.core.ssrf import fetch

            self._fetch = fetch
        return self._fetch

    def _read(self, hit: SearchHit) -> SearchHit | None:
        """The hit with its page's text; None for an address the guard refuses (never cite what was not read)."""
        from crewhouse.core.ssrf import FetchFailed, UnsafeUrl

        try:
            page = self._fetcher()(hit.ref, max_bytes=PAGE_BYTES, timeout=PAGE_SECONDS,
                                   allow_loopback=self._api.allow_loopback)
        except UnsafeUrl:
            return None
        except FetchFailed:
            return hit  # unreachable now: its search snippet still says something, and is cited as such
        return replace(hit, ref=page.url, text=page_text(page)[:PAGE_TEXT_CHARS])

    def search(self, query: str, limit: int) -> list[SearchHit]:
        try:
            found = self._api.results(query, limit, self._fetcher())
        except WebSearchUnavailable:
            found = []
        web = [read for read in (self._read(hit) for hit in found) if read is not None]
        own = self._own.search(query, limit)
        merged = [hit for pair in zip(web, own, strict=False) for hit in pair]
        merged += web[len(own):] + own[len(web):]
        return merged[:limit]
