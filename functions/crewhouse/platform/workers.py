"""Cognito triggers: every newly confirmed user gets a tenant, and every new token names the caller's
tenant and role from the membership table (the only source; no user-pool attribute carries a tenant)."""

from __future__ import annotations

from typing import Any

from crewhouse.core.aws import aws_client
from crewhouse.core.observability import logger
from crewhouse.core.settings import load_settings
from crewhouse.core.table import Table
from crewhouse.platform import logic
from crewhouse.platform.settings import PlatformSettings
from crewhouse.platform.store import DynamoPlatformStore

# Claims that must never reach a token from the user pool: a tenant attribute some old client may have set.
SUPPRESSED_CLAIMS = ["custom:tenant_id"]


def _store(store: logic.PlatformStore | None) -> logic.PlatformStore:
    if store is not None:
        return store
    settings = load_settings(PlatformSettings)
    return DynamoPlatformStore(Table(aws_client("dynamodb", settings), settings.platform_table))


@logger.inject_lambda_context(clear_state=True)
def post_confirmation(event: dict[str, Any], context: Any, *,
                      store: logic.PlatformStore | None = None) -> dict[str, Any]:
    if event.get("triggerSource") != "PostConfirmation_ConfirmSignUp":
        return event  # forgotten-password confirmations change nothing here
    tenant_id = logic.onboard_confirmed_user(event["userName"], event["request"]["userAttributes"], _store(store))
    logger.info("tenant ready for confirmed user", extra={"tenant_id": tenant_id})
    return event  # Cognito expects the event back


@logger.inject_lambda_context(clear_state=True)
def pre_token_generation(event: dict[str, Any], context: Any, *,
                         store: logic.PlatformStore | None = None) -> dict[str, Any]:
    """Pre token generation, event versions 2 and 3: the same claims in ID and access tokens. Machine
    clients (``TokenGeneration_ClientCredentials``, version 3) are principals by their client id."""
    request = event.get("request") or {}
    if event.get("triggerSource") == "TokenGeneration_ClientCredentials":
        principal_id = str((event.get("callerContext") or {}).get("clientId") or "")
    else:
        principal_id = str((request.get("userAttributes") or {}).get("sub") or event.get("userName") or "")
    claims = logic.token_claims(principal_id, _store(store)) if principal_id else {}
    event["response"] = {"claimsAndScopeOverrideDetails": {
        "idTokenGeneration": {"claimsToAddOrOverride": claims, "claimsToSuppress": SUPPRESSED_CLAIMS},
        "accessTokenGeneration": {"claimsToAddOrOverride": claims, "claimsToSuppress": SUPPRESSED_CLAIMS},
    }}
    return event
