"""The local web research reads on the embedded cloud: a search API in Brave's shape over the bundled corpus, and
its pages, on loopback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from crewhouse.core.ssrf import UnsafeUrl, fetch
from crewhouse.local.web_corpus import CORPUS_DIR, DEFAULT_COUNT, MAX_COUNT, SEARCH_PATH, WebCorpusServer

TOKEN = {"X-Subscription-Token": "any-key"}


@pytest.fixture(scope="module")
def corpus() -> Iterator[WebCorpusServer]:
    with WebCorpusServer() as server:
        yield server


@pytest.fixture
def http(corpus: WebCorpusServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=corpus.base_url, trust_env=False) as client:
        yield client


def search(http: httpx.Client, query: str, **params: str | int) -> list[dict[str, str]]:
    answer = http.get(SEARCH_PATH, params={"q": query, **params}, headers=TOKEN)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert body["query"] == {"original": query}
    results: list[dict[str, str]] = body["web"]["results"]
    return results


def slug(result: dict[str, str]) -> str:
    return result["url"].rsplit("/", 1)[1].removesuffix(".html")


def test_the_corpus_is_a_handful_of_real_pages() -> None:
    pages = sorted(CORPUS_DIR.glob("*.html"))
    assert 8 <= len(pages) <= 10
    for path in pages:
        text = path.read_text(encoding="utf-8")
        article = re.search(r"<article>(.*)</article>", text, re.S)
        assert article and re.search(r"<title>[^<]+</title>", text), path.name
        assert 300 <= len(re.sub(r"<[^>]+>", " ", article.group(1)).split()) <= 700, path.name


@pytest.mark.parametrize(("query", "first"), [
    ("dynamodb single table", "dynamodb-single-table-design"),
    ("DynamoDB Single-Table design", "dynamodb-single-table-design"),  # case and hyphens do not matter
    ("Step Functions retries", "aws-step-functions"),
    ("SQS dead-letter queue", "sqs-retries-and-dead-letter-queues"),
    ("what is the Eisenhower matrix", "eisenhower-matrix"),  # stop words count for nothing
    ("pomodoro technique", "pomodoro-technique"),
    ("ABC priorities Franklin Covey", "abc-priorities-franklin-covey"),
    ("model context protocol", "model-context-protocol"),
    ("HTTP API JWT authorizer", "api-gateway-http-api-authorizers"),
])
def test_search_ranks_the_page_on_the_topic_first(http: httpx.Client, query: str, first: str) -> None:
    assert slug(search(http, query)[0]) == first


def test_results_are_brave_shaped_and_link_to_served_pages(http: httpx.Client, corpus: WebCorpusServer) -> None:
    best = search(http, "dynamodb single table")[0]
    assert set(best) == {"title", "url", "description"}
    assert best["title"] == "DynamoDB single-table design"
    assert best["url"] == f"{corpus.base_url}/pages/dynamodb-single-table-design.html"
    assert best["description"].startswith("Single-table design stores several kinds of items")
    page = http.get(best["url"])
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert "<title>DynamoDB single-table design</title>" in page.text and "partition key" in page.text


def test_only_pages_with_a_query_word_are_found(http: httpx.Client) -> None:
    assert search(http, "zebra quantum") == []
    assert search(http, "the of and") == []  # stop words alone match nothing
    assert search(http, "") == []
    assert [slug(r) for r in search(http, "pomodoro")] == ["pomodoro-technique"]  # not every page has the word


def test_count_caps_the_results(http: httpx.Client) -> None:
    broad = "aws lambda dynamodb tasks time work queue api"
    assert len(search(http, broad)) == DEFAULT_COUNT
    assert len(search(http, broad, count=2)) == 2
    every = search(http, broad, count=MAX_COUNT)
    assert 5 < len(every) <= MAX_COUNT
    assert search(http, broad, count=500) == every  # at most 20, as Brave
    assert len(search(http, broad, count=0)) == 1
    assert len(search(http, broad, count="many")) == DEFAULT_COUNT


@pytest.mark.parametrize("headers", [{}, {"X-Subscription-Token": ""}])
def test_search_requires_a_subscription_token(http: httpx.Client, headers: dict[str, str]) -> None:
    refused = http.get(SEARCH_PATH, params={"q": "dynamodb"}, headers=headers)
    assert refused.status_code == 401 and refused.headers["content-type"] == "application/json"
    assert refused.json()["error"]["code"] == "SUBSCRIPTION_TOKEN_INVALID"


@pytest.mark.parametrize("path", ["/pages/none.html", "/pages/../web_corpus.py", "/pages/pomodoro-technique",
                                  "/pomodoro-technique.html", "/", "/res/v1/web/other"])
def test_anything_else_is_not_found(http: httpx.Client, path: str) -> None:
    assert http.get(path).status_code == 404


def test_a_given_port_and_a_quiet_stop(capfd: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "only-page.html").write_text("<html><head><title>Only page</title></head><body><article>"
                                             "<p>The only page.</p></article></body></html>", encoding="utf-8")
    with WebCorpusServer(directory=tmp_path) as first:
        port = int(first.base_url.rsplit(":", 1)[1])
    with WebCorpusServer(port=port, directory=tmp_path) as again:  # the port is free again after stop()
        assert again.base_url == f"http://127.0.0.1:{port}"
        with httpx.Client(trust_env=False) as client:
            assert client.get(f"{again.base_url}/pages/only-page.html").text.startswith("<html>")
            assert client.get(f"{again.base_url}/nothing").status_code == 404
            assert client.get(f"{again.base_url}{SEARCH_PATH}?q=only", headers=TOKEN).json()["web"]["results"]
    assert capfd.readouterr().err == ""  # no request log on stderr
    with pytest.raises(RuntimeError, match="not started"):
        _ = again.base_url


def test_research_reads_the_pages_through_the_ssrf_guard_in_local_mode_only(http: httpx.Client) -> None:
    url = search(http, "pomodoro")[0]["url"]
    page = fetch(url, allow_loopback=True)
    assert page.content_type == "text/html" and b"Francesco Cirillo" in page.body
    with pytest.raises(UnsafeUrl, match="loopback"):  # outside local mode research never reaches it
        fetch(url)
