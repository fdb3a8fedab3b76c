"""Markdown to HTML: rendered, and nothing executable survives the sanitizer."""

from __future__ import annotations

import re

import pytest

from crewhouse.notes.rendering import excerpt, render_html

ATTACKS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<img src="javascript:alert(1)">',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="&#106;avascript:alert(1)">x</a>',
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    "![x](javascript:alert(1))",
    '<svg onload="alert(1)"><circle/></svg>',
    '<iframe src="https://evil.example"></iframe>',
    '<div style="background:url(javascript:alert(1))" onclick="alert(1)">x</div>',
    '<body onload=alert(1)>',
    "<math><mi xlink:href=\"javascript:alert(1)\">x</mi></math>",
    '<form action="https://evil.example"><input name=q></form>',
    "<object data=\"x.swf\"></object><embed src=x>",
    '<details open ontoggle="alert(1)"><summary>s</summary></details>',
    "<style>*{background:red}</style>",
    '<a href="vbscript:msgbox(1)">x</a>',
]
DANGEROUS = re.compile(r"<\s*(script|iframe|svg|math|object|embed|form|input|style|body)\b|\son\w+\s*=|"
                       r"(href|src|action|data)\s*=\s*[\"']?\s*(javascript|vbscript|data):|style\s*=", re.IGNORECASE)


@pytest.mark.parametrize("attack", ATTACKS)
def test_nothing_executable_survives(attack: str) -> None:
    html = render_html(f"Before\n\n{attack}\n\nafter [ok](https://example.com)")
    assert not DANGEROUS.search(html), html
    assert "alert(1)</" not in html.replace("alert(1)</p>", "")  # no script body left as an element's content
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">ok</a>' in html


def test_markdown_renders() -> None:
    html = render_html("# Title\n\n**bold** _em_ ~~gone~~ `code`\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
                       "```python\nx = 1\n```\n\n- one\n- two\n\n[mail](mailto:a@example.com)")
    for fragment in ("<h1>Title</h1>", "<strong>bold</strong>", "<em>em</em>", "<s>gone</s>", "<code>code</code>",
                     "<table>", "<td>1</td>", '<code class="language-python">', "<li>one</li>",
                     '<a href="mailto:a@example.com" rel="noopener noreferrer nofollow">mail</a>'):
        assert fragment in html, (fragment, html)


def test_excerpt_is_one_line_of_plain_text() -> None:
    assert excerpt("# Title\n\nSome **bold** [link](http://x) and `code`\n- [ ] item\n> quote") == (
        "Title Some bold link and code item quote")
    assert len(excerpt("word " * 100, 50)) == 50
    assert excerpt("") == ""
