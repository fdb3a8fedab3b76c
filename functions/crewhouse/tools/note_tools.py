"""Note tools: create, search and recent notes, tasks from a note, and a file's extracted text."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from crewhouse.core.aws import aws_client
from crewhouse.notes.models import Note, NoteCreate, NoteSummary
from crewhouse.notes.settings import NotesSettings
from crewhouse.tools.registry import Tool, ToolContext, register


def _build(settings: NotesSettings) -> Any:
    from crewhouse.notes.wiring import service_for

    return service_for(settings)


def note_service(context: ToolContext) -> Any:
    return context.service_from("notes", NotesSettings, _build)


class NoteList(BaseModel):
    items: list[NoteSummary]


class SearchNotesInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: str = Field(min_length=1, max_length=200, description="Words to look for (prefixes and one typo are fine)")
    notebook_id: str | None = None
    tag: str | None = None
    favorite: bool | None = None
    archived: bool | None = False
    limit: int = Field(default=10, ge=1, le=50)


class RecentNotesInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=10, ge=1, le=50)


class TaskFromNoteInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64, description="The note's id")
    checklist_item_ids: list[str] = Field(default_factory=list, description="One task per item; none: one task")
    priority: str = Field(default="B", pattern="^[ABC]$")
    planned_date: date | None = None


class TasksFromNote(BaseModel):
    tasks: list[dict[str, Any]]
    note: Note


def _create(context: ToolContext, args: NoteCreate) -> Note:
    note: Note = note_service(context).create(context.identity, args)
    return note


def _search(context: ToolContext, args: SearchNotesInput) -> NoteList:
    from crewhouse.notes.searching import SearchFilters, search_notes
    from crewhouse.search.index import DynamoSearchIndex

    settings = context.settings(NotesSettings)
    index = DynamoSearchIndex(aws_client("dynamodb", settings), settings.search_table)
    filters = SearchFilters(notebook_id=args.notebook_id, tag=args.tag, favorite=args.favorite,
                            archived=args.archived)
    return NoteList(items=search_notes(note_service(context), index, context.identity, args.q, args.limit, filters))


def _recent(context: ToolContext, args: RecentNotesInput) -> NoteList:
    items, _ = note_service(context).recent(context.identity, args.limit, None)
    return NoteList(items=items)


def _tasks_from_note(context: ToolContext, args: TaskFromNoteInput) -> TasksFromNote:
    from crewhouse.notes.models import NoteTasksRequest
    from crewhouse.notes.task_links import TaskServiceMaker

    maker = TaskServiceMaker()
    request = NoteTasksRequest.model_validate(args.model_dump(exclude={"id"}))
    tasks, note = note_service(context).create_tasks(context.identity, args.id, request, maker)
    return TasksFromNote(tasks=tasks, note=note)


register(Tool("create_note", "Create a markdown note (optionally in a notebook, with tags and a checklist).",
              NoteCreate, Note, _create))
register(Tool("search_notes", "Search notes by relevance.", SearchNotesInput, NoteList, _search, read_only=True))
register(Tool("get_recent_notes", "The most recently changed notes.", RecentNotesInput, NoteList, _recent,
              read_only=True))
register(Tool("create_task_from_note", "Create a task from a note, or one task per chosen checklist item; "
              "note and tasks link to each other.", TaskFromNoteInput, TasksFromNote, _tasks_from_note))
