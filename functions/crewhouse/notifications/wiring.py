"""The notifications service built from the calling function's settings (the context's public entry)."""

from __future__ import annotations

from crewhouse.core.aws import aws_client
from crewhouse.core.settings import load_settings
from crewhouse.core.table import Table
from crewhouse.notifications.adapters import PlatformDirectory, SchedulerSchedules, SesMailer
from crewhouse.notifications.logic import NotificationService
from crewhouse.notifications.settings import NotificationsSettings
from crewhouse.notifications.store import DynamoNotificationStore


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
        app_url=settings.app_url)
