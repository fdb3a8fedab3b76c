"""The HTTP API: a Lambda authorizer on every route (Cognito JWTs and personal access tokens), throttling,
CORS and JSON access logs."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Mapping

import aws_cdk as cdk
import jsii
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from crewhouse_cdk.constructs.auth import Auth
from crewhouse_cdk.constructs.canary import CanaryDeployments, LiveAliases
from crewhouse_cdk.constructs.function import CrewhouseFunction, DependencyLayers
from crewhouse_cdk.constructs.storage import Storage, tenant_table
from crewhouse_cdk.routes import gateway_routes
from crewhouse_cdk.stage import DEFAULT_STAGE, stage_of, staged_name

THROTTLE_RATE = 100
THROTTLE_BURST = 200
# Each caller's and each tenant's limits (crewhouse.core.api_limits), set on every API function; a stage overrides
# any of them with the CDK context ``rateLimits`` (e.g. ``-c rateLimits='{"RATE_LIMIT_USER_BURST": "80"}'``).
RATE_LIMITS = {
    "RATE_LIMIT_USER_PER_SECOND": "20",
    "RATE_LIMIT_USER_BURST": "40",
    "RATE_LIMIT_TENANT_PER_SECOND": "200",
    "RATE_LIMIT_TENANT_BURST": "400",
    "RATE_LIMIT_TENANT_BLOCK": "10",
    "RATE_LIMIT_WEIGHTS": "POST /jobs=5,POST /chat/sessions/{session_id}/messages=3",
}
# How long API Gateway keeps an authorizer answer per Authorization header: a revoked personal token works at
# most this long, and a caller costs at most one authorizer invocation per this period.
AUTHORIZER_CACHE_SECONDS = 60
ACCESS_LOG_FORMAT = apigw.AccessLogFormat.json_with_standard_fields(
    caller=False, http_method=True, ip=True, protocol=True, request_time=True, resource_path=True,
    response_length=True, status=True, user=True,
)


@jsii.implements(apigwv2.IAccessLogSettings)
class AccessLogSettings:
    """``IAccessLogSettings`` is a jsii interface, so Python passes an implementing object, not a dict (the HTTP
    API's stage and the WebSocket API's)."""

    def __init__(self, destination: apigwv2.IAccessLogDestination,
                 log_format: apigw.AccessLogFormat = ACCESS_LOG_FORMAT) -> None:
        self._destination = destination
        self._format = log_format

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return self._format


def _route_id(method: str, path: str) -> str:
    """A construct id per method and path: readable, and distinct even where two paths read alike."""
    return f"{method}{re.sub(r'[^A-Za-z0-9]', '', path.title())}{hashlib.sha256(path.encode()).hexdigest()[:6]}"


class _LambdaProxyIntegration(apigwv2.HttpRouteIntegration):
    """A payload-2.0 Lambda proxy integration that adds no invoke permission per route (``HttpLambdaIntegration``
    does, and routes derived from the routers would add one resource each): :meth:`HttpApi.integration_for`
    grants the API one permission per function."""

    def __init__(self, integration_id: str, function: lambda_.IFunction) -> None:
        super().__init__(integration_id)
        self._function = function

    def bind(self, *, route: apigwv2.IHttpRoute, scope: Construct) -> apigwv2.HttpRouteIntegrationConfig:
        return apigwv2.HttpRouteIntegrationConfig(
            type=apigwv2.HttpIntegrationType.AWS_PROXY, uri=self._function.function_arn,
            payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0,
        )


class HttpApi(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, auth: Auth, storage: Storage,
                 layers: DependencyLayers) -> None:
        super().__init__(scope, construct_id)
        self._memberships: dynamodb.ITable = storage.platform_table
        # The request buckets every API function charges (crewhouse.core.api_limits); idle ones expire (TTL).
        self.rate_limit_table = tenant_table(self, "RateLimitTable", ttl_attribute="expires_epoch")
        self._rate_limits = {**RATE_LIMITS, **(self.node.try_get_context("rateLimits") or {})}
        self.authorizer_function = self._authorizer_function(auth, storage, layers)
        # The authorizer's refusals (Powertools EMF, crewhouse.platform.authorizer.REFUSED_METRIC).
        self.refused_credentials = cloudwatch.Metric(namespace="Crewhouse", metric_name="CredentialsRefused",
                                                     dimensions_map={"service": "crewhouse"}, statistic="Sum",
                                                     period=cdk.Duration.minutes(5))
        self.authorizer = authorizers.HttpLambdaAuthorizer(
            "CallerAuthorizer", self.authorizer_function.function,
            response_types=[authorizers.HttpLambdaResponseType.SIMPLE],
            identity_source=["$request.header.Authorization"],
            results_cache_ttl=cdk.Duration.seconds(AUTHORIZER_CACHE_SECONDS),
        )
        self.api = apigwv2.HttpApi(
            self, "Api",
            api_name=staged_name(self, "crewhouse"),
            description="Crewhouse HTTP API",
            default_authorizer=self.authorizer,
            create_default_stage=False,
            cors_preflight=apigwv2.CorsPreflightOptions(
                allow_origins=["*"],
                allow_methods=[apigwv2.CorsHttpMethod.ANY],
                allow_headers=["authorization", "content-type", "idempotency-key", "if-match"],
                expose_headers=["etag", "location"],
                max_age=cdk.Duration.hours(1),
            ),
        )
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=logs.RetentionDays.ONE_MONTH,
                                         removal_policy=cdk.RemovalPolicy.DESTROY)
        self.stage = apigwv2.HttpStage(
            self, "DefaultStage",
            http_api=self.api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=THROTTLE_RATE, burst_limit=THROTTLE_BURST),
            access_log_settings=AccessLogSettings(apigwv2.LogGroupLogDestination(self.access_logs)),
        )
        self.url = self.stage.url
        self._integrations: dict[str, _LambdaProxyIntegration] = {}
        # Outside dev, routes reach each function's live alias, shifted by CodeDeploy (crewhouse_cdk.constructs.canary).
        self._live_aliases = (LiveAliases(cdk.Stack.of(self), "LiveAliases")
                              if stage_of(self) != DEFAULT_STAGE else None)
        self.canaries: list[CanaryDeployments] = [self._live_aliases.deployments] if self._live_aliases else []

    def _authorizer_function(self, auth: Auth, storage: Storage, layers: DependencyLayers) -> CrewhouseFunction:
        """Verifies Cognito JWTs against the pool's keys and looks personal tokens up by their keyed hash."""
        authorizer = CrewhouseFunction(
            self, "Authorizer",
            handler="crewhouse.platform.authorizer.handler",
            description="HTTP API authorizer: Cognito JWTs and personal access tokens",
            layers=layers,
            memory_size=512,
            timeout=cdk.Duration.seconds(10),
            environment={
                "PLATFORM_TABLE": storage.platform_table.table_name,
                "USER_POOL_ID": auth.user_pool.user_pool_id,
                "API_AUDIENCES": cdk.Fn.join(",", [auth.mobile_client.user_pool_client_id,
                                                   auth.machine_client.user_pool_client_id]),
                "TOKEN_HASH_SECRET_ARN": storage.token_hash_secret.secret_arn,
            },
        )
        # One strongly consistent read of the token's record, and its last-used time.
        authorizer.function.add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:GetItem", "dynamodb:UpdateItem"], resources=[storage.platform_table.table_arn]))
        storage.token_hash_secret.grant_read(authorizer.function)
        return authorizer

    def integration_for(self, function: lambda_.IFunction) -> _LambdaProxyIntegration:
        """One integration and one invoke permission (any stage, method and path of this API) per function,
        shared by its routes. Every function behind the API checks each caller's membership, so it reads
        (GetItem only) the membership table, and charges each caller's request buckets (UpdateItem only)."""
        key = function.node.path
        if key not in self._integrations:
            assert isinstance(function, lambda_.Function), "API routes go to functions defined in this app"
            function.add_environment("PLATFORM_TABLE", self._memberships.table_name)
            function.add_to_role_policy(iam.PolicyStatement(actions=["dynamodb:GetItem"],
                                                            resources=[self._memberships.table_arn]))
            function.add_environment("RATE_LIMIT_TABLE", self.rate_limit_table.table_name)
            for name, value in self._rate_limits.items():
                function.add_environment(name, str(value))
            function.add_to_role_policy(iam.PolicyStatement(actions=["dynamodb:UpdateItem"],
                                                            resources=[self.rate_limit_table.table_arn]))
            target = self._canary_for(function).live(function) if self._live_aliases else function
            target.add_permission("HttpApiInvoke", principal=iam.ServicePrincipal("apigateway.amazonaws.com"),
                                  source_arn=cdk.Stack.of(self).format_arn(
                                      service="execute-api", resource=self.api.api_id, resource_name="*"))
            self._integrations[key] = _LambdaProxyIntegration(f"Integration{len(self._integrations)}", target)
        return self._integrations[key]

    def _canary_for(self, function: lambda_.Function) -> CanaryDeployments:
        """Where ``function``'s live alias goes: :class:`LiveAliases` for the parent's functions, the function's
        own nested stack otherwise (see crewhouse_cdk.constructs.canary)."""
        assert self._live_aliases is not None
        home = cdk.Stack.of(function)
        if home is cdk.Stack.of(self):
            return self._live_aliases.deployments
        found = home.node.try_find_child("Canary")
        if not isinstance(found, CanaryDeployments):
            found = CanaryDeployments(home, "Canary")
            self.canaries.append(found)
        return found

    def roll_back_on(self, alarm: cloudwatch.IAlarm) -> None:
        """Every API function's canary deployment rolls back when ``alarm`` fires (the API's 5xx alarm)."""
        for canary in self.canaries:
            canary.roll_back_on(alarm)

    def route(self, path: str, methods: list[apigwv2.HttpMethod], function: lambda_.IFunction, *,
              public: bool = False) -> list[apigwv2.HttpRoute]:
        """Send ``methods`` on ``path`` to ``function``; every route goes through the authorizer unless ``public``.

        The routes of a function defined in a nested stack (and its integration) are made in that stack: a stack
        holds at most 500 resources, and the parent's would otherwise pay for every nested context's routes."""
        home = cdk.Stack.of(function)
        if home is cdk.Stack.of(self):
            return self.api.add_routes(
                path=path, methods=methods, integration=self.integration_for(function),
                authorizer=apigwv2.HttpNoneAuthorizer() if public else None,
            )
        found = home.node.try_find_child("HttpApiRoutes")
        scope = found if isinstance(found, Construct) else Construct(home, "HttpApiRoutes")
        return [apigwv2.HttpRoute(
            scope, _route_id(method.value, path), http_api=self.api,
            route_key=apigwv2.HttpRouteKey.with_(path, method), integration=self.integration_for(function),
            authorizer=apigwv2.HttpNoneAuthorizer() if public else self.authorizer) for method in methods]

    def serve(self, handlers: Mapping[str, tuple[lambda_.IFunction, str]], *,
              public: Collection[str] = ()) -> dict[str, list[apigwv2.HttpRoute]]:
        """Route every operation of each handler module's router to its function (``name -> (function,
        module)``), as :func:`crewhouse_cdk.routes.gateway_routes` derives them; ``public`` paths need no token
        (and get only their documented methods). Returns the routes made, by path."""
        made: dict[str, list[apigwv2.HttpRoute]] = {}
        derived = gateway_routes({name: module for name, (_, module) in handlers.items()}, exact_paths=public)
        for name, routes in derived.items():
            function = handlers[name][0]
            for method, path in routes:
                made.setdefault(path, []).extend(
                    self.route(path, [apigwv2.HttpMethod(method)], function, public=path in public))
        return made
