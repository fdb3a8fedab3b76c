"""The functions of a context's HTTP API, one per handler module, with their routes and grants derived from
the module's router (:mod:`crewhouse_cdk.routes`): read-only modules read the context's table, modules whose
operations take ``Idempotency-Key`` use the idempotency table, and those that sign cursors read the secret."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from crewhouse_cdk.constructs.function import CrewhouseFunction, DependencyLayers
from crewhouse_cdk.constructs.http_api import HttpApi
from crewhouse_cdk.constructs.storage import Storage
from crewhouse_cdk.nag import acknowledge, acknowledge_index_access
from crewhouse_cdk.routes import needs


def serve_api_modules(scope: Construct, modules: Mapping[str, tuple[str, str]], *, api: HttpApi, storage: Storage,
                      layers: DependencyLayers, environment: Mapping[str, str],
                      table: dynamodb.ITable, public: Collection[str] = ()) -> dict[str, lambda_.Function]:
    """``modules``: construct id -> (handler module, description); ``public`` paths need no token. Returns the
    functions by construct id."""
    api_environment = {**environment, "IDEMPOTENCY_TABLE": storage.idempotency_table.table_name,
                       "CURSOR_SECRET_ARN": storage.cursor_secret.secret_arn}
    functions: dict[str, lambda_.Function] = {}
    for name, (module, description) in modules.items():
        function = functions[name] = CrewhouseFunction(
            scope, name, handler=f"{module}.handler", layers=layers, description=description,
            environment=api_environment).function
        needed = needs(module)
        if needed.read_only:
            table.grant_read_data(function)
        else:
            table.grant_read_write_data(function)
        acknowledge_index_access(function, table)
        if needed.idempotency:
            storage.idempotency_table.grant_read_write_data(function)
        if needed.signed_tokens:
            storage.cursor_secret.grant_read(function)
    routes = api.serve({name: (functions[name], module) for name, (module, _) in modules.items()}, public=public)
    for path in public:
        for route in routes[path]:
            acknowledge(route, "AwsSolutions-APIG4",
                        f"{path} answers without a token by design (documented with its operation).")
    return functions
