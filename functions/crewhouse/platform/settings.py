from __future__ import annotations

from crewhouse.core.settings import CoreSettings


class PlatformSettings(CoreSettings):
    platform_table: str = "crewhouse-platform"
    files_bucket: str = "crewhouse-files"
