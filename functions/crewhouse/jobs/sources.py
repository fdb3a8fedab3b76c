"""What a job may read: the owner's notes and files, and a search provider for research.

:class:`StoreSources` reads through the notes and files services with the job owner's :class:`Identity`, so
tenant and owner are enforced exactly as for the owner's own API calls: another user's note is not found.
A source that cannot be read is a :class:`PermanentJobError` (retrying would not help).

Research asks a :class:`SearchProvider`. ``RESEARCH_SEARCH_PROVIDER`` picks it; the default, ``web``, reads the
web with the tenant's own key (:mod:`crewhouse.jobs.web_search`) beside the owner's notes and files, and falls
back to ``tenant`` (the notes and files alone, through the shared search index) while the tenant has no key.
Other providers (a company wiki …) plug in with :func:`register_search_provider`; research reports say which
provider found their sources.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from crewhouse.core.aws import aws_client
from crewhouse.core.errors import NotFound
from crewhouse.core.identity import Identity
from crewhouse.core.keys import owner_pk
from crewhouse.files.inspection import OCR_TYPES, normalise
from crewhouse.files.wiring import service_for as file_service
from crewhouse.jobs.types.base import TENANT_SEARCH, PermanentJobError, SearchHit, SearchProvider, SourceDocument
from crewhouse.notes.searching import SearchFilters, search_notes
from crewhouse.notes.wiring import service_for as note_service
from crewhouse.search.index import DynamoSearchIndex
from crewhouse.search.ranking import search
from crewhouse.search.text import query_terms, tokens

if TYPE_CHECKING:
    from crewhouse.files.logic import FileService
    from crewhouse.files.models import File
    from crewhouse.jobs.settings import JobsSettings
    from crewhouse.notes.logic import NoteService
    from crewhouse.notes.searching import SearchIndex

MAX_SOURCE_BYTES = 10 * 1024 * 1024  # a job reads a file into memory: bigger ones are refused, not truncated
SNIPPET_CHARS = 300
# Types read as text straight from their bytes (besides text/*); images and PDFs are read through their OCR text.
TEXT_TYPES = frozenset({"application/json", "application/ld+json", "application/x-ndjson", "application/xml",
                        "application/yaml", "application/x-yaml", "application/csv", "application/markdown"})
# Uploads a client labelled application/octet-stream are read as text by their name's extension.
TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".csv", ".tsv", ".json", ".ndjson", ".xml", ".yaml", ".yml", ".log")


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def is_text_type(content_type: str) -> bool:
    media_type = _media_type(content_type)
    return media_type.startswith("text/") or media_type in TEXT_TYPES


def decode_text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # every byte is a character: legacy exports are often Windows-1252


class StoreSources:
    """The job owner's notes and files, read through their services (the :class:`Sources` of a job run)."""

    def __init__(self, notes: NoteService, files: FileService, identity: Identity, *,
                 max_bytes: int = MAX_SOURCE_BYTES) -> None:
        self._notes = notes
        self._files = files
        self._identity = identity
        self._max_bytes = max_bytes

    def note(self, note_id: str) -> SourceDocument:
        try:
            note = self._notes.get(self._identity, note_id)
        except NotFound as exc:
            raise PermanentJobError(f"Note {note_id} was not found: it does not exist, is in the trash or belongs "
                                    "to someone else.") from exc
        text = note.body
        if note.checklist:
            items = "\n".join(f"- [{'x' if i.checked else ' '}] {i.text}" for i in note.checklist)
            text = f"{text.rstrip()}\n\n{items}" if text.strip() else items
        return SourceDocument(kind="note", id=note.id, title=note.title, text=text, content_type="text/markdown")

    def _available(self, file_id: str) -> File:
        try:
            file = self._files.get(self._identity, file_id)
        except NotFound as exc:
            raise PermanentJobError(f"File {file_id} was not found: it does not exist or belongs to someone "
                                    "else.") from exc
        if file.status != "available":
            raise PermanentJobError(f"File {file.filename} ({file_id}) cannot be read: its status is {file.status}.")
        return file

    def _read(self, file: File) -> bytes:
        limit_mb = self._max_bytes / (1024 * 1024)
        too_big = PermanentJobError(f"File {file.filename} ({file.id}) has {file.size:,} bytes; jobs read files "
                                    f"of at most {limit_mb:g} MB.")
        if file.size > self._max_bytes:
            raise too_big
        chunks: list[bytes] = []
        total = 0
        for chunk in self._files.stream_content(self._identity, file.id):
            total += len(chunk)
            if total > self._max_bytes:  # the object grew past what its item says: still no more than the limit
                raise too_big
            chunks.append(chunk)
        return b"".join(chunks)

    def file(self, file_id: str) -> SourceDocument:
        """A file's text: its bytes for text, markdown, CSV and JSON; the extracted (OCR) text for images and PDFs."""
        file = self._available(file_id)
        media_type = normalise(file.content_type)
        if is_text_type(media_type) or (media_type == "application/octet-stream"
                                         and file.filename.lower().endswith(TEXT_SUFFIXES)):
            text = decode_text(self._read(file))
        elif media_type in OCR_TYPES or normalise(file.detected_type or "") in OCR_TYPES:
            if file.ocr.status != "done" or not file.ocr.text:
                why = f": {file.ocr.reason}" if file.ocr.reason else ""
                raise PermanentJobError(f"File {file.filename} ({file_id}) has no extracted text (OCR status "
                                        f"{file.ocr.status}{why}).")
            text = file.ocr.text
        else:
            raise PermanentJobError(f"File {file.filename} ({file_id}) is {media_type}: jobs read text, markdown, "
                                    "CSV and JSON files, and images and PDFs through their extracted text.")
        return SourceDocument(kind="file", id=file.id, title=file.filename, text=text, content_type=media_type)

    def file_bytes(self, file_id: str) -> tuple[str, str, bytes]:
        file = self._available(file_id)
        return file.filename, _media_type(file.content_type), self._read(file)


# --- search ----------------------------------------------------------------------------------------------------


def snippet(text: str, query: str, width: int = SNIPPET_CHARS) -> str:
    """About ``width`` characters of ``text`` around the first query word it contains (else its start)."""
    flat = " ".join(text.split())
    lower = flat.casefold()
    positions = [lower.find(word) for word in tokens(query)]
    start = min((p for p in positions if p >= 0), default=0)
    start = max(0, start - width // 3)
    if start:
        start = flat.find(" ", start) + 1 or start  # begin at a word
    cut = flat[start:start + width]
    return ("…" if start else "") + cut + ("…" if start + width < len(flat) else "")


class TenantSearch:
    """Search over the owner's own notes and files, through the shared search index (no Scan, no other owner)."""

    name = TENANT_SEARCH

    def __init__(self, notes: NoteService, files: FileService, index: SearchIndex, identity: Identity) -> None:
        self._notes = notes
        self._files = files
        self._index = index
        self._identity = identity

    def _note_hits(self, query: str, limit: int) -> list[SearchHit]:
        found = search_notes(self._notes, self._index, self._identity, query, limit, SearchFilters(archived=None))
        return [SearchHit(kind="note", ref=n.id, title=n.title, snippet=n.excerpt) for n in found]

    def _file_hits(self, query: str, limit: int) -> list[SearchHit]:
        """Available files whose name or extracted text matches, best first (the files index holds just those)."""
        terms = query_terms(query)
        if not terms:
            return []
        owner = owner_pk(self._identity.tenant_id, self._identity.user_id)
        hits = self._index.lookup(owner, "file", [t.term for t in terms])
        loaded: dict[str, dict[str, Any]] = {}

        def text_of(ids: list[str]) -> dict[str, str]:
            for file_id, item in self._files.store.batch_get(owner, ids).items():
                if item.get("status") == "available":  # deleted or quarantined since it was indexed: not found
                    loaded[file_id] = item
            return {i: f"{item['filename']} {item.get('ocr_text') or ''}" for i, item in loaded.items() if i in ids}

        ranked = search(terms, hits, candidates=max(limit * 3, 30), text_of=text_of)
        return [SearchHit(kind="file", ref=doc_id, title=str(loaded[doc_id]["filename"]),
                          snippet=snippet(str(loaded[doc_id].get("ocr_text") or ""), query))
                for doc_id, _ in ranked[:limit]]

    def search(self, query: str, limit: int) -> list[SearchHit]:
        """Notes and files taken in turn, each list best first, up to ``limit``."""
        if not re.search(r"\w", query):
            return []
        notes, files = self._note_hits(query, limit), self._file_hits(query, limit)
        merged = [hit for pair in zip(notes, files, strict=False) for hit in pair]
        merged += notes[len(files):] + files[len(notes):]
        return merged[:limit]


# --- wiring ----------------------------------------------------------------------------------------------------


def job_sources(settings: JobsSettings, identity: Identity) -> StoreSources:
    """The job owner's notes and files (``identity``: the job's tenant and user), through each context's own
    service and settings."""
    return StoreSources(note_service(), file_service(), identity)


def tenant_search(settings: JobsSettings, identity: Identity) -> TenantSearch:
    index = DynamoSearchIndex(aws_client("dynamodb", settings), settings.search_table)
    return TenantSearch(note_service(), file_service(), index, identity)


def web_search(settings: JobsSettings, identity: Identity) -> SearchProvider:
    """The web and the owner's notes and files, with the tenant's own search key; without one, the latter alone."""
    from crewhouse.jobs.search_keys import TenantSearchKeys
    from crewhouse.jobs.web_search import WebSearch, WebSearchApi

    own = tenant_search(settings, identity)
    key = TenantSearchKeys(aws_client("secretsmanager", settings), settings.web_search_keys_prefix).get(
        identity.tenant_id)
    if not key:
        return own
    # Loopback only in local mode: the embedded cloud's corpus (crewhouse.local.web_corpus).
    return WebSearch(WebSearchApi(settings.web_search_endpoint, key, allow_loopback=settings.crewhouse_local), own)


SearchFactory = Callable[["JobsSettings", Identity], SearchProvider]
_SEARCH_PROVIDERS: dict[str, SearchFactory] = {TENANT_SEARCH: tenant_search, "web": web_search}


def register_search_provider(name: str, factory: SearchFactory) -> None:
    """Make ``RESEARCH_SEARCH_PROVIDER=<name>`` build research's search provider with ``factory``."""
    if name in _SEARCH_PROVIDERS:
        raise ValueError(f"search provider {name} registered twice")
    _SEARCH_PROVIDERS[name] = factory


class DeferredSearch:
    """A search provider built on its first use: only research searches, so the other job types read no
    tenant search key (one Secrets Manager request a job, before)."""

    def __init__(self, build: Callable[[], SearchProvider]) -> None:
        self._build = build
        self._provider: SearchProvider | None = None

    def _built(self) -> SearchProvider:
        if self._provider is None:
            self._provider = self._build()
        return self._provider

    @property
    def name(self) -> str:
        return self._built().name

    def search(self, query: str, limit: int) -> list[SearchHit]:
        return self._built().search(query, limit)


def search_provider(settings: JobsSettings, identity: Identity) -> SearchProvider:
    """The search provider ``RESEARCH_SEARCH_PROVIDER`` names (default ``web``, see :func:`web_search`), built
    when the job first searches."""
    name = settings.research_search_provider.strip().lower() or TENANT_SEARCH
    factory = _SEARCH_PROVIDERS.get(name)
    if factory is None:
        raise ValueError(f"RESEARCH_SEARCH_PROVIDER={name!r} names no search provider; known: "
                         f"{', '.join(sorted(_SEARCH_PROVIDERS))}")
    return DeferredSearch(lambda: factory(settings, identity))
