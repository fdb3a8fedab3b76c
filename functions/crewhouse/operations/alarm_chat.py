"""Alarms to a chat channel: the alarms topic's SNS messages posted to a Slack-compatible incoming webhook.

The webhook URL is a secret (anyone holding it can post to the channel): it lives in Secrets Manager, is read once
per container, and the post goes through the SSRF guard (``crewhouse.core.ssrf.post``), so a URL pointed at an
internal address is refused. A failed post raises: SNS retries the delivery to Lambda, then the topic's delivery
failure shows in its metrics; the alarm itself is already recorded in CloudWatch.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from crewhouse.core.aws import aws_client
from crewhouse.core.observability import logger
from crewhouse.core.settings import CoreSettings, load_settings

STATE_MARKS = {"ALARM": ":rotating_light:", "OK": ":white_check_mark:", "INSUFFICIENT_DATA": ":grey_question:"}


class AlarmChatSettings(CoreSettings):
    # The secret whose value is the incoming webhook's URL (a plain string, or JSON with a "url" key).
    alarm_chat_webhook_secret_arn: str
    # Where the runbooks are read (the repository's docs/runbooks.md, as a browsable URL when one is configured).
    runbook_base_url: str = "docs/runbooks.md"
    # Locally (the embedded cloud) a receiver on loopback is allowed, as for every other guarded request.
    crewhouse_local: bool = False


def chat_message(alarm: dict[str, Any], runbook_base_url: str) -> dict[str, Any]:
    """The chat message for a CloudWatch alarm notification (the JSON that CloudWatch publishes to SNS)."""
    state = str(alarm.get("NewStateValue") or "?")
    name = str(alarm.get("AlarmName") or "an alarm")
    description = str(alarm.get("AlarmDescription") or "")
    reason = str(alarm.get("NewStateReason") or "")
    lines = [f"{STATE_MARKS.get(state, '')} *{name}* is {state}".strip()]
    if description:
        lines.append(description)
    if reason:
        lines.append(f"> {reason[:500]}")
    anchor = description.rsplit("#", 1)[1].split()[0] if "runbooks.md#" in description else ""
    if anchor:
        lines.append(f"Runbook: {runbook_base_url}#{anchor}")
    return {"text": "\n".join(lines)}


@cache
def _webhook_url(settings: AlarmChatSettings) -> str:
    """The webhook URL, read once per container (per settings: one function's environment)."""
    secret_arn = settings.alarm_chat_webhook_secret_arn
    value = str(aws_client("secretsmanager", settings).get_secret_value(SecretId=secret_arn)["SecretString"])
    if value.lstrip().startswith("{"):
        value = str(json.loads(value)["url"])
    return value.strip()


def post_alarm(alarm: dict[str, Any], settings: AlarmChatSettings) -> int:
    from crewhouse.core import ssrf

    url = _webhook_url(settings)
    body = json.dumps(chat_message(alarm, settings.runbook_base_url)).encode()
    answer = ssrf.post(url, body, headers={"content-type": "application/json"},
                       allow_loopback=settings.crewhouse_local)
    if not 200 <= answer.status < 300:
        raise RuntimeError(f"the chat webhook answered HTTP {answer.status}")
    return answer.status


def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    settings = load_settings(AlarmChatSettings)
    posted = 0
    for record in event.get("Records", []):
        message = record.get("Sns", {}).get("Message") or "{}"
        try:
            alarm = json.loads(message)
        except ValueError:
            alarm = {"AlarmName": "a message on the alarms topic", "NewStateReason": message}
        post_alarm(alarm if isinstance(alarm, dict) else {}, settings)
        posted += 1
    logger.info("alarms posted to chat", extra={"posted": posted})
    return {"posted": posted}
