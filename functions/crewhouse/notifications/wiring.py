"""The notifications service built from the calling function's settings (the context's public entry)."""

from __future__ import annotations

from crewhouse.core.aws import aws_client
from crewhouse.core.events import Announcer
from crewhouse.core.settings import load_settings
from crewhouse.core.table import Table
from crewhouse.notifications.adapters import (
    ContextOwners,
    GuardedReceivers,
    KmsSecretBox,
    PlatformDirectory,
    SchedulerSchedules,
    SesMailer,
    SnsPusher,
    SqsDeliveryQueue,
)
from crewhouse.notifications.logic import NotificationService
from crewhouse.notifications.settings import NotificationsSettings
from crewhouse.notifications.store import DynamoNotificationStore
from crewhouse.notifications.webhooks import WebhookService


def webhooks_for(settings: NotificationsSettings | None = None, table: Table | None = None) -> WebhookService:
    """The webhook channel; KMS and SQS clients are made on first use."""
    settings = settings or load_settings(NotificationsSettings)
    table = table or Table(aws_client("dynamodb", settings), settings.notifications_table)
    return WebhookService(
        store=DynamoNotificationStore(table), box=KmsSecretBox(lambda: aws_client("kms", settings),
                                                                settings.webhook_key_id),
        queue=SqsDeliveryQueue(lambda: aws_client("sqs", settings), settings.webhook_queue_url),
        receivers=GuardedReceivers(allow_loopback=settings.crewhouse_local, timeout=settings.webhook_timeout_seconds),
        retry_base_seconds=settings.retry_base_seconds, max_attempts=settings.webhook_max_attempts,
        app_url=settings.app_url)


def service_for(settings: NotificationsSettings | None = None) -> NotificationService:
    settings = settings or load_settings(NotificationsSettings)
    table = Table(aws_client("dynamodb", settings), settings.notifications_table)
    return NotificationService(
        store=DynamoNotificationStore(table),
        directory=PlatformDirectory(table.sibling(settings.platform_table)),
        mailer=SesMailer(lambda: aws_client("sesv2", settings), settings.notification_sender,
                         settings.ses_configuration_set),
        schedules=SchedulerSchedules(lambda: aws_client("scheduler", settings), settings.delivery_schedule_group,
                                     settings.delivery_target_arn, settings.delivery_role_arn),
        app_url=settings.app_url,
        webhooks=webhooks_for(settings, table) if settings.webhook_queue_url else None,
        pusher=SnsPusher(lambda: aws_client("sns", settings), {"fcm": settings.push_fcm_application_arn,
                                                              "apns": settings.push_apns_application_arn}),
        owners=ContextOwners(agents=bool(settings.bus_table), executions=bool(settings.flows_table)),
        announce=Announcer(lambda: aws_client("events", settings), settings.event_bus_name,
                           "crewhouse.notifications").publish)
