"""Shared state: the platform and idempotency tables, the files bucket, the event bus, the cursor key."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from crewhouse_cdk.constructs.function import CrewhouseFunction, DependencyLayers
from crewhouse_cdk.nag import acknowledge
from crewhouse_cdk.stage import staged_name

EVENT_BUS_NAME = "crewhouse"
# The console's uploads to the files bucket (console/src/files/multipart.ts): a presigned POST (small files), PUTs
# of multipart parts (whose ETag the browser must read to complete the upload), GETs of thumbnails and downloads.
FILES_CORS_METHODS = ("GET", "PUT", "POST")
FILES_CORS_HEADERS = ("content-type", "x-amz-checksum-sha256", "x-amz-sdk-checksum-algorithm")
FILES_CORS_EXPOSED = ("ETag",)
FILES_CORS_MAX_AGE = cdk.Duration.hours(1)
FILES_CORS_RESOURCE_TYPE = "Custom::FilesBucketCors"


def files_cors_rule(origins: list[str]) -> dict[str, object]:
    """The files bucket's one CORS rule (S3's ``CORSRule`` shape), for the console's ``origins`` exactly."""
    return {"ID": "console-uploads", "AllowedOrigins": origins, "AllowedMethods": list(FILES_CORS_METHODS),
            "AllowedHeaders": list(FILES_CORS_HEADERS), "ExposeHeaders": list(FILES_CORS_EXPOSED),
            "MaxAgeSeconds": int(FILES_CORS_MAX_AGE.to_seconds())}


def private_bucket(scope: Construct, construct_id: str, *, access_logs: s3.IBucket, logs_prefix: str,
                   lifecycle_rules: list[s3.LifecycleRule] | None = None) -> s3.Bucket:
    """A bucket only the stack's roles reach: no public access, TLS only, S3-managed encryption, owner-enforced
    objects, server access logs under ``logs_prefix``, kept when the stack goes."""
    return s3.Bucket(
        scope, construct_id,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL, encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True, object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        server_access_logs_bucket=access_logs, server_access_logs_prefix=logs_prefix,
        lifecycle_rules=lifecycle_rules, removal_policy=cdk.RemovalPolicy.RETAIN)


def tenant_table(scope: Construct, construct_id: str, *, ttl_attribute: str | None = None,
                 stream: bool = False) -> dynamodb.Table:
    """A context's table: PK/SK strings, every key starts with the tenant; on-demand, PITR, encrypted."""
    return dynamodb.Table(
        scope, construct_id,
        partition_key=dynamodb.Attribute(name="PK", type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name="SK", type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        time_to_live_attribute=ttl_attribute,
        stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES if stream else None,
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )


class FilesBucketCors(Construct):
    """The files bucket's CORS rule for the web console's origin, set by a custom resource once both exist.

    Not the bucket's ``CorsConfiguration``: the console's CloudFront distribution sends a CSP naming the bucket
    (connect-src, img-src), so a rule naming the distribution would make each depend on the other. This resource
    depends on both (it lives in the console's nested stack); the bucket's template keeps no CORS property, so
    CloudFormation never overwrites the rule (handler: ``crewhouse.files.cors``)."""

    def __init__(self, scope: Construct, construct_id: str, *, bucket: s3.IBucket, origin: str,
                 layers: DependencyLayers) -> None:
        super().__init__(scope, construct_id)
        self.handler = CrewhouseFunction(self, "Handler", handler="crewhouse.files.cors.handler",
                                         description="Sets the files bucket's CORS rule for the web console",
                                         layers=layers, memory_size=256, timeout=cdk.Duration.seconds(60))
        self.handler.function.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:PutBucketCORS"], resources=[bucket.bucket_arn]))
        self.resource = cdk.CustomResource(
            self, "Rule", service_token=self.handler.function.function_arn, resource_type=FILES_CORS_RESOURCE_TYPE,
            properties={"BucketName": bucket.bucket_name, "CorsRules": [files_cors_rule([origin])]})


class Storage(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        # This stage's physical names (crewhouse_cdk.stage).
        self.event_bus_name = staged_name(self, EVENT_BUS_NAME)
        # Tenants, memberships (the only source of who may act in a tenant, and in which role), invitations.
        # Invitations and personal access tokens carry ``expires_epoch``: DynamoDB drops them once expired.
        self.platform_table = tenant_table(self, "PlatformTable", ttl_attribute="expires_epoch")
        self.platform_table.add_global_secondary_index(
            index_name="GSI1",  # a principal's memberships: GSI1PK = PRINCIPAL#<id>, GSI1SK = TENANT#<tenant>
            partition_key=dynamodb.Attribute(name="GSI1PK", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="GSI1SK", type=dynamodb.AttributeType.STRING),
        )
        # Projections maintained from the contexts' streams, shared by tasks and notes.
        self.search_table = tenant_table(self, "SearchIndexTable")
        self.sync_table = tenant_table(self, "SyncLogTable", ttl_attribute="expires_at")
        self.idempotency_table = dynamodb.Table(
            self, "IdempotencyTable",
            partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute="expiration",
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.access_logs_bucket = s3.Bucket(
            self, "AccessLogsBucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(90))],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.files_bucket = s3.Bucket(
            self, "FilesBucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix="files/",
            lifecycle_rules=[s3.LifecycleRule(abort_incomplete_multipart_upload_after=cdk.Duration.days(1))],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.event_bus = events.EventBus(self, "EventBus", event_bus_name=self.event_bus_name)
        self.cursor_secret = self._hmac_key(
            "CursorSigningKey", "HMAC key that signs pagination cursors",
            "The key only authenticates pagination cursors; rotating it would just invalidate open cursors.")
        self.token_hash_secret = self._hmac_key(
            "PersonalTokenHashKey",
            "HMAC key of personal access tokens' keyed hash (the platform table keeps only the hash)",
            "Rotating the key would revoke every personal access token at once; docs/accounts.md describes "
            "doing so deliberately after a leak.")

    def _hmac_key(self, construct_id: str, description: str, why_not_rotated: str) -> secretsmanager.Secret:
        """A generated 64-character key the functions read at run time (never in their environment)."""
        secret = secretsmanager.Secret(
            self, construct_id, description=description,
            generate_secret_string=secretsmanager.SecretStringGenerator(password_length=64, exclude_punctuation=True),
        )
        acknowledge(secret, "AwsSolutions-SMG4", why_not_rotated)
        return secret
