"""Notes function for tags across tasks and notes: the list with counts, rename and merge, and the index's
rebuild.

It reads and changes tasks through the tasks context's own service (``crewhouse.tasks.wiring``), as ``capture``
creates them, and holds a narrow grant on the tasks table for it (GetItem, PutItem, and Query for the rebuild).
"""

from typing import Annotated

from fastapi import APIRouter, Depends

from crewhouse.core.aws import aws_client
from crewhouse.core.http import create_app, lambda_handler
from crewhouse.notes.api import CurrentIdentity, Service, Settings
from crewhouse.notes.models.tags import TagCount, TagList, TagReindexResult, TagRename, TagRenameResult
from crewhouse.notes.tags import reindex_tags, rename_tag, tag_counts
from crewhouse.search.tags import DynamoTagIndex

router = APIRouter(tags=["tags"])


def tag_index(settings: Settings) -> DynamoTagIndex:
    return DynamoTagIndex(aws_client("dynamodb", settings), settings.search_table)


Index = Annotated[DynamoTagIndex, Depends(tag_index)]


@router.get("/tags", response_model=TagList, summary="Every tag in use, with how many tasks and notes carry it")
def list_tags(identity: CurrentIdentity, index: Index) -> TagList:
    return TagList(items=[TagCount(tag=c.tag, tasks=c.tasks, notes=c.notes) for c in tag_counts(index, identity)])


@router.post("/tags/{tag}/rename", response_model=TagRenameResult,
             summary="Rename a tag on every task and note (to a tag in use: merge them); resend until complete")
def rename(tag: str, body: TagRename, identity: CurrentIdentity, service: Service, index: Index) -> TagRenameResult:
    from crewhouse.tasks.wiring import service_for as task_service  # the tasks service only for renames

    changed, complete = rename_tag(index, {"task": task_service(), "note": service}, identity, tag, body.to)
    return TagRenameResult(renamed_from=tag.strip().lstrip("#").lower(), to=body.to, tasks=changed["task"],
                           notes=changed["note"], complete=complete)


@router.post("/tags/reindex", response_model=TagReindexResult,
             summary="Rebuild your tag counts from your tasks and notes (items from before tags were indexed)")
def reindex(identity: CurrentIdentity, service: Service, index: Index) -> TagReindexResult:
    from crewhouse.tasks.wiring import service_for as task_service

    reached, complete = reindex_tags(index, {"task": task_service(), "note": service}, identity)
    return TagReindexResult(tasks=reached["task"], notes=reached["note"], complete=complete)


app = create_app("Crewhouse notes: tags", [router])
handler = lambda_handler(app, __name__)
