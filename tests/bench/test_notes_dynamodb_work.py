"""DynamoDB work per notes request must not grow with the number of notes a user has.

One user is seeded with 100 notes, then (in a fresh emulator) with 10,000, and each request below is measured
against the emulator (moto, in-process, tables created from the synthesized CDK template) with the meter of
``tests/bench/dynamodb_work.py`` (calls, items examined, read and write units by AWS's rules, GSI upkeep):

- ``get``       ``NoteService.get`` of one note;
- ``notebook``  ``NoteService.list_notes`` of one notebook, limit 50;
- ``recent``    ``NoteService.recent``, limit 20;
- ``search``    ``search_notes`` for one word (a different word, with 5 matches, for each sample);
- ``restore``   ``NoteService.restore_revision`` of a note's first revision (a transaction: note + revision).

Each operation runs on 5 different targets; the table shows the mean per request for each size and the ratio
10,000 / 100. Asserted: every ratio of calls, items examined, read and write units is at most 1.1, and nothing
scans. The table is printed even without ``-s``.

The two sizes. The 100-note user has 10 notebooks of 10 notes; the 10,000-note user has 1,000 notebooks of 10
notes, ten of which hold exactly the small user's notes (same ids, text, revisions and order), written last so
that they are also the most recent. Every request targets those shared notes, so both sizes touch identical
items and any difference is the doing of the 9,900 others. Notes are made by the real ``NoteService`` (over an
in-memory store, for speed: every note with its first revision, the shared ones edited twice more) and written
with ``batch_write_item``. The search index is written by the production ``DynamoSearchIndex`` for the shared
notes; the 9,900 others have a one-word title (2 or 3 index terms) written with the same key shape. The seeding
checks that exactly 5 notes in either size share any index term with each searched word.

Not measured: the stream worker (index, sync log, trash lifecycle) runs after the request, not in it.

    .venv/bin/pytest tests/bench/test_notes_dynamodb_work.py -q

``--bench-size=small`` (make test): 100 against 500 notes (50 notebooks), the same budget of 1.1.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from crewhouse.core.dynamo import ItemCodec
from crewhouse.core.identity import Identity
from crewhouse.core.table import Table
from crewhouse.notes import keys
from crewhouse.notes.logic import NoteFilters, NoteService
from crewhouse.notes.models import NotebookCreate, NoteCreate, NotePatch
from crewhouse.notes.projections import SEARCH_WEIGHTS, searchable_text
from crewhouse.notes.searching import SearchFilters, search_notes
from crewhouse.notes.store import DynamoNoteStore, S3Bodies
from crewhouse.search.index import DynamoSearchIndex
from crewhouse.search.text import index_terms, query_terms
from tests.bench.dynamodb_work import (
    Meter,
    Result,
    batch_write,
    over_budget,
    sample,
    work_table,
)
from tests.bench.size import by_size
from tests.support.memory_table import MemoryTable
from tests.support.tables import create_table
from tests.unit.notes.fakes import MemoryBodies

REGION = "us-east-1"
NOTES, SEARCH, BUCKET = "notes", "search", "files"
TABLES = {NOTES: "NotesNotesTable", SEARCH: "StorageSearchIndexTable"}
BUDGET = 1.1
SAMPLES = 5
SEED = 20261122
PER_NOTEBOOK = 10
SMALL, LARGE = 100, by_size(500, 10_000)  # a small run (make test) compares 100 with 500 notes
SHARED_BOOKS = SMALL // PER_NOTEBOOK
START = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
IDENTITY = Identity(tenant_id="bench", user_id="user-1", role="member", scopes=frozenset())
OWNER = keys.owner_pk(IDENTITY.tenant_id, IDENTITY.user_id)

MARKERS = ("zeppelin", "quokka", "marimba", "tundra", "origami")  # each in exactly 5 shared notes
SUBJECTS = ("meeting", "recipe", "journal", "reading", "project", "travel", "garden", "budget", "workout", "ideas",
            "lecture", "podcast", "interview", "retrospective", "shopping", "holiday", "renovation", "birthday")
WORDS = ("the", "plan", "notes", "about", "with", "next", "steps", "review", "draft", "list", "summary", "thoughts",
         "questions", "links", "todo", "later", "weekly", "monthly", "quarter", "friday", "team", "family")
SHORT_WORDS = ("gym", "tax", "mop", "fix", "pay", "vet", "oil", "bin", "cake", "memo", "bill", "walk", "yoga",
               "iron", "bank", "dust", "lamp", "soap", "tea", "jam")  # fmt: skip


class Clock:
    """The seeding's clock: each write a second later, so the shared notes (written last) are the newest."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def _ids(prefix: str) -> Callable[[], str]:
    counter = iter(range(10**9))
    return lambda: f"{prefix}{next(counter):07d}"


@dataclass
class World:
    service: NoteService
    index: DynamoSearchIndex
    books: list[str]  # the shared notebooks
    notes: list[str]  # the shared notes, in order


def _shared_note(rng: random.Random, slot: int) -> tuple[str, str]:
    words = [rng.choice(WORDS) for _ in range(40)]
    marker = MARKERS[slot // 20] if slot < 100 and slot % 20 < 5 else None
    title = f"{rng.choice(SUBJECTS).title()} {rng.choice(WORDS)}"
    body = f"# {title}\n\n{' '.join(words[:20])}{' ' + marker if marker else ''}\n\n- {' '.join(words[20:])}"
    return title, body


def seed(client: Any, total: int) -> World:
    memory, clock = MemoryTable(), Clock()
    maker = NoteService(DynamoNoteStore(memory), MemoryBodies(), clock=clock, new_id=_ids("x"))
    fill = NoteService(DynamoNoteStore(memory), MemoryBodies(), clock=clock, new_id=_ids("f"))
    rng, shared_rng = random.Random(SEED), random.Random(SEED + 1)
    for _ in range(total // PER_NOTEBOOK - SHARED_BOOKS):  # the 9,900 others first: older
        book = fill.create_notebook(IDENTITY, NotebookCreate(name=f"Book {rng.choice(SHORT_WORDS)}"))
        for _ in range(PER_NOTEBOOK):
            fill.create(IDENTITY, NoteCreate(title=rng.choice(SHORT_WORDS), notebook_id=book.id))
    books, notes = [], []
    for b in range(SHARED_BOOKS):
        book = maker.create_notebook(IDENTITY, NotebookCreate(name=f"Shared {b}"))
        books.append(book.id)
        for n in range(PER_NOTEBOOK):
            title, body = _shared_note(shared_rng, b * PER_NOTEBOOK + n)
            note = maker.create(IDENTITY, NoteCreate(title=title, body=body, notebook_id=book.id, tags=["bench"]))
            maker.update(IDENTITY, note.id, NotePatch(body=body + "\n\nedited once"), None)
            maker.update(IDENTITY, note.id, NotePatch(title=title + " (2)"), None)
            notes.append(note.id)
    notes_in = Counter(pk for pk, sk in memory.items if sk.startswith("NOTE#"))
    assert notes_in[OWNER] == total
    codec = ItemCodec()
    batch_write(client, NOTES, [codec.dump(item) for item in memory.items.values()])

    index = DynamoSearchIndex(client, SEARCH)
    searched = {marker: {t.term for t in query_terms(marker)} for marker in MARKERS}
    matches: Counter[str] = Counter()
    others: list[dict[str, Any]] = []
    shared = set(notes)
    for (_, sk), item in memory.items.items():
        if not sk.startswith("NOTE#"):
            continue
        text = searchable_text(item) or {}
        terms = index_terms(text, SEARCH_WEIGHTS)
        matches.update(marker for marker, wanted in searched.items() if wanted & terms.keys())
        if item["id"] in shared:
            index.replace_document(OWNER, "note", item["id"], None, text, SEARCH_WEIGHTS)
        else:
            others += [{"PK": {"S": f"{OWNER}#note#{term}"}, "SK": {"S": item["id"]}, "s": {"N": f"{score:.4f}"}}
                       for term, score in terms.items()]
    assert matches == dict.fromkeys(MARKERS, 5), f"each searched word must match 5 notes: {matches}"
    batch_write(client, SEARCH, others)
    service = NoteService(DynamoNoteStore(Table(client, NOTES)),
                          S3Bodies(boto3.client("s3", region_name=REGION), BUCKET), clock=lambda: NOW)
    return World(service, index, books, notes)


# --- the requests ---------------------------------------------------------------------------------------


def _get(world: World, n: int) -> None:
    note = world.service.get(IDENTITY, world.notes[10 * n + 3])
    assert note.revision == 3


def _notebook(world: World, n: int) -> None:
    found, _ = world.service.list_notes(IDENTITY, NoteFilters(notebook_id=world.books[n]), 50, None)
    assert len(found) == PER_NOTEBOOK


def _recent(world: World, n: int) -> None:
    found, _ = world.service.recent(IDENTITY, 20, None)
    assert {note.id for note in found} <= set(world.notes) and len(found) == 20


def _search(world: World, n: int) -> None:
    found = search_notes(world.service, world.index, IDENTITY, MARKERS[n], 20, SearchFilters())
    assert len(found) == 5


def _restore(world: World, n: int) -> None:
    restored = world.service.restore_revision(IDENTITY, world.notes[10 * n + 7], 1, None)
    assert (restored.revision, restored.body.endswith("edited once")) == (4, False)


OPERATIONS: dict[str, Callable[[World, int], None]] = {
    "get": _get, "notebook": _notebook, "recent": _recent, "search": _search, "restore": _restore,
}


def measure(total: int) -> Result:
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        for name, logical in TABLES.items():
            create_table(client, logical, name)
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        meter = Meter(client, TABLES)
        return sample(meter, seed(client, total), OPERATIONS, SAMPLES)


@pytest.mark.usefixtures("fast_moto")
def test_dynamodb_work_per_request_does_not_grow_with_the_notes(capsys: pytest.CaptureFixture[str]) -> None:
    small = measure(SMALL)
    large = measure(LARGE)
    with capsys.disabled():
        print(work_table(small, large, OPERATIONS, sizes=(f"{SMALL:,} notes", f"{LARGE:,} notes"), samples=SAMPLES,
                         budget=BUDGET))

    assert not small.problems + large.problems, small.problems + large.problems
    for result in (small, large):
        for operation, works in result.samples.items():
            assert not any(w.operations["Scan"] for w in works), f"{operation} scans"
        assert all(w.operations["TransactWriteItems"] == 1 for w in result.samples["restore"])
    over = over_budget(small, large, OPERATIONS, BUDGET)
    assert not over, "work grows with the number of notes: " + "; ".join(over)
