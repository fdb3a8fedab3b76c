"""``Idempotency-Key`` for POSTs that create something, on Powertools idempotency with DynamoDB.

The key is scoped to tenant, user and operation, and the request payload is validated against the first
one: the same key with a different body is a 422, not a silent replay. A retry while the first request is
still running gets 409.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from crewhouse.core.errors import Conflict, ValidationProblem
from crewhouse.core.identity import Actor
from crewhouse.core.settings import CoreSettings

T = TypeVar("T")

IDEMPOTENCY_TTL_SECONDS = 24 * 3600
MAX_KEY_LENGTH = 255


def run_idempotent(
    settings: CoreSettings,
    identity: Actor,
    operation: str,
    key: str | None,
    payload: dict[str, Any],
    action: Callable[[], dict[str, Any]],
    lambda_context: Any = None,
) -> dict[str, Any]:
    """Run ``action`` once per ``key``; repeats return the first result. Without a key it just runs."""
    if not key:
        return action()
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationProblem(f"Idempotency-Key must be at most {MAX_KEY_LENGTH} characters.")
    if not settings.idempotency_table:
        raise RuntimeError("IDEMPOTENCY_TABLE is not configured")

    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    from crewhouse.core.aws import aws_client

    persistence = DynamoDBPersistenceLayer(
        table_name=settings.idempotency_table, boto3_client=aws_client("dynamodb", settings)
    )
    config = IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="payload",
        expires_after_seconds=IDEMPOTENCY_TTL_SECONDS,
    )
    if lambda_context is not None:
        config.register_lambda_context(lambda_context)

    @idempotent_function(data_keyword_argument="request", persistence_store=persistence, config=config)
    def once(request: dict[str, Any]) -> dict[str, Any]:
        return action()

    scoped_key = f"{identity.tenant_id}/{identity.user_id}/{operation}/{key}"
    try:
        return once(request={"key": scoped_key, "payload": payload})
    except IdempotencyValidationError as exc:
        raise ValidationProblem("This Idempotency-Key was already used with a different request body.",
                                slug="idempotency-key-reused") from exc
    except IdempotencyAlreadyInProgressError as exc:
        raise Conflict("A request with this Idempotency-Key is still in progress.",
                       slug="idempotency-in-progress") from exc
