from __future__ import annotations

from crewhouse.core.settings import CoreSettings

GIB = 1 << 30
MIB = 1 << 20


class FilesSettings(CoreSettings):
    files_table: str = "crewhouse-files"
    files_bucket: str = "crewhouse-files"
    tasks_table: str = "crewhouse-tasks"
    # Unset until the notes context exists: attaching to a note then answers 404.
    notes_table: str | None = None
    search_table: str = "crewhouse-search"
    default_user_quota_bytes: int = 10 * GIB
    max_file_bytes: int = 5 * GIB
    multipart_threshold_bytes: int = 100 * MIB
    multipart_part_bytes: int = 16 * MIB
    upload_url_seconds: int = 15 * 60
    part_url_seconds: int = 60 * 60
    download_url_seconds: int = 5 * 60
    # GuardDuty Malware Protection scans every upload: a file becomes available only once it is clean.
    malware_scan_required: bool = False
    ocr_provider: str = "tesseract"  # textract | tesseract | none
    ocr_max_bytes: int = 10 * MIB
    thumbnail_pixels: int = 256
    # The hour (UTC) of the daily retention sweep; the CDK schedule's cron uses the same value.
    retention_sweep_hour: int = 3
