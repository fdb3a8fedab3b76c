"""DynamoDB work per task request must not grow with the number of tasks a user has.

One user is seeded with 100 tasks, then (in a fresh emulator) with 10,000, and each request below is measured
against the emulator (moto, in-process, tables created from the synthesized CDK template) with the meter of
``tests/bench/dynamodb_work.py``: calls, items examined (ScannedCount for a Query), read and write units
computed from item sizes by AWS's rules (moto's own ConsumedCapacity is not used), GSI upkeep, items written.

- ``get``       ``TaskService.get`` of one task (the item plus the count behind its label);
- ``list day``  ``TaskService.list_tasks`` with ``planned_date``, limit 50;
- ``move``      ``TaskService.move`` of a task before another of the same day and letter;
- ``complete``  ``TaskService.complete`` of a task without dependencies or recurrence;
- ``search``    ``search_tasks`` for one word (a different word, with 5 matches, for each sample);
- ``sync``      the sync feed (``crewhouse.sync.feed.changes_since``) from a token followed by 10 changes.

Each operation runs on 5 different targets; the table shows the mean per request for each size and the ratio
10,000 / 100. Asserted: every ratio of calls, items examined, read and write units is at most 1.1, a move
writes exactly one item, and nothing scans. The table is printed even without ``-s``.

The two sizes. The 100-task user has 10 tasks on each of 10 days; the 10,000-task user has 10 tasks on each
of 1,000 days, and its days 50, 150, ..., 950 hold exactly the 100 tasks of the small user (same ids, text
and order), so every day holds as many tasks in both sizes. Every request targets those shared tasks, so both
sizes touch byte-identical items and any difference in the numbers is the doing of the 9,900 others. Tasks
are made by the real ``TaskService.create`` (over an in-memory store, for speed) and written with
``batch_write_item`` (``stored_task`` and the store's codec). The search index is written by the
production ``DynamoSearchIndex.replace_document`` for the shared tasks, and the sync log by the production
``DynamoSyncLog.record`` for every task (one entry each, a day before the token) and for the 10 recent changes.

Shortcuts, to keep the run short; none in what is measured:

- the 9,900 other tasks have a one-word title (a short word, so 2 or 3 index terms), no description and no
  tags, and their index entries are batch-written with the same key shape as ``search/index.py``. A search
  reads only the partitions of its own query terms; the seeding checks that exactly 5 tasks in either size
  share any index term with each searched word;
- ``speed_up_moto`` (see ``dynamodb_work.py``) removes moto costs that grow with the table (a sort of every
  item before each Query, quadratic item sizing) without changing what it stores or answers.

Not measured: the stream workers (search index, sync log, reminders) run after the request, not in it.

    .venv/bin/pytest tests/bench/test_tasks_dynamodb_work.py -q

``--bench-size=small`` (make test): 100 against 500 tasks (50 days, the shared ones on days 2, 7, ..., 47),
the same budget of 1.1.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import boto3
import pytest
from moto import mock_aws
from ulid import ULID

from crewhouse.core.dynamo import ItemCodec
from crewhouse.core.identity import Identity
from crewhouse.core.table import Table
from crewhouse.search.index import DynamoSearchIndex
from crewhouse.search.text import index_terms, query_terms
from crewhouse.sync.feed import changes_since
from crewhouse.sync.log import DynamoSyncLog, Entry
from crewhouse.tasks import keys
from crewhouse.tasks.logic import ListFilters, TaskService
from crewhouse.tasks.models import MoveRequest, Priority, TaskCreate
from crewhouse.tasks.projections import SEARCH_WEIGHTS, searchable_text, sync_snapshot
from crewhouse.tasks.searching import search_tasks
from crewhouse.tasks.store import DynamoTaskStore, stored_task
from tests.bench.dynamodb_work import (
    Item,
    Meter,
    Result,
    batch_write,
    over_budget,
    sample,
    work_table,
)
from tests.bench.size import by_size
from tests.support.tables import create_table

REGION = "us-east-1"
TASKS, SEARCH, SYNC = "tasks", "search", "sync"
TABLES = {TASKS: "TasksTasksTable", SEARCH: "StorageSearchIndexTable", SYNC: "StorageSyncLogTable"}
BUDGET = 1.1
SAMPLES = 5
SEED = 20260302

PER_DAY = 10
LETTERS = "AAABBBBCCC"  # per day: 3 A, 4 B, 3 C
SMALL, LARGE = 100, by_size(500, 10_000)  # a small run (make test) compares 100 with 500 tasks
LARGE_DAYS = LARGE // PER_DAY
STRIDE = LARGE_DAYS // (SMALL // PER_DAY)
SHARED_DAYS = [STRIDE // 2 + STRIDE * slot for slot in range(SMALL // PER_DAY)]  # the small user's days: 50, 150…
FIRST_DAY = date(2025, 9, 1)
CREATED = datetime(2025, 8, 1, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # the measured requests' clock
TOKEN_TIME = NOW - timedelta(minutes=30)  # the sync token is issued then; 10 changes follow it
RECENT_CHANGES = 10
SIGNING_KEY = b"bench-signing-key"
IDENTITY = Identity(tenant_id="bench", user_id="user-1", role="member", scopes=frozenset())
OWNER = keys.owner_pk(IDENTITY.tenant_id, IDENTITY.user_id)

# Each searched word is in exactly 5 tasks; nothing else may share an index term with it.
MARKERS = ("quarterly", "passport", "plumber", "webinar", "mortgage")
VERBS = (
    "call", "email", "review", "draft", "plan", "book", "pay", "send", "fix", "update", "prepare", "schedule",
    "order", "clean", "buy", "check", "write", "submit", "renew", "cancel", "finish", "print", "sign", "file",
    "sort", "move", "ask", "follow up", "confirm", "research", "compare", "collect", "return", "organise",
)  # fmt: skip
NOUNS = (
    "invoice", "dentist", "report", "slides", "budget", "contract", "flight", "hotel", "insurance", "taxes",
    "groceries", "garden", "printer", "website", "newsletter", "meeting", "agenda", "proposal", "roadmap",
    "backlog", "receipts", "laptop", "bike", "boiler", "garage", "gift", "birthday", "tickets", "visa",
    "payroll", "minutes", "photos", "library", "parcel", "charger", "design", "survey", "interview", "offer",
    "lease", "kitchen", "windows", "car", "doctor", "school", "recipe", "playlist", "backup", "password",
    "calendar", "podcast", "feedback", "training", "workshop", "expenses", "supplier", "warehouse", "shelves",
)  # fmt: skip
WORDS = ("with", "for", "before", "friday", "team", "client", "monday", "notes", "quote", "form", "new", "old")
TAGS = ("work", "home", "errand", "finance", "health", "family")
SHORT_WORDS = ("gym", "tax", "mop", "fix", "pay", "vet", "oil", "bin", "cake", "memo", "bill", "walk", "yoga",
               "iron", "bank", "dust", "lamp", "soap", "tea", "jam")  # fmt: skip


# --- the seeded user ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Day:
    number: int  # days after FIRST_DAY
    groups: dict[str, list[str]]  # letter -> task ids in rank order

    @property
    def planned(self) -> date:
        return FIRST_DAY + timedelta(days=self.number)


class _Drafts:
    """A task store that keeps what ``TaskService.create`` writes (seeding only: no emulator round trips)."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._last_rank: dict[tuple[str | None, str], str] = {}

    def add_task(self, owner: str, task: dict[str, Any]) -> None:
        assert owner == OWNER
        self.items.append(task)
        self._last_rank[(task.get("planned_date"), task["priority"])] = task["rank"]

    def last_rank(self, owner: str, planned: str | None, letter: str) -> str | None:
        return self._last_rank.get((planned, letter))

    def position_in_group(self, owner: str, task: Mapping[str, Any]) -> int:
        return 1  # the label of a task just created; not stored

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"{name} is not used while seeding")


def _task_id(day: int, position: int) -> str:
    stamp = int((CREATED + timedelta(seconds=day * PER_DAY + position)).timestamp() * 1000)
    tail = hashlib.sha256(f"{SEED}:{day}:{position}".encode()).digest()[:10]
    return str(ULID.from_bytes(stamp.to_bytes(6, "big") + tail))


def _marker_for(slot: int, position: int) -> str | None:
    """Shared task ``slot * 10 + position`` carries a searched word: 5 tasks per word, spread over the days."""
    number = slot * PER_DAY + position
    word, rest = divmod(number, 20)
    return MARKERS[word] if rest % 4 == 1 and word < len(MARKERS) else None


def _fields(day: int, slot: int | None, position: int, letter: Priority, rng: random.Random) -> TaskCreate:
    planned = FIRST_DAY + timedelta(days=day)
    if slot is None:  # one of the 9,900 others: see the module docstring
        return TaskCreate(title=rng.choice(SHORT_WORDS), priority=letter, planned_date=planned,
                          estimate_minutes=rng.choice([None, 15, 30]))
    marker = _marker_for(slot, position)
    words = [rng.choice(VERBS), marker or rng.choice(NOUNS)]
    if rng.random() < 0.4:
        words += [rng.choice(WORDS), rng.choice(NOUNS)]
    description = " ".join(rng.choice(NOUNS + WORDS) for _ in range(rng.randint(4, 12))) if rng.random() < 0.5 else ""
    due = datetime(planned.year, planned.month, planned.day, 17, 0, tzinfo=UTC) if rng.random() < 0.3 else None
    return TaskCreate(title=" ".join(words).capitalize(), description=description, priority=letter,
                      planned_date=planned, due=due, tags=rng.sample(TAGS, rng.randint(0, 2)),
                      estimate_minutes=rng.choice([None, 15, 30, 60, 90]))


def _make_day(service: TaskService, day: int, slot: int | None) -> Day:
    rng = random.Random(SEED * 10_000 + day)
    letters: list[Priority] = [cast(Priority, letter) for letter in LETTERS]
    rng.shuffle(letters)
    groups: dict[str, list[str]] = {letter: [] for letter in "ABC"}
    for position, letter in enumerate(letters):
        task = service.create(IDENTITY, _fields(day, slot, position, letter, rng), task_id=_task_id(day, position))
        groups[letter].append(task.id)  # created in order, so each new task ranks last in its group
    return Day(day, groups)


@dataclass
class World:
    service: TaskService
    index: DynamoSearchIndex
    log: DynamoSyncLog
    days: list[Day]  # the shared days, in order
    token: str


def seed(client: Any, total: int) -> World:
    drafts = _Drafts()
    maker = TaskService(drafts, clock=lambda: CREATED)
    day_numbers = SHARED_DAYS if total == SMALL else list(range(LARGE_DAYS))
    shared = {day: slot for slot, day in enumerate(SHARED_DAYS)}
    days = [_make_day(maker, day, shared.get(day)) for day in day_numbers]
    assert len(drafts.items) == total and all(len(d.groups[x]) for d in days for x in "ABC")
    codec = ItemCodec()
    batch_write(client, TASKS, [codec.dump(stored_task(OWNER, item)) for item in drafts.items])

    # The search index: the production writer for the shared tasks, the same key shape in batches for the others.
    index = DynamoSearchIndex(client, SEARCH)
    searched = {marker: {t.term for t in query_terms(marker)} for marker in MARKERS}
    matches: Counter[str] = Counter()
    others: list[Item] = []
    shared_ids = {task_id for day in days if day.number in shared for ids in day.groups.values() for task_id in ids}
    for item in drafts.items:
        text = searchable_text(item) or {}
        terms = index_terms(text, SEARCH_WEIGHTS)
        matches.update(marker for marker, wanted in searched.items() if wanted & terms.keys())
        if item["id"] in shared_ids:
            index.replace_document(OWNER, "task", item["id"], None, text, SEARCH_WEIGHTS)
        else:
            others += [{"PK": {"S": f"{OWNER}#task#{term}"}, "SK": {"S": item["id"]}, "s": {"N": f"{score:.4f}"}}
                       for term, score in terms.items()]
    assert matches == dict.fromkeys(MARKERS, 5), f"each searched word must match 5 tasks: {matches}"
    batch_write(client, SEARCH, others)

    # The sync log: one change per task a day before the token, the token, then RECENT_CHANGES shared tasks.
    written = [TOKEN_TIME - timedelta(days=1)]  # the log's clock: it positions entries at the time of writing
    log = DynamoSyncLog(client, SYNC, clock=lambda: written[0].timestamp())

    def entries(items: list[dict[str, Any]], batch: int) -> list[Entry]:
        return [Entry(event_id=_task_id(batch, n), kind="task", item_id=item["id"], operation="upsert",
                      version=item["version"], data=sync_snapshot(item)) for n, item in enumerate(items)]

    log.record(OWNER, entries(drafts.items, -1))
    token = changes_since(log, SIGNING_KEY, IDENTITY, None, 200, clock=lambda: TOKEN_TIME).token
    shared_days = [day for day in days if day.number in shared]
    by_id = {item["id"]: item for item in drafts.items}
    written[0] = TOKEN_TIME + timedelta(seconds=10)
    log.record(OWNER, entries([by_id[day.groups["A"][0]] for day in shared_days[:RECENT_CHANGES]], -2))
    service = TaskService(DynamoTaskStore(Table(client, TASKS)), clock=lambda: NOW)
    return World(service, index, log, shared_days, token)


# --- the requests ---------------------------------------------------------------------------------------


def _get(world: World, n: int) -> None:
    world.service.get(IDENTITY, world.days[n].groups["A"][2])


def _list_day(world: World, n: int) -> None:
    tasks, _ = world.service.list_tasks(IDENTITY, ListFilters(planned_date=world.days[5 + n].planned), 50, None)
    assert len(tasks) == PER_DAY


def _move(world: World, n: int) -> None:
    group = world.days[n].groups["B"]
    moved = world.service.move(IDENTITY, group[3], MoveRequest(before_id=group[1]))
    assert moved.label == "B2"


def _complete(world: World, n: int) -> None:
    done = world.service.complete(IDENTITY, world.days[5 + n].groups["C"][0])
    assert done.status == "done"


def _search(world: World, n: int) -> None:
    found = search_tasks(world.service, world.index, IDENTITY, MARKERS[n], 20)
    assert len(found) == 5


def _sync(world: World, n: int) -> None:
    response = changes_since(world.log, SIGNING_KEY, IDENTITY, world.token, 200, clock=lambda: NOW)
    assert len(response.items) == RECENT_CHANGES and not response.has_more


OPERATIONS: dict[str, Callable[[World, int], None]] = {
    "get": _get, "list day": _list_day, "move": _move, "complete": _complete, "search": _search, "sync": _sync,
}


def measure(total: int) -> Result:
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        for name, logical in TABLES.items():
            create_table(client, logical, name)
        meter = Meter(client, TABLES)
        return sample(meter, seed(client, total), OPERATIONS, SAMPLES)


@pytest.mark.usefixtures("fast_moto")
def test_dynamodb_work_per_request_does_not_grow_with_the_tasks(capsys: pytest.CaptureFixture[str]) -> None:
    small = measure(SMALL)
    large = measure(LARGE)
    with capsys.disabled():
        print(work_table(small, large, OPERATIONS, sizes=(f"{SMALL:,} tasks", f"{LARGE:,} tasks"), samples=SAMPLES,
                         budget=BUDGET))

    assert not small.problems + large.problems, small.problems + large.problems
    for result in (small, large):
        for operation, works in result.samples.items():
            assert not any(w.operations["Scan"] for w in works), f"{operation} scans"
        assert [w.items_written for w in result.samples["move"]] == [1] * SAMPLES, "a move writes one item"
    over = over_budget(small, large, OPERATIONS, BUDGET)
    assert not over, "work grows with the number of tasks: " + "; ".join(over)
