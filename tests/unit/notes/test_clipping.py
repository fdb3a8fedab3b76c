"""Web clips: the readable text of a page as markdown, metadata, and nothing fetched."""

from __future__ import annotations

import socket

import pytest

from crewhouse.notes.clipping import NothingReadable, extract_clip

PAGE = """<html><head><title>How to bake bread - The Kitchen</title>
<meta property="og:site_name" content="The Kitchen"><meta name="author" content="Jane Baker">
<meta property="article:published_time" content="2026-03-04T10:00:00Z"></head>
<body><nav>Home | Recipes | About | Contact</nav><article><h1>How to bake bread</h1>
<p>Bread needs flour, water, salt and yeast. Mix them and knead the dough for ten minutes until it is smooth.</p>
<p>Let it rise for an hour, then <a href="/shaping">shape it</a> and bake at 230 degrees for thirty minutes.</p>
<ul><li>500 g flour</li><li>350 g water</li></ul><script>track()</script></article>
<footer>Copyright 2026 The Kitchen. All rights reserved.</footer></body></html>"""


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the clipper must not open connections")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_main_text_becomes_markdown_with_metadata(no_network: None) -> None:
    clip = extract_clip(PAGE, "https://kitchen.example/bread")
    assert (clip.title, clip.site_name, clip.author, clip.published) == (
        "How to bake bread", "The Kitchen", "Jane Baker", "2026-03-04")
    assert clip.markdown.startswith("# How to bake bread")
    assert "[shape it](https://kitchen.example/shaping)" in clip.markdown  # relative link resolved
    assert "- 500 g flour" in clip.markdown
    for boilerplate in ("Contact", "Copyright", "track()"):
        assert boilerplate not in clip.markdown


def test_short_pages_fall_back_to_their_text_and_empty_ones_are_refused(no_network: None) -> None:
    clip = extract_clip("<html><body><p>Just one line.</p></body></html>", "https://a.example/x")
    assert (clip.markdown, clip.site_name) == ("Just one line.", "a.example")
    with pytest.raises(NothingReadable):
        extract_clip("<html><body><script>x()</script></body></html>", "https://a.example/x")
