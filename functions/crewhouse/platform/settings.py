from __future__ import annotations

from crewhouse.core.settings import CoreSettings


class TokenHashSettings(CoreSettings):
    # The key of the keyed hash under which personal tokens and agents' credentials are stored (the authorizer
    # looks both up); a fixed key in tests.
    token_hash_secret_arn: str | None = None
    token_hash_key: str | None = None


class PlatformSettings(TokenHashSettings):
    files_bucket: str = "crewhouse-files"
    user_pool_id: str | None = None
    # The client whose refresh tokens /me/tenant exchanges for tokens naming the chosen tenant.
    mobile_client_id: str | None = None
    invitation_sender: str = "no-reply@crewhouse.local"
    sync_table: str = "crewhouse-sync"  # a changed profile is announced there
    # What is deployed (set at synth by crewhouse_cdk.release), reported by /health.
    release_version: str = "unknown"
    release_commit: str = "unknown"
