"""The notifications' background functions.

- ``on_domain_event``: the target of the EventBridge rules on the ``crewhouse`` bus (``job.succeeded``,
  ``job.failed``, ``task.reminder.due``): a notification for the job's or task's owner, per their preferences.
- ``on_email_event``: the target of the rule on the default bus for SES's events of the configuration set
  (``Email Delivered``, ``Email Bounced``, ``Email Complaint Received``): each on the notification's e-mail history.
- ``on_schedule``: the target of the one-time EventBridge Scheduler schedules: a send at its time (and the next
  one of a recurrence), or an e-mail deferred by quiet hours.
- ``deliver_webhooks``: the webhook delivery queue's consumer (SQS, Powertools ``BatchProcessor``, partial batch
  failures): one signed POST a message; a failed attempt queues the next with backoff and jitter, the last one
  dead-letters the delivery (:mod:`crewhouse.notifications.webhooks`). A message whose handling itself fails (a
  DynamoDB or KMS error) comes back after the visibility timeout, and after 5 receives goes to the queue's DLQ.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from crewhouse.core.observability import logger
from crewhouse.core.settings import load_settings
from crewhouse.notifications.settings import NotificationsSettings
from crewhouse.notifications.wiring import service_for, webhooks_for


@logger.inject_lambda_context(clear_state=True)
def on_domain_event(event: dict[str, Any], context: Any) -> dict[str, Any]:
    notification = service_for().on_event(event, datetime.now(UTC))
    logger.info("domain event", extra={"detail_type": event.get("detail-type"),
                                       "notification_id": notification.id if notification else None})
    return {"notification_id": notification.id if notification else None}


@logger.inject_lambda_context(clear_state=True)
def on_email_event(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The target of the rule on the default bus for the configuration set's SES events (delivered, bounced,
    complained): recorded on the notification's e-mail history; a hard bounce suppresses the address."""
    result = service_for().on_email_event(event, datetime.now(UTC))
    logger.info("email event", extra={"detail_type": event.get("detail-type"), **result})
    return result


@logger.inject_lambda_context(clear_state=True)
def on_schedule(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Its own later deliveries (a recurrence's next) target this function: its ARN comes from the invocation, as
    # an ARN in its own environment would be a circular reference in CloudFormation.
    settings = load_settings(NotificationsSettings)
    if not settings.delivery_target_arn and getattr(context, "invoked_function_arn", None):
        settings = settings.model_copy(update={"delivery_target_arn": context.invoked_function_arn})
    result = service_for(settings).on_schedule(event, datetime.now(UTC))
    logger.info("schedule fired", extra={"kind": event.get("kind"), **result})
    return result


@logger.inject_lambda_context(clear_state=True)
def deliver_webhooks(event: dict[str, Any], context: Any) -> dict[str, Any]:
    import json

    # Only this handler of the module needs the batch utility: the other two do not pay for its import.
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    service = webhooks_for()
    processor = BatchProcessor(event_type=EventType.SQS)

    def handle(record: SQSRecord) -> None:
        message = json.loads(record.body)
        outcome = service.attempt(message, datetime.now(UTC))
        logger.info("webhook delivery", extra={"delivery_id": message.get("delivery_id"),
                                                "webhook_id": message.get("webhook_id"),
                                                "attempt": message.get("attempt"), "outcome": outcome})

    return dict(process_partial_response(event=event, record_handler=handle, processor=processor, context=context))
