"""The notifications functions' environment."""

from __future__ import annotations

from crewhouse.core.settings import CoreSettings


class NotificationsSettings(CoreSettings):
    notifications_table: str = "crewhouse-notifications"
    # The From address of notification e-mail (an SES-verified identity) and the configuration set whose
    # events (deliveries, bounces, complaints) SES publishes.
    notification_sender: str = "no-reply@crewhouse.local"
    ses_configuration_set: str | None = None
    # One-time EventBridge Scheduler schedules: sends at a time, recurring sends, deliveries after quiet hours.
    delivery_schedule_group: str = "crewhouse-notifications"
    delivery_target_arn: str | None = None
    delivery_role_arn: str | None = None
    # Where a notification's link points in e-mail (the web app); a relative link is joined to it.
    app_url: str = "https://app.crewhouse.local"
