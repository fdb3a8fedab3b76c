"""The service's ports on AWS: SES v2, SNS mobile push, EventBridge Scheduler, the platform table's members and
profiles, and the webhook channel's KMS key, SQS queue and guarded HTTP client.

The SES and Scheduler clients are made on first use: reading the inbox needs neither. Members and profiles
are read with the key shapes :mod:`crewhouse.core.tenancy` publishes (the platform context has no
wiring of its own yet); this context only reads them.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from crewhouse.core.table import Table
from crewhouse.core.tenancy import ACTIVE, member_sk, profile_key, tenant_pk
from crewhouse.notifications.logic import EndpointGone, Recipient, TokenTaken
from crewhouse.notifications.webhooks import Answer


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


class ContextOwners:
    """The recipients of bus events whose detail does not name them, read by key (one GetItem) through the owning
    context's public surface, and only in a function configured for it (its ``BUS_TABLE``, ``FLOWS_TABLE``):
    an agent's registrant in the bus registry, a flow execution's starter in the flows table."""

    def __init__(self, *, agents: bool, executions: bool) -> None:
        self._agents, self._executions = agents, executions

    def agent_owner(self, tenant_id: str, agent_id: str) -> str | None:
        if not self._agents:
            return None
        # Imported here: only agent.offline events need the bus context (the API functions never do).
        from crewhouse.bus.wiring import hosted_registry

        record = hosted_registry().store.get(tenant_id, agent_id) or {}
        creator = str(record.get("created_by") or "")
        if creator.startswith("agent:"):  # registered by another agent: no person to tell
            return None
        return creator.removeprefix("user:") or None

    def execution_starter(self, tenant_id: str, execution_id: str) -> str | None:
        if not self._executions:
            return None
        # Imported here: only approvals whose event lacks ``started_by`` need the flows context.
        from crewhouse.flows.wiring import service_for as flows_service

        run = flows_service().store.run(tenant_id, execution_id) or {}
        return str(run.get("started_by") or "") or None


class SesMailer:
    def __init__(self, sesv2: Callable[[], Any], sender: str, configuration_set: str | None) -> None:
        self._ses, self._sender, self._configuration_set = sesv2, sender, configuration_set

    def send(self, to: str, subject: str, text: str, tags: Mapping[str, str] | None = None) -> str:
        request: dict[str, Any] = {
            "FromEmailAddress": self._sender, "Destination": {"ToAddresses": [to]},
            "Content": {"Simple": {"Subject": {"Data": subject, "Charset": "UTF-8"},
                                   "Body": {"Text": {"Data": text, "Charset": "UTF-8"}}}}}
        if self._configuration_set:
            request["ConfigurationSetName"] = self._configuration_set
        if tags:  # they come back on the configuration set's events (mail.tags)
            request["EmailTags"] = [{"Name": k, "Value": v} for k, v in tags.items()]
        return str(self._ses().send_email(**request)["MessageId"])


class SnsPusher:
    """SNS platform endpoints of the deployer's platform applications (``fcm``: GCM, ``apns``: APNS)."""

    # AWS names the FCM platform GCM; the message JSON is keyed by it.
    MESSAGE_KEYS: ClassVar[dict[str, tuple[str, ...]]] = {"fcm": ("GCM",), "apns": ("APNS", "APNS_SANDBOX")}

    def __init__(self, sns: Callable[[], Any], applications: Mapping[str, str | None]) -> None:
        self._sns = sns
        self._applications = {platform: arn for platform, arn in applications.items() if arn}

    def platforms(self) -> tuple[str, ...]:
        return tuple(self._applications)

    def register(self, platform: str, token: str, user_data: str) -> str:
        try:
            answer = self._sns().create_platform_endpoint(
                PlatformApplicationArn=self._applications[platform], Token=token, CustomUserData=user_data)
        except Exception as exc:
            # SNS answers the same ARN for the same token and attributes; other attributes mean another owner.
            if _error_code(exc) == "InvalidParameter" and "already exists" in str(exc):
                raise TokenTaken(str(exc)) from exc
            raise
        return str(answer["EndpointArn"])

    def publish(self, endpoint_arn: str, platform: str, title: str, body: str, data: Mapping[str, str]) -> str:
        if platform == "fcm":
            payload: dict[str, Any] = {"notification": {"title": title, "body": body[:1000]}, "data": dict(data)}
        else:
            payload = {"aps": {"alert": {"title": title, "body": body[:1000]}, "sound": "default"}, **data}
        encoded = json.dumps(payload, separators=(",", ":"))
        message = {"default": title, **{key: encoded for key in self.MESSAGE_KEYS[platform]}}
        try:
            answer = self._sns().publish(TargetArn=endpoint_arn, MessageStructure="json",
                                         Message=json.dumps(message, separators=(",", ":")))
        except Exception as exc:
            if _error_code(exc) in ("EndpointDisabled", "NotFound"):
                raise EndpointGone(_error_code(exc)) from exc
            raise
        return str(answer["MessageId"])

    def delete(self, endpoint_arn: str) -> None:
        self._sns().delete_endpoint(EndpointArn=endpoint_arn)  # idempotent


def _error_code(exc: Exception) -> str:
    return str((getattr(exc, "response", None) or {}).get("Error", {}).get("Code") or "")


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


class KmsSecretBox:
    """Webhook secrets encrypted with KMS ``Encrypt`` under the notifications' key and an encryption context.

    Opened secrets are kept in this container for :attr:`KEEP_SECONDS` (bounded), keyed by their ciphertext and
    context: a webhook receiving many notifications costs one ``Decrypt`` per container and interval, not one per
    delivery."""

    KEEP_SECONDS = 300.0
    KEEP_AT_MOST = 256
    _opened: ClassVar[dict[tuple[str, tuple[tuple[str, str], ...]], tuple[str, float]]] = {}

    def __init__(self, kms: Callable[[], Any], key_id: str | None) -> None:
        self._kms, self._key_id = kms, key_id

    def seal(self, secret: str, context: dict[str, str]) -> str:
        if not self._key_id:
            raise RuntimeError("WEBHOOK_KEY_ID is not configured")
        answer = self._kms().encrypt(KeyId=self._key_id, Plaintext=secret.encode(), EncryptionContext=context)
        return base64.b64encode(bytes(answer["CiphertextBlob"])).decode()

    def open(self, sealed: str, context: dict[str, str]) -> str:
        cache_key = (sealed, tuple(sorted(context.items())))
        kept = self._opened.get(cache_key)
        if kept is not None and kept[1] > time.monotonic():
            return kept[0]
        request: dict[str, Any] = {"CiphertextBlob": base64.b64decode(sealed), "EncryptionContext": context}
        if self._key_id:
            request["KeyId"] = self._key_id  # only this key may open it
        secret = bytes(self._kms().decrypt(**request)["Plaintext"]).decode()
        if len(self._opened) >= self.KEEP_AT_MOST:
            self._opened.clear()
        self._opened[cache_key] = (secret, time.monotonic() + self.KEEP_SECONDS)
        return secret


class SqsDeliveryQueue:
    def __init__(self, sqs: Callable[[], Any], queue_url: str | None) -> None:
        self._sqs, self._url = sqs, queue_url

    def send(self, message: Mapping[str, Any], delay_seconds: int) -> None:
        if not self._url:
            raise RuntimeError("WEBHOOK_QUEUE_URL is not configured")
        self._sqs().send_message(QueueUrl=self._url, MessageBody=json.dumps(dict(message)),
                                 DelaySeconds=max(0, min(900, delay_seconds)))


class GuardedReceivers:
    """Webhook receivers reached through the SSRF guard only (:mod:`crewhouse.core.ssrf`)."""

    def __init__(self, *, allow_loopback: bool, timeout: float) -> None:
        self._allow_loopback, self._timeout = allow_loopback, timeout

    def check(self, url: str) -> str | None:
        from crewhouse.core.ssrf import UnsafeUrl, check_url

        try:
            check_url(url, allow_loopback=self._allow_loopback)
        except UnsafeUrl as exc:
            return exc.reason
        return None

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        from crewhouse.core.ssrf import FetchFailed, UnsafeUrl, post

        started = time.monotonic()
        try:
            page = post(url, body, headers=headers, timeout=self._timeout, allow_loopback=self._allow_loopback)
        except UnsafeUrl as exc:
            return Answer(None, f"refused: {exc.reason}", _ms(started))
        except FetchFailed as exc:
            return Answer(None, exc.reason, _ms(started))
        error = None if 200 <= page.status < 300 else f"the receiver answered HTTP {page.status}"
        return Answer(page.status, error, _ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
