"""Each tenant's web search API key: one Secrets Manager secret per tenant, written and removed by its admins,
read only by the research step. The key is never returned by any API (write-only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crewhouse.core.errors import NotFound


def _missing(error: Exception) -> bool:
    return getattr(error, "response", {}).get("Error", {}).get("Code") == "ResourceNotFoundException"


class TenantSearchKeys:
    def __init__(self, secretsmanager: Any, prefix: str) -> None:
        self._secrets = secretsmanager
        self._prefix = prefix

    def _name(self, tenant_id: str) -> str:
        return f"{self._prefix}{tenant_id}/web-search"

    def put(self, tenant_id: str, api_key: str) -> None:
        """Store (or replace) the tenant's key."""
        try:
            self._secrets.put_secret_value(SecretId=self._name(tenant_id), SecretString=api_key)
        except Exception as error:
            if not _missing(error):
                raise
            self._secrets.create_secret(Name=self._name(tenant_id), SecretString=api_key,
                                        Description="Web search API key of one Crewhouse tenant (research jobs)",
                                        Tags=[{"Key": "crewhouse:tenant", "Value": tenant_id}])

    def get(self, tenant_id: str) -> str | None:
        try:
            return str(self._secrets.get_secret_value(SecretId=self._name(tenant_id))["SecretString"])
        except Exception as error:
            if _missing(error):
                return None
            raise

    def changed_at(self, tenant_id: str) -> datetime | None:
        """When the key was last set; None without one (DescribeSecret: the value is not read)."""
        try:
            described = self._secrets.describe_secret(SecretId=self._name(tenant_id))
        except Exception as error:
            if _missing(error):
                return None
            raise
        changed = described.get("LastChangedDate") or described.get("CreatedDate")
        return changed if isinstance(changed, datetime) else None

    def delete(self, tenant_id: str) -> None:
        # A forced delete of a missing secret succeeds (AWS and moto alike): ask first, to answer 404.
        if self.changed_at(tenant_id) is None:
            raise NotFound("No web search key is set for this tenant.")
        self._secrets.delete_secret(SecretId=self._name(tenant_id), ForceDeleteWithoutRecovery=True)
