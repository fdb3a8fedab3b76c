"""The web console's hosting (issue 18): a private bucket behind CloudFront (origin access control), strict
security headers, and the runtime configuration (``config.json``) written at deploy time from the stack's tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from crewhouse_cdk.constructs.storage import private_bucket
from crewhouse_cdk.nag import BASIC_EXECUTION_ROLE, acknowledge, logical_id
from crewhouse_cdk.paths import BUILD_DIR, ROOT

CONSOLE_DIST = ROOT / "console" / "dist"
PLACEHOLDER_DIR = BUILD_DIR / "console-placeholder"
PLACEHOLDER_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Crewhouse</title></head>
<body><h1>Crewhouse</h1><p>The web console was not built when this stack was synthesized
(<code>make console</code>, then deploy again).</p></body></html>
"""
HSTS_MAX_AGE = cdk.Duration.days(730)  # two years, as the HSTS preload list asks
# The JSON Schema worker (console/src/schema/schemaWorker.ts): scripts of its own origin, and eval for ajv.
SCHEMA_WORKER_CSP = "default-src 'none'; script-src 'self' 'unsafe-eval'"
# index.html and config.json change with every deploy; the hashed bundles could be cached for good, but one
# deployment serves both, and revalidating them costs a 304.
CACHE_CONTROL = [s3deploy.CacheControl.no_cache()]


@dataclass(frozen=True)
class ConsoleConfig:
    """What the browser app reads from ``/config.json`` (its keys: ``console/src/config.ts``)."""

    api_url: str
    region: str
    user_pool_id: str
    user_pool_client_id: str
    realtime_url: str | None = None
    # Presigned uploads (connect-src) and thumbnails (img-src) go straight to this bucket.
    files_bucket_name: str | None = None

    def as_json(self) -> dict[str, str | None]:
        return {"apiUrl": self.api_url, "region": self.region, "userPoolId": self.user_pool_id,
                "clientId": self.user_pool_client_id,
                "cognitoEndpoint": f"https://cognito-idp.{self.region}.amazonaws.com/",
                "websocketUrl": self.realtime_url,
                # The app appends an execution's ARN.
                "stepFunctionsConsole": f"https://{self.region}.console.aws.amazon.com/states/home"
                                        f"?region={self.region}#/v2/executions/details/"}

    def files_hosts(self) -> list[str]:
        """The files bucket as a presigned URL names it: boto3 signs for the global or the regional host."""
        if self.files_bucket_name is None:
            return []
        return [f"https://{self.files_bucket_name}.s3.amazonaws.com",
                f"https://{self.files_bucket_name}.s3.{self.region}.amazonaws.com"]

    def content_security_policy(self) -> str:
        """No inline script or style, nothing framed or embedded; the browser talks to the API, Cognito, the
        WebSocket channel and (presigned) the files bucket only."""
        connect = ["'self'", self.api_url, f"https://cognito-idp.{self.region}.amazonaws.com",
                   *([self.realtime_url] if self.realtime_url is not None else []), *self.files_hosts()]
        directives = {
            "default-src": ["'self'"],
            "script-src": ["'self'"],
            "style-src": ["'self'"],
            "img-src": ["'self'", "data:", "blob:", *self.files_hosts()],
            "font-src": ["'self'"],
            "connect-src": connect,
            "object-src": ["'none'"],
            "base-uri": ["'self'"],
            "form-action": ["'self'"],
            "frame-ancestors": ["'none'"],
        }
        return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def console_source() -> Path:
    """The built console (``console/dist``), or, where it was not built (a fresh clone, the infra tests, the
    embedded cloud), a one-page placeholder saying so: synth must not depend on an npm build."""
    if (CONSOLE_DIST / "index.html").is_file():
        return CONSOLE_DIST
    PLACEHOLDER_DIR.mkdir(parents=True, exist_ok=True)
    index = PLACEHOLDER_DIR / "index.html"
    if not index.is_file() or index.read_text() != PLACEHOLDER_HTML:
        index.write_text(PLACEHOLDER_HTML)
    return PLACEHOLDER_DIR


class ConsoleHosting(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: ConsoleConfig,
                 access_logs_bucket: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        self.bucket = private_bucket(self, "Bucket", access_logs=access_logs_bucket, logs_prefix="console/")
        self.headers = cloudfront.ResponseHeadersPolicy(
            self, "SecurityHeaders",
            comment="Crewhouse console: strict CSP, HSTS, no framing, no sniffing",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=config.content_security_policy(), override=True),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=HSTS_MAX_AGE, include_subdomains=True, preload=True, override=True),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN, override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True),
            ),
        )
        # The JSON Schema worker alone may eval (ajv compiles schemas into functions); it has no DOM and no token,
        # and a dedicated worker follows its own response's CSP, so the pages keep theirs.
        worker_headers = cloudfront.ResponseHeadersPolicy(
            self, "SchemaWorkerHeaders",
            comment="Crewhouse console: the JSON Schema worker's CSP (ajv needs eval)",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=SCHEMA_WORKER_CSP, override=True),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=HSTS_MAX_AGE, include_subdomains=True, preload=True, override=True),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
            ),
        )
        origin = origins.S3BucketOrigin.with_origin_access_control(self.bucket)
        # A client-side route (/tasks/today) is no object: S3 answers 403 through OAC (no ListBucket), or 404;
        # both serve the app, which routes in the browser.
        spa_fallback = [cloudfront.ErrorResponse(http_status=status, response_http_status=200,
                                                 response_page_path="/index.html", ttl=cdk.Duration.seconds(0))
                        for status in (403, 404)]
        self.distribution = cloudfront.Distribution(
            self, "Distribution",
            comment="Crewhouse web console",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=self.headers,
            ),
            additional_behaviors={"/assets/schemaWorker-*": cloudfront.BehaviorOptions(
                origin=origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=worker_headers,
            )},
            default_root_object="index.html",
            error_responses=spa_fallback,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
        )
        self.url = f"https://{self.distribution.distribution_domain_name}"
        # The app and its configuration in one deployment: config.json is written from this stack's tokens when
        # CloudFormation runs it, so one build serves every stage.
        self.deployment = s3deploy.BucketDeployment(
            self, "Deployment",
            destination_bucket=self.bucket,
            sources=[s3deploy.Source.asset(str(console_source()), exclude=[".*"]),  # not the build's stamp
                     s3deploy.Source.json_data("config.json", config.as_json())],
            cache_control=CACHE_CONTROL,
            distribution=self.distribution,
            distribution_paths=["/index.html", "/config.json"],
            memory_limit=256,
            log_group=logs.LogGroup(self, "DeploymentLogs", retention=logs.RetentionDays.ONE_MONTH,
                                    removal_policy=cdk.RemovalPolicy.DESTROY),
        )
        # CDK's singleton handler (one per stack): traced like every Crewhouse function.
        (handler,) = [c for c in cdk.Stack.of(self).node.children
                      if isinstance(c, lambda_.Function) and c.node.id.startswith("Custom::CDKBucketDeployment")]
        self.deployment_function: lambda_.Function = handler
        function_resource = handler.node.default_child
        assert isinstance(function_resource, lambda_.CfnFunction)
        function_resource.tracing_config = lambda_.CfnFunction.TracingConfigProperty(mode="Active")
        handler.add_to_role_policy(iam.PolicyStatement(
            actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords"], resources=["*"]))
        self._acknowledge()

    def _acknowledge(self) -> None:
        acknowledge(self.distribution, "AwsSolutions-CFR1",
                    "The console is for a tenant's people wherever they are; the API it calls authorizes every "
                    "request, so a geo restriction would protect nothing.")
        acknowledge(self.distribution, "AwsSolutions-CFR2",
                    "The distribution serves static files only (GET of the bundle); requests with effect go to "
                    "the HTTP API, which throttles and authorizes them.")
        acknowledge(self.distribution, "AwsSolutions-CFR3",
                    "CloudFront standard logs need an ACL-enabled bucket, and the project's access-log bucket "
                    "enforces bucket-owner ownership; the origin bucket's S3 access logs record every fetch.")
        acknowledge(self.distribution, "AwsSolutions-CFR4",
                    "The distribution uses the default *.cloudfront.net certificate, whose security policy "
                    "CloudFront fixes; a custom domain with its ACM certificate would set TLSv1.2_2021.")
        # BucketDeployment's handler and its role.
        role = self.deployment.handler_role
        acknowledge(self.deployment_function, "AwsSolutions-L1", "CDK chooses BucketDeployment's runtime (with its "
                    "AWS CLI layer); it moves with aws-cdk-lib upgrades.")
        acknowledge(role, BASIC_EXECUTION_ROLE,
                    "The managed basic-execution policy only lets the function write its own CloudWatch logs.")
        for finding, reason in {
            "Resource::*": "invalidates the console's cached index.html and config.json (CDK grants "
                           "cloudfront:CreateInvalidation/GetInvalidation on any distribution), and X-Ray "
                           "PutTraceSegments/PutTelemetryRecords support no resource-level permissions",
            "Action::s3:GetObject*": "reads the console's asset objects",
            "Action::s3:GetBucket*": "reads the asset and console buckets' metadata",
            "Action::s3:List*": "lists the console bucket to prune files a new build no longer has",
            "Action::s3:DeleteObject*": "prunes the console bucket's stale files",
            "Action::s3:Abort*": "aborts its own multipart uploads to the console bucket",
            f"Resource::<{logical_id(self.bucket)}.Arn>/*": "writes and prunes the console bucket's objects only",
            f"Resource::{_assets_bucket_arn(cdk.Stack.of(self))}/*": "reads the CDK bootstrap assets bucket, where "
                                                          "the console's bundle is published",
        }.items():
            acknowledge(role, f"AwsSolutions-IAM5[{finding}]", f"CDK's BucketDeployment {reason}.")


def _assets_bucket_arn(stack: cdk.Stack) -> str:
    """The CDK bootstrap assets bucket as cdk-nag names it (literal account and region when the stack has them)."""
    def shown(value: str, pseudo: str) -> str:
        return f"<AWS::{pseudo}>" if cdk.Token.is_unresolved(value) else value

    return (f"arn:{shown(stack.partition, 'Partition')}:s3:::cdk-hnb659fds-assets-"
            f"{shown(stack.account, 'AccountId')}-{shown(stack.region, 'Region')}")
