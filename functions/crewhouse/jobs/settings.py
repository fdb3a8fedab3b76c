from __future__ import annotations

from crewhouse.llm.factory import LlmSettings


class JobsSettings(LlmSettings):
    jobs_table: str = "crewhouse-jobs"
    job_queue_url: str | None = None
    job_dead_letter_queue_url: str | None = None
    job_state_machine_arn: str | None = None
    job_schedule_group: str = "crewhouse-jobs"
    job_schedule_target_arn: str | None = None  # the function a due schedule invokes
    job_schedule_role_arn: str | None = None
    tenant_job_concurrency: int = 3
    global_job_concurrency: int = 100
    dispatch_max_receives: int = 3  # the queue's maxReceiveCount: the last receive records the dead letter
    # Read access to the owner's notes and files (sources, results) and to the search index (research).
    notes_table: str = "crewhouse-notes"
    files_table: str = "crewhouse-files"
    files_bucket: str = "crewhouse-files"
    search_table: str = "crewhouse-search"
    # ``web``: the web (with the tenant's own key, see jobs.web_search) and the tenant's notes and files, or
    # the latter alone while the tenant has no key; ``tenant``: never the web.
    research_search_provider: str = "web"
    web_search_endpoint: str = "https://api.search.brave.com/res/v1/web/search"
    web_search_keys_prefix: str = "crewhouse/web-search-keys/"
