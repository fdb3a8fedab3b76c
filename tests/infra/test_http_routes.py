"""Every route of every HTTP handler reaches that handler's function through the HTTP API's routes.

Tasks, notes and files are each served by several functions (one per module of ``crewhouse.<context>.api``),
so API Gateway's route selection decides which function a request reaches. The template's routes are matched
with ``crewhouse local``'s route table, which selects as API Gateway does, and the handlers' routes are read
from their FastAPI apps (their OpenAPI paths). For every handler route:

* the route selected for a request on it is one of its own function's routes;
* that selection relies only on the precedence API Gateway documents: a full match before a greedy
  ``{proxy+}`` one, a route naming the method before ``ANY``. Two routes of the same kind and length that
  both match a request (``/notes/search`` and ``/notes/{note_id}``) must go to the same function;
* a method no handler serves on a tasks, notes or files path reaches a function of that context, which
  answers problem+json (405 when it has the path, else 404), not the platform's catch-all.
"""

from __future__ import annotations

import importlib
import re
from functools import cache
from typing import Any

import pytest
from fastapi.openapi.utils import get_openapi

from crewhouse.local.gateway import Route, RouteTable
from tests.support.routing import deployed_route_table, route_functions

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
CONTEXTS = ("tasks", "notes", "files")


@cache
def app_paths(handler: str) -> dict[str, set[str]]:
    """Path template -> methods of the FastAPI app of the module that defines ``handler``."""
    app = importlib.import_module(handler.rpartition(".")[0]).app
    document = get_openapi(title="routes", version="1", routes=app.routes)
    return {path: {method.upper() for method in operations} for path, operations in document["paths"].items()}


def sample(path: str) -> str:
    """A request path for a path template: each variable gets a value that no literal segment has."""
    return re.sub(r"\{[^}]+\}", "x1", path)


@pytest.fixture(scope="module")
def routes(template_json: dict[str, Any]) -> tuple[RouteTable, dict[str, str]]:
    """The route table, and the Handler of each function that serves HTTP routes (logical id -> handler)."""
    resources = template_json["Resources"]
    handlers = {function: resources[function]["Properties"]["Handler"]
                for function in set(route_functions(resources).values())}
    return deployed_route_table(resources), handlers


def served(routes: tuple[RouteTable, dict[str, str]]) -> list[tuple[str, str, str, str]]:
    """``(function, handler, method, path template)`` of every route of every HTTP handler."""
    _, handlers = routes
    return [(function, handler, method, path) for function, handler in sorted(handlers.items())
            for path, methods in app_paths(handler).items() for method in sorted(methods)]


def matches(table: RouteTable, method: str, path: str) -> list[Route]:
    return [route for route in table.routes if route.match(method, path) is not None]


def kind(route: Route) -> tuple[bool, bool, int]:
    """What API Gateway's documented precedence tells apart: greedy or not, a method or ANY, and the length."""
    _, _, template = route.route_key.partition(" ")
    return template.endswith("+}"), route.method == "ANY", template.count("/")


def test_the_tasks_notes_and_files_apis_are_served_by_several_functions(
        routes: tuple[RouteTable, dict[str, str]]) -> None:
    _, handlers = routes
    for context in CONTEXTS:
        modules = {h for h in handlers.values() if h.startswith(f"crewhouse.{context}.api.")}
        assert len(modules) >= 3, f"{context}: {sorted(modules)}"


def test_every_handler_route_reaches_its_function(routes: tuple[RouteTable, dict[str, str]]) -> None:
    table, _ = routes
    wrong = []
    for function, handler, method, path in served(routes):
        found = table.match(method, sample(path))
        if found is None or found[0].function_name != function:
            wrong.append(f"{method} {path} ({handler}) -> {found[0].route_key if found else 'no route'}"
                         f"{f' of {found[0].function_name}' if found else ''}")
    assert not wrong, "requests that would reach another function than their handler's:\n" + "\n".join(wrong)


def test_route_selection_relies_only_on_documented_precedence(routes: tuple[RouteTable, dict[str, str]]) -> None:
    table, _ = routes
    ambiguous = []
    for _, handler, method, path in served(routes):
        found = table.match(method, sample(path))
        assert found is not None, f"{method} {path} ({handler}) reaches no route"
        rivals = {route.route_key: route.function_name for route in matches(table, method, sample(path))
                  if kind(route) == kind(found[0]) and route.function_name != found[0].function_name}
        if rivals:
            ambiguous.append(f"{method} {path}: {found[0].route_key} and {rivals}")
    assert not ambiguous, ("requests that routes of the same kind send to different functions (API Gateway may "
                           "pick either): send them to one function\n" + "\n".join(ambiguous))


def test_other_methods_on_a_context_path_stay_in_the_context(routes: tuple[RouteTable, dict[str, str]]) -> None:
    """A method no handler serves on a tasks, notes or files path reaches a function of that context (405 when
    that function has the path, else 404 problem+json), never the platform's catch-all for unknown routes."""
    table, handlers = routes
    methods_of: dict[tuple[str, str], set[str]] = {}
    for _, handler, method, path in served(routes):
        context = handler.split(".")[1]
        if context in CONTEXTS:
            methods_of.setdefault((context, path), set()).add(method)
    wrong = []
    for (context, path), methods in sorted(methods_of.items()):
        for method in sorted(set(METHODS) - methods):
            found = table.match(method, sample(path))
            reached = handlers.get(found[0].function_name, "") if found else ""
            if not reached.startswith(f"crewhouse.{context}.api."):
                wrong.append(f"{method} {path} -> {found[0].route_key if found else 'no route'} ({reached})")
    assert not wrong, "requests that leave their context:\n" + "\n".join(wrong)


def test_functions_that_only_read_cannot_write_their_table(template_json: dict[str, Any],
                                                           routes: tuple[RouteTable, dict[str, str]]) -> None:
    """Splitting the APIs lets the functions whose routes are all GETs hold read access only. Exceptions:
    reading a file records that it was opened (its retention clock), one UpdateItem on the files table, and every
    request charges its caller's bucket in the rate-limit table (UpdateItem, tests/infra/test_rate_limits_stack.py)."""
    from tests.infra.test_stack import DYNAMODB_WRITE, grants, render, role_of, role_statements

    files_table = next(k for k, r in template_json["Resources"].items()
                       if r["Type"] == "AWS::DynamoDB::Table" and k.startswith("FilesFilesTable"))
    opens = {("crewhouse.files.api.reads.handler", "dynamodb:UpdateItem", f"${{{files_table}.Arn}}")}
    rate_limits = next(k for k, r in template_json["Resources"].items()
                       if r["Type"] == "AWS::DynamoDB::Table" and k.startswith("HttpRateLimitTable"))

    _, handlers = routes
    readers = [function for function, handler in handlers.items() if handler.split(".")[1] in CONTEXTS
               and all(methods == {"GET"} for methods in app_paths(handler).values())]
    assert len(readers) >= 4, readers
    for function in readers:
        written = [(action, resource) for action, resource in
                   grants(role_statements(template_json, role_of(template_json, function))) if action in DYNAMODB_WRITE
                   and (handlers[function], action, render(resource)) not in opens
                   and (action, render(resource)) != ("dynamodb:UpdateItem", f"${{{rate_limits}.Arn}}")]
        assert not written, f"{function} ({handlers[function]}) may write: {written}"
