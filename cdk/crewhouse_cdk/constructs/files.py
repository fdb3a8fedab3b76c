"""The files context: its table and stream, the API functions (presigned uploads and downloads), the workers
S3 and GuardDuty events drive, GuardDuty Malware Protection for S3 on the files bucket, and the rules.

Bytes never pass through Lambda on their way in or out: clients upload with presigned POSTs or multipart
part URLs and download through presigned GETs. S3 reports new objects to EventBridge natively (the bucket's
``EventBridgeConfiguration``; no bucket-notification custom resource), and GuardDuty tags and reports every
scanned upload.
"""

from __future__ import annotations

from typing import cast

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_guardduty as guardduty
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from crewhouse_cdk.constructs.api_functions import serve_api_modules
from crewhouse_cdk.constructs.function import CrewhouseFunction, DependencyLayers
from crewhouse_cdk.constructs.http_api import HttpApi
from crewhouse_cdk.constructs.storage import EVENT_BUS_NAME, Storage, tenant_table
from crewhouse_cdk.constructs.streams import consume_stream, dead_letter_queue
from crewhouse_cdk.constructs.tasks import TasksContext
from crewhouse_cdk.nag import (
    acknowledge,
    acknowledge_function_versions,
    acknowledge_index_access,
    logical_id,
    nag_arn,
)
from crewhouse_cdk.stage import staged_name

UPLOADS, THUMBNAILS, QUARANTINE = "uploads/", "thumbnails/", "quarantine/"
SCAN_RESULT = "GuardDuty Malware Protection Object Scan Result"
SCAN_TAG = "GuardDutyMalwareScanStatus"
QUARANTINE_TAG = "crewhouse-quarantine"
GUARDDUTY_RULE_PREFIX = "DO-NOT-DELETE-AmazonGuardDutyMalwareProtectionS3"
# Construct id -> (handler module, description): one function per module of crewhouse.files.api, its routes
# and grants derived from the module's router (crewhouse_cdk.routes).
API_FUNCTIONS: dict[str, tuple[str, str]] = {
    "FilesRead": ("crewhouse.files.api.reads",
                  "Files API: list, one file, quota, download and thumbnail, retention policy and preview"),
    "FilesUpload": ("crewhouse.files.api.uploads",
                    "Files API: presigned uploads (POST and multipart), complete, abort"),
    "FilesParts": ("crewhouse.files.api.parts", "Files API: the parts of a multipart upload"),
    "FilesManage": ("crewhouse.files.api.manage", "Files API: delete, attachments, quota and retention policies"),
}
RETENTION_SWEEP_HOUR = 3  # UTC; the preview names the next sweep from the same value (RETENTION_SWEEP_HOUR)
# What the retention sweep and preview read of a file in the last-opened index (GSI2); keys come with it.
OPENED_INDEX_ATTRIBUTES = ["id", "filename", "size", "status", "last_opened_at", "warned_for"]


class FilesContext(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, storage: Storage, api: HttpApi, tasks: TasksContext,
                 layers: DependencyLayers, notes_table: dynamodb.ITable | None = None) -> None:
        super().__init__(scope, construct_id)
        # This stage's physical names (crewhouse_cdk.stage).
        self.event_bus_name = staged_name(self, EVENT_BUS_NAME)
        stack = cdk.Stack.of(self)
        bucket = storage.files_bucket
        self.table = tenant_table(self, "FilesTable", stream=True)
        self.table.add_global_secondary_index(
            index_name="GSI1",
            partition_key=dynamodb.Attribute(name="GSI1PK", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="GSI1SK", type=dynamodb.AttributeType.STRING),
        )
        # Files by tenant and the UTC day they were last opened: the retention sweep's Query (never a Scan).
        self.table.add_global_secondary_index(
            index_name="GSI2",
            partition_key=dynamodb.Attribute(name="GSI2PK", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="GSI2SK", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.INCLUDE, non_key_attributes=OPENED_INDEX_ATTRIBUTES,
        )
        # S3 -> EventBridge natively. (``event_bridge_enabled=True`` would deploy CDK's notifications custom
        # resource, a Lambda that calls PutBucketNotification; the bucket property needs none.)
        cast(s3.CfnBucket, bucket.node.default_child).notification_configuration = \
            s3.CfnBucket.NotificationConfigurationProperty(
                event_bridge_configuration=s3.CfnBucket.EventBridgeConfigurationProperty(event_bridge_enabled=True))
        bucket.add_lifecycle_rule(id="ExpireQuarantine", prefix=QUARANTINE, expiration=cdk.Duration.days(30),
                                  noncurrent_version_expiration=cdk.Duration.days(1))
        bucket.add_lifecycle_rule(id="ExpireDeletedUploads", prefix=UPLOADS,
                                  noncurrent_version_expiration=cdk.Duration.days(30),
                                  expired_object_delete_marker=True)
        bucket.add_lifecycle_rule(id="ExpireDeletedThumbnails", prefix=THUMBNAILS,
                                  noncurrent_version_expiration=cdk.Duration.days(1),
                                  expired_object_delete_marker=True)

        common = {
            "FILES_TABLE": self.table.table_name,
            "FILES_BUCKET": bucket.bucket_name,
            "TASKS_TABLE": tasks.table.table_name,
            "SEARCH_TABLE": storage.search_table.table_name,
            "EVENT_BUS_NAME": self.event_bus_name,
            "MALWARE_SCAN_REQUIRED": "true",
            "OCR_PROVIDER": "textract",
            "RETENTION_SWEEP_HOUR": str(RETENTION_SWEEP_HOUR),
        }
        if notes_table is not None:
            common["NOTES_TABLE"] = notes_table.table_name

        def objects(prefix: str) -> str:
            return bucket.arn_for_objects(f"{prefix}*")

        # --- the API ------------------------------------------------------------------------------------
        # One function per module of crewhouse.files.api, each with only its routes (FastAPI builds every route
        # at import: fewer routes, a faster cold start).
        self.api_functions = serve_api_modules(self, API_FUNCTIONS, api=api, storage=storage, layers=layers,
                                               environment=common, table=self.table)
        targets_tables = [tasks.table, *([notes_table] if notes_table is not None else [])]
        reads, uploads, parts, manage = (self.api_functions[name] for name in API_FUNCTIONS)
        # Reading a file, its download link or thumbnail records that it was opened (retention): one attribute set.
        reads.add_to_role_policy(iam.PolicyStatement(actions=["dynamodb:UpdateItem"],
                                                     resources=[self.table.table_arn]))
        # Presigned URLs carry the signing function's own permissions: uploads may only land in uploads/.
        reads.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:GetObject"], resources=[objects(UPLOADS), objects(THUMBNAILS)]))  # download, thumbnail
        # Aborting an upload also deletes its object key (S3 asks for s3:DeleteObject even when none was stored).
        uploads.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:DeleteObject"],
            resources=[objects(UPLOADS)]))
        parts.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:PutObject", "s3:ListMultipartUploadParts"], resources=[objects(UPLOADS)]))
        manage.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:AbortMultipartUpload", "s3:DeleteObject"], resources=[objects(UPLOADS)]))
        manage.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:DeleteObject"], resources=[objects(THUMBNAILS)]))
        # A task's or note's attachments list: read the item, change that one attribute (no other access).
        manage.add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:GetItem", "dynamodb:UpdateItem"], resources=[t.table_arn for t in targets_tables]))
        for function, prefixes in ((reads, (UPLOADS, THUMBNAILS)), (uploads, (UPLOADS,)), (parts, (UPLOADS,)),
                                   (manage, (UPLOADS, THUMBNAILS))):
            self._acknowledge_objects(function, bucket, prefixes,
                                      "Presigned uploads and downloads name objects created at run time; the grant "
                                      "is limited to the uploads/ and thumbnails/ prefixes.")

        # --- the workers --------------------------------------------------------------------------------
        self.dlq = dead_letter_queue(self, "EventFailures", of="the files event rules and the files stream processor")

        self.object_created_function = CrewhouseFunction(
            self, "ObjectCreated", handler="crewhouse.files.workers.on_object_created", layers=layers,
            description="Checks new uploads (size, SHA-256, sniffed type), settles quota, thumbnails and OCR",
            environment=common, memory_size=2048, timeout=cdk.Duration.minutes(5),
        ).function
        self.scan_function = CrewhouseFunction(
            self, "ScanResult", handler="crewhouse.files.workers.on_scan_result", layers=layers,
            description="Records GuardDuty malware scan results; quarantines infected uploads",
            environment=common, timeout=cdk.Duration.minutes(1),
        ).function
        self.target_deleted_function = CrewhouseFunction(
            self, "TargetDeleted", handler="crewhouse.files.workers.on_target_deleted", layers=layers,
            description="Unlinks files from deleted tasks and notes; deletes files attached to nothing",
            environment=common, timeout=cdk.Duration.minutes(1),
        ).function
        self.stream_function = CrewhouseFunction(
            self, "FilesStream", handler="crewhouse.files.workers.on_table_changes", layers=layers,
            description="Files stream: search index (file names and OCR text)", environment=common,
        ).function
        for worker in (self.object_created_function, self.scan_function, self.target_deleted_function):
            self.table.grant_read_write_data(worker)
        self.object_created_function.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:GetObject", "s3:GetObjectVersion", "s3:DeleteObject", "s3:DeleteObjectVersion"],
            resources=[objects(UPLOADS)]))
        self.object_created_function.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:PutObject"], resources=[objects(THUMBNAILS)]))
        # Textract's actions support no resource-level permissions; it reads the object with this role's s3:GetObject.
        self.object_created_function.add_to_role_policy(iam.PolicyStatement(
            actions=["textract:DetectDocumentText", "textract:StartDocumentTextDetection",
                     "textract:GetDocumentTextDetection"], resources=["*"]))
        self.scan_function.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging",
                     "s3:DeleteObject", "s3:DeleteObjectVersion"], resources=[objects(UPLOADS)]))
        self.scan_function.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:DeleteObject"], resources=[objects(THUMBNAILS)]))
        for mover in (self.object_created_function, self.scan_function):
            mover.add_to_role_policy(iam.PolicyStatement(actions=["s3:PutObject", "s3:PutObjectTagging"],
                                                         resources=[objects(QUARANTINE)]))
        self.target_deleted_function.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:DeleteObject", "s3:AbortMultipartUpload"], resources=[objects(UPLOADS)]))
        self.target_deleted_function.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:DeleteObject"], resources=[objects(THUMBNAILS)]))
        self._acknowledge_objects(self.object_created_function, bucket, (UPLOADS, THUMBNAILS, QUARANTINE),
                                  "Each upload is a new object under uploads/; its thumbnail and quarantine copy are "
                                  "written under their own prefixes only.")
        self._acknowledge_objects(self.scan_function, bucket, (UPLOADS, THUMBNAILS, QUARANTINE),
                                  "Infected uploads are moved from uploads/ to quarantine/; the grant names those "
                                  "prefixes only.")
        self._acknowledge_objects(self.target_deleted_function, bucket, (UPLOADS, THUMBNAILS),
                                  "Files left attached to nothing are deleted; only uploads/ and thumbnails/ objects.")
        for worker in (self.object_created_function, self.scan_function, self.target_deleted_function):
            acknowledge_index_access(worker, self.table)
        acknowledge(self.object_created_function, "AwsSolutions-IAM5[Resource::*]",
                    "Textract text detection supports no resource-level permissions; X-Ray neither.")

        self._retention_sweep(storage, bucket, targets_tables, common, layers)

        consume_stream(self.stream_function, self.table, self.dlq)
        storage.search_table.grant_read_write_data(self.stream_function)

        # --- GuardDuty Malware Protection for S3 (its service role, as the GuardDuty guide lays it out) ------
        self.guardduty_role = iam.Role(
            self, "MalwareProtectionRole",
            assumed_by=iam.ServicePrincipal("malware-protection-plan.guardduty.amazonaws.com",
                                            conditions={"StringEquals": {"aws:SourceAccount": stack.account}}),
            description="Lets GuardDuty Malware Protection scan and tag uploads in the files bucket",
        )
        rule_arn = stack.format_arn(service="events", resource="rule", resource_name=f"{GUARDDUTY_RULE_PREFIX}*")
        for statement in (
            iam.PolicyStatement(actions=["events:PutRule", "events:DeleteRule", "events:PutTargets",
                                         "events:RemoveTargets"], resources=[rule_arn],
                                conditions={"StringLike": {
                                    "events:ManagedBy": "malware-protection-plan.guardduty.amazonaws.com"}}),
            iam.PolicyStatement(actions=["events:DescribeRule", "events:ListTargetsByRule"], resources=[rule_arn]),
            iam.PolicyStatement(actions=["s3:PutObjectTagging", "s3:GetObjectTagging", "s3:PutObjectVersionTagging",
                                         "s3:GetObjectVersionTagging", "s3:GetObject", "s3:GetObjectVersion"],
                                resources=[objects(UPLOADS)]),
            iam.PolicyStatement(actions=["s3:PutBucketNotification", "s3:GetBucketNotification", "s3:ListBucket"],
                                resources=[bucket.bucket_arn]),
            iam.PolicyStatement(actions=["s3:PutObject"],
                                resources=[bucket.arn_for_objects("malware-protection-resource-validation-object")]),
        ):
            self.guardduty_role.add_to_policy(statement)
        acknowledge(self.guardduty_role,
                    f"AwsSolutions-IAM5[Resource::{nag_arn(self, 'events', f'rule/{GUARDDUTY_RULE_PREFIX}*')}]",
                    "GuardDuty names its managed rule at run time; the grant is limited to that rule name prefix "
                    "(and, for changes, to rules GuardDuty manages).")
        self._acknowledge_objects(self.guardduty_role, bucket, (UPLOADS,),
                                  "GuardDuty scans and tags each new upload; only objects under uploads/.")
        self.malware_plan = guardduty.CfnMalwareProtectionPlan(
            self, "MalwareProtectionPlan", role=self.guardduty_role.role_arn,
            protected_resource=guardduty.CfnMalwareProtectionPlan.CFNProtectedResourceProperty(
                s3_bucket=guardduty.CfnMalwareProtectionPlan.S3BucketProperty(
                    bucket_name=bucket.bucket_name, object_prefixes=[UPLOADS])),
            actions=guardduty.CfnMalwareProtectionPlan.CFNActionsProperty(
                tagging=guardduty.CfnMalwareProtectionPlan.CFNTaggingProperty(status="ENABLED")),
        )
        self.malware_plan.node.add_dependency(self.guardduty_role)

        # Infected or quarantined bytes are never served, whoever signs the request (only the workers that
        # move them to quarantine/ and GuardDuty itself may still read them).
        readers = [self.scan_function.role, self.object_created_function.role, self.guardduty_role]
        bucket.add_to_resource_policy(iam.PolicyStatement(
            sid="DenyReadingInfectedObjects", effect=iam.Effect.DENY, principals=[iam.AnyPrincipal()],
            actions=["s3:GetObject", "s3:GetObjectVersion"], resources=[bucket.arn_for_objects("*")],
            conditions={"StringEquals": {f"s3:ExistingObjectTag/{SCAN_TAG}": "THREATS_FOUND"},
                        "ArnNotEquals": {"aws:PrincipalArn": [r.role_arn for r in readers if r is not None]}}))
        bucket.add_to_resource_policy(iam.PolicyStatement(
            sid="DenyReadingQuarantine", effect=iam.Effect.DENY, principals=[iam.AnyPrincipal()],
            actions=["s3:GetObject", "s3:GetObjectVersion"], resources=[bucket.arn_for_objects("*")],
            conditions={"StringEquals": {f"s3:ExistingObjectTag/{QUARANTINE_TAG}": "true"}}))

        # --- rules --------------------------------------------------------------------------------------
        default_bus = events.EventBus.from_event_bus_name(self, "DefaultBus", "default")

        def deliver_to(function: lambda_.IFunction) -> targets.LambdaFunction:
            return targets.LambdaFunction(function, dead_letter_queue=self.dlq, retry_attempts=8,
                                          max_event_age=cdk.Duration.hours(6))

        self.object_created_rule = events.Rule(
            self, "ObjectCreatedRule", event_bus=default_bus,
            description="New uploads in the files bucket",
            event_pattern=events.EventPattern(source=["aws.s3"], detail_type=["Object Created"], detail={
                "bucket": {"name": [bucket.bucket_name]}, "object": {"key": [{"prefix": UPLOADS}]}}),
            targets=[deliver_to(self.object_created_function)])
        self.scan_rule = events.Rule(
            self, "ScanResultRule", event_bus=default_bus,
            description="GuardDuty malware scan results for the files bucket",
            event_pattern=events.EventPattern(source=["aws.guardduty"], detail_type=[SCAN_RESULT], detail={
                "s3ObjectDetails": {"bucketName": [bucket.bucket_name]}}),
            targets=[deliver_to(self.scan_function)])
        self.target_deleted_rule = events.Rule(
            self, "TargetDeletedRule", event_bus=storage.event_bus,
            description="Tasks and notes deleted: release their attachments",
            event_pattern=events.EventPattern(source=["crewhouse.tasks", "crewhouse.notes"],
                                              detail_type=["task.deleted", "note.deleted"]),
            targets=[deliver_to(self.target_deleted_function)])

        self.functions = {**self.api_functions, "FilesObjectCreated": self.object_created_function,
                          "FilesScanResult": self.scan_function, "FilesTargetDeleted": self.target_deleted_function,
                          "FilesStream": self.stream_function, "FilesRetentionSweep": self.retention_function}

    def _retention_sweep(self, storage: Storage, bucket: s3.IBucket, targets_tables: list[dynamodb.ITable],
                         environment: dict[str, str], layers: DependencyLayers) -> None:
        """The daily retention sweep: an EventBridge Scheduler cron invoking a worker that deletes due files
        through the delete path of ``DELETE /files/{id}`` and puts ``file.retention.warning`` on the bus."""
        self.retention_function = CrewhouseFunction(
            self, "RetentionSweep", handler="crewhouse.files.workers.retention_sweep", layers=layers,
            description="Deletes files not opened for the tenant's retention period; warns owners a week before",
            environment=environment, timeout=cdk.Duration.minutes(15),
        ).function
        sweep = self.retention_function
        table = self.table.table_arn
        sweep.add_to_role_policy(iam.PolicyStatement(  # the enabled policies (GSI1), the files by day (GSI2)
            actions=["dynamodb:Query"], resources=[f"{table}/index/GSI1", f"{table}/index/GSI2"]))
        # GetItem: one tenant's policy, a file changed meanwhile; UpdateItem: the claim, warned_for, a link;
        # DeleteItem (in a transaction with the quota's UpdateItem): the file.
        sweep.add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"], resources=[table]))
        sweep.add_to_role_policy(iam.PolicyStatement(  # a task's or note's attachments list, as DELETE does
            actions=["dynamodb:GetItem", "dynamodb:UpdateItem"], resources=[t.table_arn for t in targets_tables]))
        sweep.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:DeleteObject", "s3:AbortMultipartUpload"], resources=[bucket.arn_for_objects(f"{UPLOADS}*")]))
        sweep.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:DeleteObject"], resources=[bucket.arn_for_objects(f"{THUMBNAILS}*")]))
        storage.event_bus.grant_put_events_to(sweep)
        self._acknowledge_objects(sweep, bucket, (UPLOADS, THUMBNAILS),
                                  "Files left unopened past the tenant's retention period are deleted; only "
                                  "uploads/ and thumbnails/ objects.")
        role = iam.Role(self, "RetentionSchedulerRole", assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"),
                        description="Lets EventBridge Scheduler run the files retention sweep")
        sweep.grant_invoke(role)
        acknowledge_function_versions(role, sweep)
        # A cron, not a rate: it runs at a known hour (the preview names it); the embedded cloud does not fire
        # crons, so tests invoke the worker themselves.
        self.retention_schedule = scheduler.CfnSchedule(
            self, "RetentionSweepSchedule", schedule_expression=f"cron(0 {RETENTION_SWEEP_HOUR} * * ? *)",
            schedule_expression_timezone="UTC",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=sweep.function_arn, role_arn=role.role_arn, input="{}",
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(maximum_retry_attempts=2,
                                                                       maximum_event_age_in_seconds=3600)),
            description="Daily: deletes files not opened for the tenant's retention period, warns a week before")

    @staticmethod
    def _acknowledge_objects(grantee: Construct, bucket: s3.IBucket, prefixes: tuple[str, ...], reason: str) -> None:
        for prefix in prefixes:
            acknowledge(grantee, f"AwsSolutions-IAM5[Resource::<{logical_id(bucket)}.Arn>/{prefix}*]", reason)

