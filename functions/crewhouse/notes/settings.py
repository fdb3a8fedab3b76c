from __future__ import annotations

from crewhouse.core.settings import CoreSettings


class NotesSettings(CoreSettings):
    notes_table: str = "crewhouse-notes"
    tasks_table: str = "crewhouse-tasks"
    search_table: str = "crewhouse-search"
    sync_table: str = "crewhouse-sync"
    files_bucket: str = "crewhouse-files"
