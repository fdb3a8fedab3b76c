"""Web clips: the readable part of a page the client sends, as markdown, with its metadata.

Extraction is trafilatura's (boilerplate removal, then markdown output with links, lists, tables and
emphasis; metadata from meta tags, JSON-LD and the page). Nothing is fetched: ``url`` only resolves
relative links and names the source. trafilatura is imported on first use (handler cold start).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Clip:
    title: str | None
    markdown: str
    site_name: str | None
    author: str | None
    published: str | None


class NothingReadable(ValueError):
    pass


def _clean(value: object, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    return text[:limit] if text else None


def extract_clip(html: str, url: str) -> Clip:
    """The page's main content as markdown plus title, site name, author and publication date."""
    import trafilatura

    document = trafilatura.bare_extraction(
        html, url=url, with_metadata=True, output_format="python", include_links=True,
        include_formatting=True, include_tables=True, include_images=False, include_comments=False,
        favor_recall=True)  # "python" with formatting: ``text`` is markdown, metadata alongside
    found = document.as_dict() if document is not None and hasattr(document, "as_dict") else {}
    markdown = (found.get("text") or "").strip()
    if not markdown:
        # Too little for the main-content heuristics (a short page): fall back to all visible text.
        markdown = (trafilatura.html2txt(html) or "").strip()
    if not markdown:
        raise NothingReadable("The page has no readable text.")
    return Clip(title=_clean(found.get("title"), 500), markdown=markdown,
                site_name=_clean(found.get("sitename") or found.get("hostname"), 200),
                author=_clean(found.get("author"), 200), published=_clean(found.get("date"), 40))
