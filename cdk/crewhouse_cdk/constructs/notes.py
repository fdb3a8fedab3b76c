"""The notes context: its table (stream, TTL for the trash, three sparse indexes), the API functions,
the stream processor (search index, sync log, trash lifecycle of S3 bodies, purges, domain events), and the
lifecycle rules of note bodies in the files bucket."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct, IConstruct

from crewhouse_cdk.constructs.api_functions import serve_api_modules
from crewhouse_cdk.constructs.function import CrewhouseFunction, DependencyLayers
from crewhouse_cdk.constructs.http_api import HttpApi
from crewhouse_cdk.constructs.storage import EVENT_BUS_NAME, Storage, tenant_table
from crewhouse_cdk.constructs.streams import consume_stream, dead_letter_queue
from crewhouse_cdk.nag import acknowledge, acknowledge_index_access, logical_id
from crewhouse_cdk.stage import staged_name

# Construct id -> (handler module, description): one function per module of crewhouse.notes.api, its routes
# and grants derived from the module's router (crewhouse_cdk.routes).
API_FUNCTIONS: dict[str, tuple[str, str]] = {
    "Notebooks": ("crewhouse.notes.api.notebooks", "Notes API: notebooks"),
    "NotesList": ("crewhouse.notes.api.listing", "Notes API: the note list (GET /notes)"),
    "NotesRead": ("crewhouse.notes.api.reads", "Notes API: search, recent, trash, one note"),
    "NotesWrite": ("crewhouse.notes.api.writes", "Notes API: create, change, trash, restore"),
    "NotesChecklist": ("crewhouse.notes.api.checklist", "Notes API: checklist items"),
    "NotesRevisions": ("crewhouse.notes.api.revisions", "Notes API: revisions"),
    "NotesCapture": ("crewhouse.notes.api.capture", "Notes API: web clips, tasks made from notes"),
    "NotesTags": ("crewhouse.notes.api.tags", "Tags API: tags of tasks and notes with counts, rename and merge"),
}
BODY_PREFIX = "notes/"  # crewhouse.notes.keys.BODY_PREFIX
TRASH_TAG = "crewhouse-trash"  # crewhouse.notes.store.TRASH_TAG
# What list pages show (crewhouse.notes.models.NoteSummary and Notebook): the indexes carry these, never the
# body, so a 300 KiB note is not copied into every index it belongs to.
INDEX_ATTRIBUTES = [
    "id", "title", "name", "parent_id", "notebook_id", "tags", "checklist", "favorite", "pinned", "archived",
    "version", "revision", "created_at", "updated_at", "body_size", "excerpt", "task_ids", "source", "trashed_at",
    "expires_at",
]  # fmt: skip
MAX_REQUEST_BYTES = 3 * 1024 * 1024  # a 1 MiB body as JSON, escapes included; clips send the page's HTML


class NotesContext(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, storage: Storage, api: HttpApi,
                 layers: DependencyLayers, tasks_table: dynamodb.ITable) -> None:
        super().__init__(scope, construct_id)
        # This stage's physical names (crewhouse_cdk.stage).
        self.event_bus_name = staged_name(self, EVENT_BUS_NAME)
        self.table = tenant_table(self, "NotesTable", stream=True, ttl_attribute="expires_at")
        for index in ("GSI1", "GSI2", "GSI3"):
            self.table.add_global_secondary_index(
                index_name=index,
                partition_key=dynamodb.Attribute(name=f"{index}PK", type=dynamodb.AttributeType.STRING),
                sort_key=dynamodb.Attribute(name=f"{index}SK", type=dynamodb.AttributeType.STRING),
                projection_type=dynamodb.ProjectionType.INCLUDE, non_key_attributes=INDEX_ATTRIBUTES,
            )
        bucket = storage.files_bucket
        bodies = bucket.arn_for_objects(f"{BODY_PREFIX}*")
        list_bodies = iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn],
                                          conditions={"StringLike": {"s3:prefix": [f"{BODY_PREFIX}*"]}})
        common = {
            "NOTES_TABLE": self.table.table_name,
            "SEARCH_TABLE": storage.search_table.table_name,
            "SYNC_TABLE": storage.sync_table.table_name,
            "FILES_BUCKET": bucket.bucket_name,
            "EVENT_BUS_NAME": self.event_bus_name,
        }

        self._bodies, self._list_bodies, self._bucket = bodies, list_bodies, bucket
        # The HTTP API: one function per module of crewhouse.notes.api, each with only its routes (FastAPI builds
        # every route at import: fewer routes, a faster cold start).
        self.api_functions = serve_api_modules(
            self, API_FUNCTIONS, api=api, storage=storage, layers=layers, table=self.table,
            environment={**common, "TASKS_TABLE": tasks_table.table_name, "MAX_BODY_BYTES": str(MAX_REQUEST_BYTES)})
        for function in self.api_functions.values():
            self.grant_bodies(function)
        storage.search_table.grant_read_data(self.api_functions["NotesRead"])
        # POST /notes/{id}/tasks creates tasks through the tasks logic layer (crewhouse.notes.task_links):
        # what TaskService.create/get need, no update or delete of tasks.
        capture = self.api_functions["NotesCapture"]
        capture.add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem"],
            resources=[tasks_table.table_arn, f"{tasks_table.table_arn}/index/*"],
        ))
        acknowledge_index_access(capture, tasks_table)
        # /tags reads the tag index and renames tags on tasks through the tasks logic layer: a task's read and
        # its version-checked write; the rebuild (/tags/reindex) queries the caller's tasks and writes index
        # entries (two-item transactions: Put or Delete of the entry, Update of the count).
        tags = self.api_functions["NotesTags"]
        storage.search_table.grant_read_data(tags)
        tags.add_to_role_policy(iam.PolicyStatement(actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
                                                    resources=[tasks_table.table_arn]))
        tags.add_to_role_policy(iam.PolicyStatement(
            actions=["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
            resources=[storage.search_table.table_arn]))

        self.stream_dlq = dead_letter_queue(self, "StreamFailures", of="the notes stream processor")
        self.stream_function = CrewhouseFunction(
            self, "NotesStream", handler="crewhouse.notes.workers.on_table_changes", layers=layers,
            description="Notes stream: search index, sync log, trash lifecycle of bodies, purges, domain events",
            environment=common, timeout=cdk.Duration.minutes(5),
        ).function
        consume_stream(self.stream_function, self.table, self.stream_dlq)
        # Purges delete revisions and trash the notes of deleted notebooks.
        self.table.grant_read_write_data(self.stream_function)
        acknowledge_index_access(self.stream_function, self.table)
        storage.search_table.grant_read_write_data(self.stream_function)
        storage.sync_table.grant_write_data(self.stream_function)
        storage.event_bus.grant_put_events_to(self.stream_function)
        self.stream_function.add_to_role_policy(iam.PolicyStatement(
            actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:PutObjectTagging",
                     "s3:DeleteObjectTagging"], resources=[bodies]))
        self.stream_function.add_to_role_policy(list_bodies)
        _acknowledge_bodies(self.stream_function, bucket)

        # Bodies of trashed notes are re-written with the trash tag when trashed: they expire 31 days later,
        # after the 30-day restore window (DynamoDB TTL removes the note; the stream worker purges the rest).
        # The bucket is versioned: replaced and deleted bodies leave old versions, kept one day.
        bucket.add_lifecycle_rule(id="NotesTrashedBodies", prefix=BODY_PREFIX, tag_filters={TRASH_TAG: "true"},
                                  expiration=cdk.Duration.days(31))
        bucket.add_lifecycle_rule(id="NotesOldBodyVersions", prefix=BODY_PREFIX,
                                  noncurrent_version_expiration=cdk.Duration.days(1),
                                  expired_object_delete_marker=True)
        self.functions = {**self.api_functions, "NotesStream": self.stream_function}


    def grant_bodies(self, function: lambda_.IFunction | iam.IRole) -> None:
        """Read, write and delete note bodies kept in the bucket (the API, and the builtin note tools)."""
        principal = function.grant_principal
        principal.add_to_principal_policy(iam.PolicyStatement(
            actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], resources=[self._bodies]))
        principal.add_to_principal_policy(self._list_bodies)
        _acknowledge_bodies(function, self._bucket)


def _acknowledge_bodies(function: IConstruct, bucket: IConstruct) -> None:
    acknowledge(function, f"AwsSolutions-IAM5[Resource::<{logical_id(bucket)}.Arn>/{BODY_PREFIX}*]",
                "Note bodies are objects named per tenant, user and note at run time; the grant is "
                f"limited to the {BODY_PREFIX} prefix of the files bucket.")

