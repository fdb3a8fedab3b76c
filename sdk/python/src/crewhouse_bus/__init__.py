"""Crewhouse Agentic Context Bus: the typed Python client."""

from __future__ import annotations

from crewhouse_bus._retry import RetryPolicy, parse_retry_after
from crewhouse_bus._version import __version__
from crewhouse_bus.client import DEFAULT_BASE_URL, BusClient, BusClientBuilder
from crewhouse_bus.errors import (
    BadRequestError,
    BusError,
    ChecksumMismatchError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PayloadTooLargeError,
    PreconditionFailedError,
    RateLimitedError,
    ReplyTimeoutError,
    ServerError,
    UnauthorizedError,
    error_from_response,
)
from crewhouse_bus.heartbeat import HeartbeatLoop
from crewhouse_bus.models import (
    Agent,
    AgentCredentials,
    Context,
    DownloadLink,
    Heartbeat,
    Message,
    Reply,
    SendResult,
    Settled,
    Stream,
    StreamPart,
)
from crewhouse_bus.streams import DownloadResult, Progress, Upload
from crewhouse_bus.subscription import Subscription

__all__ = [
    "DEFAULT_BASE_URL",
    "Agent",
    "AgentCredentials",
    "BadRequestError",
    "BusClient",
    "BusClientBuilder",
    "BusError",
    "ChecksumMismatchError",
    "ConflictError",
    "Context",
    "DownloadLink",
    "DownloadResult",
    "ForbiddenError",
    "Heartbeat",
    "HeartbeatLoop",
    "Message",
    "NotFoundError",
    "PayloadTooLargeError",
    "PreconditionFailedError",
    "Progress",
    "RateLimitedError",
    "Reply",
    "ReplyTimeoutError",
    "RetryPolicy",
    "SendResult",
    "ServerError",
    "Settled",
    "Stream",
    "StreamPart",
    "Subscription",
    "UnauthorizedError",
    "Upload",
    "__version__",
    "error_from_response",
    "parse_retry_after",
]
