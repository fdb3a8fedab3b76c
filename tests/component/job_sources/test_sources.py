"""The jobs' sources and tenant search over the real notes and files services, on moto's DynamoDB and S3."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from crewhouse.core.identity import Identity
from crewhouse.core.settings import function_environment
from crewhouse.core.table import Table
from crewhouse.files import keys as file_keys
from crewhouse.files.logic import FileService
from crewhouse.files.models import FileCreate
from crewhouse.files.ocr import Document, OcrResult
from crewhouse.files.settings import FilesSettings
from crewhouse.files.store import DynamoFileStore, S3Objects
from crewhouse.files.workers import SEARCH_WEIGHTS as FILE_WEIGHTS
from crewhouse.files.workers import searchable_text as file_text
from crewhouse.jobs.registry import get_type
from crewhouse.jobs.results import owner_identity
from crewhouse.jobs.settings import JobsSettings
from crewhouse.jobs.sources import StoreSources, job_sources, search_provider
from crewhouse.jobs.types.base import JobRun, PermanentJobError
from crewhouse.jobs.types.summarize import SummarizeParams
from crewhouse.llm.offline import OfflineProvider
from crewhouse.llm.provider import FailoverProvider
from crewhouse.notes.logic import NoteService
from crewhouse.notes.models import ChecklistItemIn, NoteCreate
from crewhouse.notes.projections import SEARCH_WEIGHTS as NOTE_WEIGHTS
from crewhouse.notes.projections import searchable_text as note_text
from crewhouse.notes.store import DynamoNoteStore, S3Bodies
from crewhouse.search.index import DynamoSearchIndex
from tests.support.tables import mocked_tables

# The jobs function's environment: the notes and files services read their own settings from it.
ENV = {"NOTES_TABLE": "notes", "FILES_TABLE": "files", "FILES_BUCKET": "bucket", "SEARCH_TABLE": "search",
       "AWS_REGION": "us-east-1"}
SETTINGS = JobsSettings.from_environment(ENV)
ALICE = owner_identity("t1", "alice")
BOB = owner_identity("t1", "bob")
ALICE_ELSEWHERE = owner_identity("t2", "alice")
CSV = b"city,visitors\nLisbon,120\nPorto,80\nLisbon,100\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40  # the signature is all the byte checks look at


@pytest.fixture(autouse=True)
def jobs_function_environment() -> Iterator[None]:
    with function_environment(ENV):
        yield


@dataclass
class CannedOcr:
    text: str | None
    name: str = "canned"

    def extract(self, document: Document) -> OcrResult:
        if self.text is None:
            return OcrResult("failed", self.name, reason="nothing legible")
        return OcrResult("done", self.name, text=self.text)


@dataclass
class World:
    notes: NoteService
    files: FileService
    s3: Any
    index: DynamoSearchIndex

    def note(self, who: Identity, title: str, body: str, checklist: tuple[str, ...] = ()) -> str:
        note = self.notes.create(who, NoteCreate(title=title, body=body,
                                                 checklist=[ChecklistItemIn(text=t) for t in checklist]))
        item = self.notes.store.note(self.notes.owner(who), note.id)
        self.index.replace_document(self.notes.owner(who), "note", note.id, None, note_text(item), NOTE_WEIGHTS)
        return note.id

    def file(self, who: Identity, filename: str, content_type: str, data: bytes, *, upload: bool = True,
             ocr_text: str | None = None) -> str:
        """A file as the files pipeline leaves it; an image's text is what ``ocr_text`` says OCR read."""
        created = self.files.create(who, FileCreate(filename=filename, content_type=content_type, size=len(data)))
        if upload:
            key = file_keys.object_key(who.tenant_id, who.user_id, created.id)
            self.s3.put_object(Bucket="bucket", Key=key, Body=data, ContentType=content_type)
            assert self.files.process_upload(key, None, ocr=CannedOcr(ocr_text)) == "accepted"
        return created.id

    def index_file(self, who: Identity, file_id: str) -> None:
        owner = file_keys.owner_pk(who.tenant_id, who.user_id)
        item = self.files.store.get(owner, file_id)
        self.index.replace_document(owner, "file", file_id, None, file_text(item), FILE_WEIGHTS)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with mocked_tables(monkeypatch, {"notes": "NotesNotesTable",
                                      "files": "FilesFilesTable",
                                      "search": "StorageSearchIndexTable"}) as dynamodb:
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bucket")
        notes = NoteService(DynamoNoteStore(Table(dynamodb, "notes")), S3Bodies(s3, "bucket"))
        files = FileService(DynamoFileStore(Table(dynamodb, "files")), S3Objects(s3, "bucket"),
                            FilesSettings(files_table="files", files_bucket="bucket"))
        yield World(notes, files, s3, DynamoSearchIndex(dynamodb, "search"))


def test_a_note_is_read_with_its_markdown_body_and_checklist(world: World) -> None:
    note_id = world.note(ALICE, "Trip", "# Plan\n\nVisit **Lisbon** in May.", checklist=("Book train",))
    document = job_sources(SETTINGS, ALICE).note(note_id)
    assert (document.kind, document.id, document.title) == ("note", note_id, "Trip")
    assert document.text == "# Plan\n\nVisit **Lisbon** in May.\n\n- [ ] Book train"


def test_a_large_note_body_is_read_from_s3(world: World) -> None:
    body = "Lisbon has seven hills. " * 20_000  # over the size kept in the item
    note_id = world.note(ALICE, "Hills", body)
    item = world.notes.store.note(world.notes.owner(ALICE), note_id)
    assert item is not None and item["body_key"]  # the body lives in S3
    assert job_sources(SETTINGS, ALICE).note(note_id).text == body


def test_another_users_or_tenants_note_is_refused(world: World) -> None:
    note_id = world.note(ALICE, "Private", "Only mine.")
    for stranger in (BOB, ALICE_ELSEWHERE):
        with pytest.raises(PermanentJobError, match=f"Note {note_id} was not found"):
            job_sources(SETTINGS, stranger).note(note_id)
    with pytest.raises(PermanentJobError, match="not found"):
        job_sources(SETTINGS, ALICE).note("01NOSUCHNOTE")


def test_a_trashed_note_is_not_a_source(world: World) -> None:
    note_id = world.note(ALICE, "Old", "Gone soon.")
    world.notes.trash(ALICE, note_id, None)
    with pytest.raises(PermanentJobError, match="in the trash"):
        job_sources(SETTINGS, ALICE).note(note_id)


def test_a_csv_file_is_read_from_s3(world: World) -> None:
    file_id = world.file(ALICE, "visits.csv", "text/csv", CSV)
    sources = job_sources(SETTINGS, ALICE)
    document = sources.file(file_id)
    assert (document.kind, document.title, document.content_type, document.text) == (
        "file", "visits.csv", "text/csv", CSV.decode())
    assert sources.file_bytes(file_id) == ("visits.csv", "text/csv", CSV)
    with pytest.raises(PermanentJobError, match="was not found"):
        job_sources(SETTINGS, BOB).file(file_id)


def test_analyze_runs_over_a_real_file(world: World) -> None:
    file_id = world.file(ALICE, "visits.csv", "text/csv", CSV)
    analyze = get_type("analyze")
    assert analyze is not None
    run = JobRun("j1", analyze.params_model.model_validate({"file_id": file_id, "group_by": "city"}),
                 FailoverProvider([OfflineProvider()]), job_sources(SETTINGS, ALICE), search_provider(SETTINGS, ALICE))
    output = analyze.run(run)
    assert "| visitors | 3 | 0 | 80 | 120 | 100 | 100 | 20 |" in output.markdown
    assert "| Lisbon | 2 | 110 |" in output.markdown


def test_files_that_cannot_be_read_say_why(world: World) -> None:
    sources = job_sources(SETTINGS, ALICE)
    pending = world.file(ALICE, "later.csv", "text/csv", CSV, upload=False)
    with pytest.raises(PermanentJobError, match="its status is pending"):
        sources.file(pending)
    archive = world.file(ALICE, "a.zip", "application/zip", b"PK\x03\x04" + b"\x00" * 40)
    with pytest.raises(PermanentJobError, match="is application/zip"):
        sources.file(archive)
    picture = world.file(ALICE, "scan.png", "image/png", PNG)
    with pytest.raises(PermanentJobError, match=r"no extracted text \(OCR status failed: nothing legible\)"):
        sources.file(picture)
    big = world.file(ALICE, "big.csv", "text/csv", CSV)
    with pytest.raises(PermanentJobError, match="jobs read files of at most"):
        StoreSources(world.notes, world.files, ALICE, max_bytes=10).file(big)


def test_an_image_is_read_through_its_extracted_text(world: World) -> None:
    picture = world.file(ALICE, "receipt.png", "image/png", PNG, ocr_text="Total 42 EUR")
    assert job_sources(SETTINGS, ALICE).file(picture).text == "Total 42 EUR"


def test_tenant_search_finds_the_owners_notes_and_files_only(world: World) -> None:
    mine = world.note(ALICE, "Lisbon trams", "Tram 28 climbs through Alfama.")
    world.note(BOB, "Lisbon secrets", "Bob's own Lisbon notes.")
    scan = world.file(ALICE, "lisbon-map.png", "image/png", PNG, ocr_text="Map of Lisbon: Baixa, Alfama, Belém.")
    world.index_file(ALICE, scan)

    search = search_provider(SETTINGS, ALICE)
    assert search.name == "tenant"
    hits = search.search("lisbon alfama", 10)
    assert [(h.kind, h.ref) for h in hits] == [("note", mine), ("file", scan)]
    assert hits[1].title == "lisbon-map.png" and "Alfama" in hits[1].snippet
    assert search.search("lisbon", 1) == hits[:1]
    assert search.search("?!", 5) == []


def test_research_over_the_tenant_says_so_and_cites_the_notes(world: World) -> None:
    note_id = world.note(ALICE, "Lisbon trams", "Tram 28 climbs through Alfama. Trams in Lisbon run until 11 pm.")
    research = get_type("research")
    assert research is not None
    run = JobRun("j2", research.params_model.model_validate({"topic": "Lisbon trams"}),
                 FailoverProvider([OfflineProvider()]), job_sources(SETTINGS, ALICE), search_provider(SETTINGS, ALICE))
    output = research.run(run)
    assert "searched only your own notes and files" in output.markdown
    assert output.citations == [{"n": 1, "kind": "note", "ref": note_id, "title": "Lisbon trams"}]
    assert "Trams in Lisbon run until 11 pm. [1]" in output.markdown


def test_summarize_runs_over_real_notes(world: World) -> None:
    first = world.note(ALICE, "A", "Trams are slow. Trams are charming. The river is wide.")
    summarize = get_type("summarize")
    assert summarize is not None
    run = JobRun("j3", SummarizeParams(note_ids=[first], length="short"), FailoverProvider([OfflineProvider()]),
                 job_sources(SETTINGS, ALICE), search_provider(SETTINGS, ALICE))
    assert "- Trams are slow." in summarize.run(run).markdown


def test_an_unknown_search_provider_is_a_configuration_error() -> None:
    with pytest.raises(ValueError,
                       match="RESEARCH_SEARCH_PROVIDER='bing' names no search provider; known: tenant, web"):
        search_provider(SETTINGS.model_copy(update={"research_search_provider": "bing"}), ALICE)
