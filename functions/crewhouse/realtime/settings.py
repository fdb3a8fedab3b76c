"""What the realtime functions read from their environment."""

from __future__ import annotations

from crewhouse.core.settings import CoreSettings


class RealtimeSettings(CoreSettings):
    # Connections, subscriptions, each topic's event counter and its replay log (PK/SK; TTL expires_epoch).
    realtime_table: str = "crewhouse-realtime"
    # The WebSocket stage's management endpoint (https://<api>.execute-api.<region>.amazonaws.com/<stage>).
    realtime_callback_url: str | None = None
    # The HTTP API's Lambda authorizer, which $connect asks about the caller's credential.
    authorizer_function: str | None = None
    # Tables whose items a subscription must be able to read (read with the owning contexts' rules).
    jobs_table: str | None = None
    chat_table: str | None = None
    bus_table: str | None = None
    flows_table: str | None = None
    # API Gateway closes a WebSocket after 2 hours; a connection item outlives that a little.
    connection_seconds: int = 2 * 3600 + 600
    # Events are kept this long for clients that reconnect with their last event id (at least 5 minutes).
    replay_seconds: int = 15 * 60
