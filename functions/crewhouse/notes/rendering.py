"""Markdown to sanitized HTML, and plain-text excerpts.

``render_html`` parses with markdown-it-py (CommonMark, tables, strikethrough; raw HTML allowed, as note
apps allow it) and then sanitizes the result with nh3 (Ammonia): only an allow-list of tags and attributes
survives, URLs must be http(s), mailto or relative, and links get ``rel="noopener noreferrer nofollow"``.
The sanitizer is the security boundary; markdown-it's own link validation is only a first filter.
Both libraries are imported on first use (handler cold start).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

URL_SCHEMES = frozenset({"http", "https", "mailto"})
ALLOWED_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt", "em", "h1", "h2",
    "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp",
    "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr",
    "u", "ul",
})  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "code": {"class"},  # language-xyz from fenced code blocks
    "ol": {"start"},
    "td": {"align"},
    "th": {"align"},
}
LINK_REL = "noopener noreferrer nofollow"


@cache
def _parser() -> Any:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True, "linkify": False, "typographer": False}).enable(
        ["table", "strikethrough"])


def render_html(markdown: str) -> str:
    """The note's markdown as an HTML fragment that is safe to embed."""
    import nh3

    raw = _parser().render(markdown)
    return str(nh3.clean(raw, tags=set(ALLOWED_TAGS), attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
                         url_schemes=set(URL_SCHEMES), link_rel=LINK_REL, strip_comments=True))


_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_TAG = re.compile(r"<[^>]{0,500}>")
_MARKUP = re.compile(r"(^|\s)([-*+] \[[ xX]\]|#{1,6}|>|[-*+]|\d+\.)\s+|[*_`~]{1,3}", re.MULTILINE)
_SPACE = re.compile(r"\s+")


def excerpt(markdown: str, length: int = 200) -> str:
    """The start of the note as one line of plain text (cheap: regexes, no parser)."""
    head = markdown[: length * 8]
    text = _LINK.sub(r"\1", head)
    text = _TAG.sub(" ", text)
    text = _MARKUP.sub(" ", text)
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"
