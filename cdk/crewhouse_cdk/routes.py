"""HTTP API routes and grants derived from the handlers' FastAPI routers: adding a route to a router is the only
edit (plus its test); the gateway route, the function's grants and the OpenAPI document follow from it.

Each handler module exposes ``app``; its OpenAPI operations say which paths and methods it serves and which
of them take an ``Idempotency-Key`` header or a signed ``cursor``/``since`` token. When several functions
share a context, API Gateway's route selection decides which one a request reaches, so the routes rely only
on precedence API Gateway documents (tests/infra/test_http_routes.py checks every handler route):

* a path served by one function gets one ``ANY`` route: the methods it does not serve reach it too, and it
  answers 405 problem+json;
* a path served by several functions gets exact-method routes, except that the function with the most
  non-GET methods takes ``ANY`` (a route naming the method beats ``ANY`` on the same path);
* a literal path that a path variable of another function would also match (``/notes/search`` and
  ``/notes/{note_id}``) gets exact-method routes: a full match with the method beats a variable one.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cache

from fastapi.openapi.utils import get_openapi

ANY = "ANY"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IDEMPOTENCY_HEADER = "idempotency-key"
SIGNED_TOKENS = frozenset({"cursor", "since"})  # query parameters signed with the cursor secret


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    parameters: frozenset[str]  # lower-cased names


@dataclass(frozen=True)
class HandlerNeeds:
    """What a handler's operations need beyond its context's table."""

    read_only: bool  # only safe methods: read access to its tables
    idempotency: bool  # some operation takes Idempotency-Key
    signed_tokens: bool  # some operation takes a signed cursor or sync token


@cache
def operations(module: str) -> tuple[Operation, ...]:
    """The documented operations of ``module``'s FastAPI app."""
    app = importlib.import_module(module).app
    document = get_openapi(title=module, version="1", routes=app.routes)
    return tuple(
        Operation(method.upper(), path, frozenset(p["name"].lower() for p in operation.get("parameters", [])))
        for path, methods in sorted(document["paths"].items())
        for method, operation in sorted(methods.items())
    )


def needs(module: str) -> HandlerNeeds:
    found = operations(module)
    return HandlerNeeds(
        read_only=all(op.method in SAFE_METHODS for op in found),
        idempotency=any(IDEMPOTENCY_HEADER in op.parameters for op in found),
        signed_tokens=any(op.parameters & SIGNED_TOKENS for op in found),
    )


def _segments(path: str) -> list[str | None]:
    """Path segments, a variable as None."""
    return [None if re.fullmatch(r"\{[^}]+\}", part) else part for part in path.strip("/").split("/")]


def _shadowed_by_variable(path: str, other: str) -> bool:
    """``other`` (with a variable where ``path`` has a literal) also matches requests for ``path``."""
    mine, theirs = _segments(path), _segments(other)
    if path == other or len(mine) != len(theirs):
        return False
    pairs = list(zip(mine, theirs, strict=True))
    return (all(a == b or b is None for a, b in pairs)
            and any(a is not None and b is None for a, b in pairs))


def gateway_routes(handlers: Mapping[str, str], *,
                   exact_paths: Collection[str] = ()) -> dict[str, list[tuple[str, str]]]:
    """``name -> [(method or ANY, path)]`` for functions ``name`` serving handler module ``handlers[name]``;
    ``exact_paths`` get only their documented methods (public routes: nothing else reaches the function)."""
    served: dict[str, dict[str, set[str]]] = {}  # path -> function -> methods
    for name, module in handlers.items():
        for op in operations(module):
            served.setdefault(op.path, {}).setdefault(name, set()).add(op.method)
    routes: dict[str, list[tuple[str, str]]] = {name: [] for name in handlers}
    for path, by_function in sorted(served.items()):
        shadowed = path in exact_paths or any(_shadowed_by_variable(path, other) and set(owners) - set(by_function)
                       for other, owners in served.items())
        if len(by_function) == 1 and not shadowed:
            (name,) = by_function
            routes[name].append((ANY, path))
            continue
        takes_any = None if shadowed else max(
            sorted(by_function), key=lambda n: (len(by_function[n] - SAFE_METHODS), len(by_function[n])))
        for name, methods in sorted(by_function.items()):
            if name == takes_any:
                routes[name].append((ANY, path))
            else:
                routes[name].extend((method, path) for method in sorted(methods))
    return routes
