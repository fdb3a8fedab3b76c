"""The embedded AWS cloud: moto in this process, our CDK template deployed into it, the gap fillers
running, and the HTTP API served from the template's routes.

This is what ``crewhouse local`` starts and what the integration tests start once per session.
Functions run with their own role's credentials and their calls are authorized against its policies
(:mod:`crewhouse.local.iam`); ``LocalCloudConfig(enforce_iam=False)`` turns that off.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import requests

from crewhouse.local import (
    cfn_providers,
    cognito_oauth,
    cognito_triggers,
    cognito_verification,
    console,
    dynamodb_streams,
    dynamodb_writes,
    endpoint,
    eventbridge,
    guardduty,
    iam,
    lambda_runtime,
    outbox,
    persistence,
    s3_gaps,
    scheduler,
    sqs_poller,
    stepfunctions,
)
from crewhouse.local.deploy import DeployedStack, TemplateTransform, apply_files_cors, deploy_stack
from crewhouse.local.dynamodb_streams import DynamoDbStreamPoller
from crewhouse.local.endpoint import local_client
from crewhouse.local.gateway import (
    GatewayServer,
    LambdaAuthorizer,
    Route,
    RouteTable,
    build_gateway_app,
    lambda_invoker,
)
from crewhouse.local.push import create_push_applications
from crewhouse.local.scheduler import SchedulerLoop
from crewhouse.local.sqs_poller import SqsEventSourcePoller
from crewhouse.local.synth import STACK_NAME, synthesize
from crewhouse.platform.jwt_verifier import JwtVerifier

log = logging.getLogger(__name__)

# What every function sees locally, and what the process needs to talk to moto.
LOCAL_PROCESS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon locally
    "POWERTOOLS_METRICS_DISABLED": "true",  # EMF lines would only clutter the console
    "POWERTOOLS_DEV": "false",
}

# Locally the limiter runs (and costs what it costs in AWS) with limits no test, fuzz run or `make dev` reaches;
# a test that wants 429s lowers them for its own span (lambda_runtime.environment_overrides).
LOCAL_RATE_LIMITS = {"RATE_LIMIT_USER_PER_SECOND": "1000", "RATE_LIMIT_USER_BURST": "5000",
                     "RATE_LIMIT_TENANT_PER_SECOND": "1000", "RATE_LIMIT_TENANT_BURST": "50000"}


@dataclass
class LocalCloudConfig:
    host: str = "127.0.0.1"
    aws_port: int = 4566  # LocalStack's port, so AWS_ENDPOINT_URL means the same for both
    api_port: int = 8000
    # The WebSocket APIs and their @connections management API (crewhouse.local.websockets); 0: any free port
    # (tests), `crewhouse local` takes the API port + 1.
    ws_port: int = 0
    region: str = "us-east-1"
    stack_name: str = STACK_NAME
    background_loops: bool = True
    # Functions call AWS with their own role's credentials and the cloud checks them against its policies.
    enforce_iam: bool = True
    template_transform: TemplateTransform | None = None  # edits a copy of the template before the deploy
    # Keeps the data (tables' items, buckets' objects, pool users, schedules) here across restarts (persistence.py).
    state_dir: Path | None = None
    fresh_state: bool = False  # deletes what state_dir holds first
    snapshot_interval: float = 2.0  # seconds; bounds what a kill -9 loses
    # Variables set in every function (crewhouse local's --multipart-* options); the deployed stack never has them.
    function_environment: dict[str, str] = field(default_factory=dict)


@dataclass
class EmbeddedCloud:
    config: LocalCloudConfig = field(default_factory=LocalCloudConfig)
    stack: DeployedStack | None = None
    _moto: Any = None
    _gateway: GatewayServer | None = None
    _websockets: Any = None  # crewhouse.local.websockets.WebSocketGateway
    _poller: SqsEventSourcePoller | None = None
    _streams: DynamoDbStreamPoller | None = None
    _scheduler: SchedulerLoop | None = None
    _state: persistence.LocalState | None = None
    _web: Any = None  # the local web research reads (crewhouse.local.web_corpus.WebCorpusServer)
    _state_lock: BinaryIO | None = None
    restored: persistence.RestoreSummary | None = None  # what start() restored from state_dir, if anything

    @property
    def aws_endpoint(self) -> str:
        return f"http://{self.config.host}:{self.config.aws_port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.config.host}:{self.config.api_port}"

    @property
    def console_origins(self) -> list[str]:
        """Where the browser loads the console from: the gateway, by its address or (on loopback) as localhost."""
        origins = [self.api_url]
        if self.config.host in ("127.0.0.1", "0.0.0.0"):
            origins += [f"http://localhost:{self.config.api_port}", f"http://127.0.0.1:{self.config.api_port}"]
        return list(dict.fromkeys(origins))

    def start(self) -> EmbeddedCloud:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request access log
        for key, value in LOCAL_PROCESS_ENVIRONMENT.items():
            os.environ.setdefault(key, value)
        # moto's Step Functions interpreter calls Lambda, SQS and DynamoDB back through this port.
        os.environ["MOTO_PORT"] = str(self.config.aws_port)
        if self.config.state_dir is not None:
            self._state_lock = persistence.claim(self.config.state_dir)  # first: another cloud may be using it
            if self.config.fresh_state:
                persistence.discard(self.config.state_dir)
        self._moto = ThreadedMotoServer(ip_address=self.config.host, port=self.config.aws_port, verbose=False)
        self._moto.start()
        watcher = persistence.watch_requests(self._moto) if self.config.state_dir is not None else None
        endpoint.set_endpoint_url(self.aws_endpoint, self.config.region)
        # moto's state is process-wide: a new cloud starts from nothing, like a fresh account.
        self._reset_moto()
        requests.post(f"{self.aws_endpoint}/moto-api/config",
                      json={"stepfunctions": {"execute_state_machine": True}}, timeout=5).raise_for_status()
        self.install_patches()
        # moto's Textract answers canned text: locally, OCR reads the image with Tesseract. Research searches a
        # small bundled web on loopback instead of the Brave Search API (a tenant still needs a key set).
        from crewhouse.local.web_corpus import WebCorpusServer

        self._web = WebCorpusServer(host=self.config.host).start()
        # The WebSocket gateway listens first: functions post to its @connections callback URL.
        from crewhouse.local.websockets import WebSocketGateway, websocket_apis

        self._websockets = WebSocketGateway(lambda_invoker(self.aws_endpoint, self.config.region),
                                            host=self.config.host, port=self.config.ws_port).start()
        # The bus tells agents where to trade credentials and reach A2A endpoints: here, this gateway.
        overrides = {"OCR_PROVIDER": "tesseract", "WEB_SEARCH_ENDPOINT": f"{self._web.base_url}/res/v1/web/search",
                     "PUBLIC_API_URL": f"{self.api_url}/", **LOCAL_RATE_LIMITS}
        lambda_runtime.override_environment(overrides)
        lambda_runtime.add_environment(self.config.function_environment)

        self.stack = deploy_stack(synthesize(), self.config.stack_name, self.config.region,
                                  self.config.template_transform)
        self._websockets.apis = websocket_apis(endpoint.local_client("apigatewayv2"))
        if self._websockets.apis:  # PostToConnection goes to the local gateway, not execute-api
            lambda_runtime.override_environment({
                **overrides, "REALTIME_CALLBACK_URL": self._websockets.callback_url(self._websockets.apis[0].stage)})
        apply_files_cors(self.stack, self.console_origins)  # the console uploads straight to the files bucket
        verify_email_senders(self.stack)
        create_push_applications()  # the platform applications the template's push settings name
        if self.config.state_dir is not None and watcher is not None:
            # After the deploy, into what it made: the stack is always the current template's, only data is kept.
            self._state = persistence.LocalState(self.config.state_dir, self.stack, self.config.region, watcher,
                                                 interval=self.config.snapshot_interval)
            self.restored = self._state.restore()
            if self.restored is not None:
                from crewhouse.local.bus_inboxes import reprovision_inboxes

                reprovision_inboxes(self.stack, self.aws_endpoint, self.config.region)
        self._poller = SqsEventSourcePoller(self.aws_endpoint, self.config.region)
        self._streams = DynamoDbStreamPoller(self.aws_endpoint, self.config.region)
        self._scheduler = SchedulerLoop(self.aws_endpoint, self.config.region)
        if self.config.background_loops:
            self._poller.start()
            self._streams.start()
            self._scheduler.start()
        app = build_gateway_app(route_table(self.stack, self.aws_endpoint), lambda_invoker(self.aws_endpoint,
                                                                                            self.config.region),
                                extra_routes=[*_docs_routes(), cognito_oauth.token_route(), outbox.outbox_route(),
                                              *console.console_routes(
                                                  outputs=self.stack.outputs, region=self.config.region,
                                                  api_url=self.api_url, aws_endpoint=self.aws_endpoint,
                                                  websocket_url=self.websocket_url)],
                                api_id=self.api_id)
        self._gateway = GatewayServer(app, host=self.config.host, port=self.config.api_port).start()
        if self._state is not None:
            self._state.start()
        return self

    def _reset_moto(self, attempts: int = 5) -> None:
        """Reset moto's process-wide state. A previous cloud's last deliveries (EventBridge threads) may still be
        writing while the reset walks the backends, which moto answers with a 500: wait a moment and reset again."""
        for attempt in range(attempts):
            response = requests.post(f"{self.aws_endpoint}/moto-api/reset", timeout=10)
            if response.ok or attempt == attempts - 1:
                response.raise_for_status()
                return
            time.sleep(0.5 * (attempt + 1))

    def install_patches(self) -> None:
        """Patch moto as this cloud needs it (idempotent; :func:`crewhouse.local.patches.registered` lists them).
        Needs no running server: deploying and starting the pollers would install nothing more."""
        lambda_runtime.install(assume_roles=self.config.enforce_iam)
        if self.config.enforce_iam:
            iam.install()  # each function's calls are authorized against its role's policies
        else:
            iam.uninstall()
        stepfunctions.install()  # callbacks that beat the heartbeat timer
        eventbridge.install(self.aws_endpoint)
        s3_gaps.install()  # presigned URL/POST checks, bucket policy conditions, part checksums
        dynamodb_writes.install()  # conditional writes are atomic, as in DynamoDB
        guardduty.install()  # GuardDuty Malware Protection for S3 scans new uploads
        cognito_triggers.install()
        cognito_verification.install()  # SRP password proofs and confirmation codes are checked
        sqs_poller.disable_synchronous_mappings()  # our pollers deliver instead (batches, retries, DLQs)
        dynamodb_streams.disable_synchronous_mappings()
        scheduler.install_wakeups()  # what SchedulerLoop installs, and the deploy below:
        cfn_providers.install()  # CloudFormation providers for what moto cannot deploy

    @property
    def api_id(self) -> str:
        assert self.stack is not None
        return next(self.stack.resources[k] for k, r in self.stack.template["Resources"].items()
                    if r["Type"] == "AWS::ApiGatewayV2::Api" and r["Properties"].get("ProtocolType") != "WEBSOCKET")

    def function_name(self, logical_prefix: str) -> str:
        """Physical name of the function whose logical id starts with ``logical_prefix``."""
        assert self.stack is not None
        matches = [self.stack.resources[k] for k, r in self.stack.template["Resources"].items()
                   if r["Type"] == "AWS::Lambda::Function" and k.startswith(logical_prefix)]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} functions match {logical_prefix!r}")
        return matches[0]

    def settle(self, quiet_seconds: float = 0.6, timeout: float = 10.0) -> bool:
        """Wait until the pollers have delivered nothing for ``quiet_seconds`` (stream-fed indexes caught up,
        queues drained); False on timeout. For benchmarks that must not count background work."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            eventbridge.drain(timeout=max(0.0, deadline - time.monotonic()))
            latest = max((p.last_delivery for p in (self._poller, self._streams) if p is not None), default=0.0)
            if time.monotonic() - latest >= quiet_seconds:
                return True
            time.sleep(0.05)
        return False

    @property
    def websocket_url(self) -> str | None:
        """``ws://…/<stage>`` of the stack's WebSocket API, None without one."""
        return self._websockets.url if self._websockets is not None and self._websockets.apis else None

    def stop(self) -> None:
        if self._gateway is not None:
            self._gateway.stop()
        if self._websockets is not None:
            self._websockets.stop()
            self._websockets = None
        if self._state is not None and self.config.background_loops:
            # What the last requests set off (search index, sync log, schedules) lands in the final snapshot.
            self.settle(timeout=5)
        for part in (self._poller, self._streams, self._scheduler):
            if part is not None:
                part.stop()
        guardduty.drain(timeout=5)
        eventbridge.drain(timeout=5)
        if self._state is not None:
            self._state.stop()  # the final snapshot, once nothing writes any more
            self._state = None
        if self._state_lock is not None:
            self._state_lock.close()
            self._state_lock = None
        if self._moto is not None:
            self._moto.stop()
        if self._web is not None:
            self._web.stop()
            self._web = None
        endpoint.set_endpoint_url(None)

    def __enter__(self) -> EmbeddedCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def verify_email_senders(stack: DeployedStack) -> None:
    """What a deployer does once in SES (docs/deploy.md): verify each sender address the functions use,
    so that moto's SES, which refuses unverified senders as SES's sandbox does, delivers (and keeps) mail."""
    ses = local_client("ses")
    for resource in stack.template["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            sender = ((resource["Properties"].get("Environment") or {}).get("Variables") or {}).get(
                "INVITATION_SENDER")
            if isinstance(sender, str):
                ses.verify_email_identity(EmailAddress=sender)


def route_table(stack: DeployedStack, aws_endpoint: str) -> RouteTable:
    """The HTTP API's routes as deployed (from the template) into the emulator's API Gateway."""
    apigw = endpoint.local_client("apigatewayv2")
    # The HTTP APIs only: WebSocket APIs are served by crewhouse.local.websockets.
    api_ids = [stack.resources[k] for k, r in stack.template["Resources"].items()
               if r["Type"] == "AWS::ApiGatewayV2::Api" and r["Properties"].get("ProtocolType") != "WEBSOCKET"]
    routes: list[Route] = []
    authorizers: dict[str, JwtVerifier | LambdaAuthorizer] = {}
    for api_id in api_ids:
        for item in apigw.get_routes(ApiId=api_id)["Items"]:
            integration = apigw.get_integration(ApiId=api_id, IntegrationId=item["Target"].split("/", 1)[1])
            authorizer = None
            if item.get("AuthorizationType") in ("JWT", "CUSTOM"):
                authorizer_id = item["AuthorizerId"]
                if authorizer_id not in authorizers:
                    authorizers[authorizer_id] = _authorizer(apigw.get_authorizer(ApiId=api_id,
                                                                                  AuthorizerId=authorizer_id),
                                                             aws_endpoint)
                authorizer = authorizers[authorizer_id]
            routes.append(Route(
                route_key=item["RouteKey"],
                function_name=integration["IntegrationUri"].split(":")[6],
                authorizer=authorizer,
                timeout_seconds=integration.get("TimeoutInMillis", 30000) / 1000,
                authorization_scopes=tuple(item.get("AuthorizationScopes") or ()),
            ))
    return RouteTable(routes)


def _authorizer(config: Mapping[str, Any], aws_endpoint: str) -> JwtVerifier | LambdaAuthorizer:
    """A deployed ``AWS::ApiGatewayV2::Authorizer``: a JWT verifier, or the Lambda function a REQUEST one calls."""
    if config["AuthorizerType"] == "JWT":
        jwt = config["JwtConfiguration"]
        pool_id = jwt["Issuer"].rstrip("/").rsplit("/", 1)[1]
        return JwtVerifier(jwt["Issuer"], jwt["Audience"], f"{aws_endpoint}/{pool_id}/.well-known/jwks.json")
    if not config.get("EnableSimpleResponses") or config.get("AuthorizerPayloadFormatVersion") != "2.0":
        raise ValueError("the embedded gateway runs Lambda authorizers with payload 2.0 and simple responses only")
    # arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function arn>/invocations
    function_arn = config["AuthorizerUri"].split("/functions/", 1)[1].rsplit("/invocations", 1)[0]
    return LambdaAuthorizer(function_arn.split(":")[6], int(config.get("AuthorizerResultTtlInSeconds") or 0))


def _docs_routes() -> list[Any]:
    """Local-only developer pages: Swagger UI over the merged OpenAPI document."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Route as StarletteRoute

    from crewhouse.openapi import merged_openapi

    async def docs(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/docs/openapi.json", title="Crewhouse API (local)")

    async def spec(request: Request) -> JSONResponse:
        return JSONResponse(merged_openapi())

    return [StarletteRoute("/docs", docs), StarletteRoute("/docs/openapi.json", spec)]
