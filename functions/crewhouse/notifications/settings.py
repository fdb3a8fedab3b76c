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
    # The webhook channel: the delivery queue, the KMS key the signing secrets are encrypted with, and the retry
    # schedule (attempts; the first retry's delay, doubling, with jitter). Unset, the base is 30 s, and 0.5 s in
    # local mode (the embedded cloud), where plain http to loopback is allowed too.
    webhook_queue_url: str | None = None
    webhook_key_id: str | None = None
    webhook_max_attempts: int = 5
    webhook_retry_base_seconds: float | None = None
    webhook_timeout_seconds: float = 10.0
    crewhouse_local: bool = False
    # Mobile push: the SNS platform applications the deployer made (CloudFormation has none); unset, push is off.
    push_fcm_application_arn: str | None = None
    push_apns_application_arn: str | None = None
    # Set in the event consumer only: the recipients of agent.offline (the bus registry) and of flow approvals
    # whose event does not name the starter (the flows table) are read by key there.
    bus_table: str | None = None
    flows_table: str | None = None

    @property
    def retry_base_seconds(self) -> float:
        if self.webhook_retry_base_seconds is not None:
            return self.webhook_retry_base_seconds
        return 0.5 if self.crewhouse_local else 30.0
