"""The service's ports on AWS: SES v2, EventBridge Scheduler, and the platform table's members and profiles.

The SES and Scheduler clients are made on first use: reading the inbox needs neither. Members and profiles
are read with the key shapes :mod:`crewhouse.core.tenancy` publishes (the platform context has no
wiring of its own yet); this context only reads them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from crewhouse.core.table import Table
from crewhouse.core.tenancy import ACTIVE, member_sk, profile_key, tenant_pk
from crewhouse.notifications.logic import Recipient


class PlatformDirectory:
    def __init__(self, platform: Table) -> None:
        self._table = platform

    def member(self, tenant_id: str, user_id: str) -> Recipient | None:
        membership = self._table.get((tenant_pk(tenant_id), member_sk(user_id)),
                                     projection=("status", "email"))
        if not membership or membership.get("status", ACTIVE) != ACTIVE:
            return None
        profile = self._table.get(profile_key(user_id), projection=("timezone", "locale"), consistent=False) or {}
        return Recipient(user_id=user_id, email=membership.get("email") or None,
                         timezone=profile.get("timezone") or None, locale=profile.get("locale") or None)


class SesMailer:
    def __init__(self, sesv2: Callable[[], Any], sender: str, configuration_set: str | None) -> None:
        self._ses, self._sender, self._configuration_set = sesv2, sender, configuration_set

    def send(self, to: str, subject: str, text: str) -> str:
        request: dict[str, Any] = {
            "FromEmailAddress": self._sender, "Destination": {"ToAddresses": [to]},
            "Content": {"Simple": {"Subject": {"Data": subject, "Charset": "UTF-8"},
                                   "Body": {"Text": {"Data": text, "Charset": "UTF-8"}}}}}
        if self._configuration_set:
            request["ConfigurationSetName"] = self._configuration_set
        return str(self._ses().send_email(**request)["MessageId"])


class SchedulerSchedules:
    """One-time schedules (deleted after they ran) invoking the notifications' schedule function."""

    def __init__(self, scheduler: Callable[[], Any], group: str, target_arn: str | None, role_arn: str | None) -> None:
        self._scheduler, self._group, self._target, self._role = scheduler, group, target_arn, role_arn

    def at(self, name: str, when: datetime, payload: Mapping[str, Any]) -> None:
        if not (self._target and self._role):
            raise RuntimeError("DELIVERY_TARGET_ARN and DELIVERY_ROLE_ARN are required for later deliveries")
        self._scheduler().create_schedule(
            Name=name[:64], GroupName=self._group,
            ScheduleExpression=f"at({when.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S')})",
            ScheduleExpressionTimezone="UTC", FlexibleTimeWindow={"Mode": "OFF"}, ActionAfterCompletion="DELETE",
            Target={"Arn": self._target, "RoleArn": self._role, "Input": json.dumps(dict(payload)),
                    "RetryPolicy": {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 3600}})
