"""Cognito post-confirmation trigger: every newly confirmed user gets a tenant and becomes its admin."""

from __future__ import annotations

from typing import Any

from crewhouse.core.aws import aws_client
from crewhouse.core.observability import logger
from crewhouse.core.settings import load_settings
from crewhouse.platform import logic
from crewhouse.platform.settings import PlatformSettings
from crewhouse.platform.store import CognitoDirectory, DynamoTenantStore


@logger.inject_lambda_context(clear_state=True)
def post_confirmation(event: dict[str, Any], context: Any, *, tenants: logic.TenantStore | None = None,
                      directory: logic.Directory | None = None) -> dict[str, Any]:
    if event.get("triggerSource") != "PostConfirmation_ConfirmSignUp":
        return event  # forgotten-password confirmations change nothing here
    settings = load_settings(PlatformSettings)
    tenants = tenants or DynamoTenantStore(aws_client("dynamodb", settings), settings.platform_table)
    directory = directory or CognitoDirectory(aws_client("cognito-idp", settings))
    tenant_id = logic.onboard_confirmed_user(
        event["userPoolId"], event["userName"], event["request"]["userAttributes"], tenants, directory
    )
    logger.info("tenant ready for confirmed user", extra={"tenant_id": tenant_id})
    return event  # Cognito expects the event back
