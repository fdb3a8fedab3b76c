"""Gateway routes and grants derived from handler routers (crewhouse_cdk.routes), on small FastAPI apps."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from typing import Annotated

import pytest
from fastapi import FastAPI, Header

from crewhouse_cdk.routes import gateway_routes, needs, operations


def _module(name: str, app: FastAPI) -> str:
    module = types.ModuleType(name)
    module.app = app  # type: ignore[attr-defined]
    sys.modules[name] = module
    return name


@pytest.fixture
def handlers() -> Iterator[dict[str, str]]:
    reads, writes, search = FastAPI(), FastAPI(), FastAPI()

    @reads.get("/things")
    def list_things(cursor: str | None = None) -> list[str]:
        return []

    @reads.get("/things/{thing_id}")
    def get_thing(thing_id: str) -> str:
        return thing_id

    @writes.post("/things")
    def create_thing(idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None) -> str:
        return ""

    @writes.patch("/things/{thing_id}")
    def change_thing(thing_id: str) -> str:
        return thing_id

    @writes.delete("/things/{thing_id}")
    def delete_thing(thing_id: str) -> None:
        return None

    @search.get("/things/search")
    def search_things(q: str) -> list[str]:
        return []

    @search.get("/things/{thing_id}/similar")
    def similar(thing_id: str) -> list[str]:
        return []

    names = {"Reads": _module("fake_api_reads", reads), "Writes": _module("fake_api_writes", writes),
             "Search": _module("fake_api_search", search)}
    operations.cache_clear()
    yield names
    for module in names.values():
        sys.modules.pop(module, None)
    operations.cache_clear()


def test_a_path_of_one_function_gets_one_any_route(handlers: dict[str, str]) -> None:
    assert ("ANY", "/things/{thing_id}/similar") in gateway_routes(handlers)["Search"]


def test_a_shared_path_names_the_reader_s_methods_and_gives_any_to_the_writer(handlers: dict[str, str]) -> None:
    routes = gateway_routes(handlers)
    assert ("GET", "/things") in routes["Reads"] and ("GET", "/things/{thing_id}") in routes["Reads"]
    assert ("ANY", "/things") in routes["Writes"] and ("ANY", "/things/{thing_id}") in routes["Writes"]
    assert not any(method == "ANY" for method, _ in routes["Reads"])


def test_a_literal_path_another_function_s_variable_would_match_names_its_methods(handlers: dict[str, str]) -> None:
    # ANY /things/search against GET /things/{thing_id}: API Gateway documents no order between them.
    assert ("GET", "/things/search") in gateway_routes(handlers)["Search"]
    assert ("ANY", "/things/search") not in gateway_routes(handlers)["Search"]


def test_exact_paths_get_only_their_methods(handlers: dict[str, str]) -> None:
    routes = gateway_routes(handlers, exact_paths={"/things/{thing_id}/similar"})
    assert ("GET", "/things/{thing_id}/similar") in routes["Search"]
    assert ("ANY", "/things/{thing_id}/similar") not in routes["Search"]


def test_every_operation_is_routed_once_per_path_and_function(handlers: dict[str, str]) -> None:
    routes = gateway_routes(handlers)
    for name, module in handlers.items():
        for op in operations(module):
            assert ("ANY", op.path) in routes[name] or (op.method, op.path) in routes[name], (name, op)


def test_grants_follow_the_operations(handlers: dict[str, str]) -> None:
    reads, writes, search = (needs(handlers[n]) for n in ("Reads", "Writes", "Search"))
    assert (reads.read_only, reads.idempotency, reads.signed_tokens) == (True, False, True)
    assert (writes.read_only, writes.idempotency, writes.signed_tokens) == (False, True, False)
    assert (search.read_only, search.idempotency, search.signed_tokens) == (True, False, False)
