from __future__ import annotations

from crewhouse.core.settings import CoreSettings


class TasksSettings(CoreSettings):
    tasks_table: str = "crewhouse-tasks"
    search_table: str = "crewhouse-search"
    sync_table: str = "crewhouse-sync"
    reminder_schedule_group: str = "crewhouse-reminders"
    reminder_target_arn: str | None = None
    reminder_role_arn: str | None = None
