"""Route selection of the local HTTP API: the priorities API Gateway documents for HTTP APIs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crewhouse.local.gateway import Route, RouteTable


def table(*keys: str) -> RouteTable:
    return RouteTable(Route(key, f"fn-{i}", None) for i, key in enumerate(keys))


def chosen(routes: RouteTable, method: str, path: str) -> tuple[str, dict[str, str]] | None:
    found = routes.match(method, path)
    return None if found is None else (found[0].route_key, found[1])


# The example table of the API Gateway developer guide ("Routing API requests").
DOC_TABLE = table("GET /pets/dog/{id}", "GET /pets/{proxy+}", "ANY /{proxy+}", "$default")


@pytest.mark.parametrize(("method", "path", "expected"), [
    ("GET", "/pets/dog/1", ("GET /pets/dog/{id}", {"id": "1"})),
    ("GET", "/pets/cat/1", ("GET /pets/{proxy+}", {"proxy": "cat/1"})),
    ("POST", "/test/5", ("ANY /{proxy+}", {"proxy": "test/5"})),
    ("POST", "/pets/dog/1", ("ANY /{proxy+}", {"proxy": "pets/dog/1"})),
    ("GET", "/", ("$default", {})),
])
def test_documented_examples(method: str, path: str, expected: tuple[str, dict[str, str]]) -> None:
    assert chosen(DOC_TABLE, method, path) == expected


def test_literal_beats_variable_beats_greedy() -> None:
    routes = table("GET /items/{id}", "GET /items/special", "GET /items/{proxy+}")
    assert chosen(routes, "GET", "/items/special") == ("GET /items/special", {})
    assert chosen(routes, "GET", "/items/7") == ("GET /items/{id}", {"id": "7"})
    assert chosen(routes, "GET", "/items/7/parts") == ("GET /items/{proxy+}", {"proxy": "7/parts"})


def test_first_differing_segment_decides() -> None:
    routes = table("GET /a/{x}/c", "GET /{y}/b/c")
    assert chosen(routes, "GET", "/a/b/c") == ("GET /a/{x}/c", {"x": "b"})


def test_specific_method_beats_any_on_the_same_path() -> None:
    routes = table("ANY /things", "DELETE /things")
    assert chosen(routes, "DELETE", "/things") == ("DELETE /things", {})
    assert chosen(routes, "PATCH", "/things") == ("ANY /things", {})


def test_path_specificity_comes_before_method() -> None:
    routes = table("GET /pets/{id}", "ANY /pets/dog")
    assert chosen(routes, "GET", "/pets/dog") == ("ANY /pets/dog", {})


def test_longer_greedy_prefix_wins() -> None:
    routes = table("ANY /{proxy+}", "ANY /files/{path+}", "ANY /files/{owner}/{path+}")
    assert chosen(routes, "GET", "/files/readme") == ("ANY /files/{path+}", {"path": "readme"})
    assert chosen(routes, "GET", "/files/ann/a/b") == ("ANY /files/{owner}/{path+}", {"owner": "ann", "path": "a/b"})


def test_greedy_needs_something_after_its_prefix() -> None:
    routes = table("ANY /x/{proxy+}")
    assert chosen(routes, "GET", "/x") is None
    assert chosen(routes, "GET", "/x/") is None
    assert chosen(routes, "GET", "/x/y/") == ("ANY /x/{proxy+}", {"proxy": "y/"})


def test_methods_and_paths_must_match() -> None:
    routes = table("GET /a/{id}", "POST /b")
    assert chosen(routes, "POST", "/a/1") is None
    assert chosen(routes, "GET", "/a") is None
    assert chosen(routes, "GET", "/a/") is None  # a path variable never matches an empty segment
    assert chosen(routes, "GET", "/a/1/2") is None
    assert chosen(routes, "HEAD", "/a/1") is None  # HTTP APIs do not answer HEAD from GET routes
    assert chosen(routes, "GET", "/A/1") is None  # literal segments are case-sensitive
    assert chosen(routes, "post", "/b") == ("POST /b", {})


def test_default_catches_everything_else_last() -> None:
    routes = table("$default", "GET /known")
    assert chosen(routes, "GET", "/known") == ("GET /known", {})
    assert chosen(routes, "OPTIONS", "/anything/at/all") == ("$default", {})


@pytest.mark.parametrize("key", ["GET", "GET pets", "FETCH /x", "GET /a/{proxy+}/b", "GET /a/b{c}", "GET /a/{c"])
def test_malformed_route_keys_are_rejected(key: str) -> None:
    with pytest.raises(ValueError):
        table(key)


def test_routes_that_differ_only_in_variable_names_clash() -> None:
    with pytest.raises(ValueError, match="Duplicate"):
        table("GET /a/{x}", "GET /a/{y}")
    table("GET /a/{x}", "POST /a/{y}", "ANY /a/{z}")  # different methods are fine


@pytest.mark.parametrize("timeout", [0, -1, 30.5])
def test_timeouts_stay_within_api_gateway_limits(timeout: float) -> None:
    with pytest.raises(ValueError, match="timeout"):
        Route("GET /x", "fn", None, timeout_seconds=timeout)


# --- properties ----------------------------------------------------------------------------------------

segment = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.~", min_size=1, max_size=8)
segments = st.lists(segment, min_size=1, max_size=6)
methods = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])


@given(parts=segments, method=methods)
def test_a_literal_route_takes_its_own_path(parts: list[str], method: str) -> None:
    path = "/" + "/".join(parts)
    routes = table(f"{method} {path}", "ANY /{proxy+}", "$default")
    assert chosen(routes, method, path) == (f"{method} {path}", {})


@given(parts=segments, data=st.data())
def test_variables_capture_exactly_their_segments(parts: list[str], data: st.DataObject) -> None:
    variable = data.draw(st.lists(st.booleans(), min_size=len(parts), max_size=len(parts)))
    key_parts = [f"{{v{i}}}" if var else part for i, (part, var) in enumerate(zip(parts, variable, strict=True))]
    routes = table("GET /" + "/".join(key_parts))
    expected = {f"v{i}": part for i, (part, var) in enumerate(zip(parts, variable, strict=True)) if var}
    assert chosen(routes, "GET", "/" + "/".join(parts)) == ("GET /" + "/".join(key_parts), expected)


@given(prefix=st.lists(segment, max_size=3), rest=segments)
def test_greedy_captures_the_whole_remainder(prefix: list[str], rest: list[str]) -> None:
    key = "ANY /" + "/".join([*prefix, "{proxy+}"])
    routes = table(key)
    path = "/" + "/".join(prefix + rest)
    assert chosen(routes, "PUT", path) == (key, {"proxy": "/".join(rest)})
    assert chosen(routes, "PUT", "/" + "/".join(prefix)) is None


@given(parts=segments, method=methods)
def test_adding_default_never_loses_a_match(parts: list[str], method: str) -> None:
    path = "/" + "/".join(parts)
    keys = ("GET /{a}", "ANY /{a}/{b}", f"POST /{parts[0]}/{{proxy+}}")
    before = chosen(table(*keys), method, path)
    after = chosen(table(*keys, "$default"), method, path)
    assert after == (before if before is not None else ("$default", {}))
