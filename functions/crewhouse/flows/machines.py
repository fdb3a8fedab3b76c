"""Step Functions for flows: one state machine per flow, a published version per save behind the ``live``
alias, executions, task tokens. The only module that calls the Step Functions API (``logic`` sees the
``Machines`` port)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

ALIAS = "live"
RECENT_EVENTS = 100  # enough to reach the failed state's entry through its retries' events


@dataclass(frozen=True)
class Published:
    state_machine_arn: str
    version_arn: str
    alias_arn: str


def observability_options(log_group_arn: str | None) -> dict[str, Any]:
    """X-Ray tracing, and failures logged with their data to the flows' log group: the console's execution
    history already shows every step of a Standard execution, so the log keeps what an operator searches for."""
    options: dict[str, Any] = {"tracingConfiguration": {"enabled": True}}
    if log_group_arn:
        options["loggingConfiguration"] = {
            "level": "ERROR", "includeExecutionData": True,
            "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": f"{log_group_arn.removesuffix(':*')}:*"}}]}
    return options


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


class StepFunctions:
    def __init__(self, client: Any, *, role_arn: str, log_group_arn: str | None = None) -> None:
        self.client = client
        self.role_arn = role_arn
        self.options = observability_options(log_group_arn)

    def publish(self, name: str, definition: dict[str, Any], *, description: str,
                existing: Published | None) -> Published:
        """Create the state machine and its ``live`` alias (first save), or update it; either way publish the
        definition as a new version and point ``live`` at it."""
        text = json.dumps(definition, separators=(",", ":"))
        if existing is None:
            created = self.client.create_state_machine(
                name=name, definition=text, roleArn=self.role_arn, type="STANDARD", publish=True,
                versionDescription=description[:256] or "saved", **self.options)
            version_arn = created["stateMachineVersionArn"]
            alias = self.client.create_state_machine_alias(
                name=ALIAS, description="The version new executions run",
                routingConfiguration=[{"stateMachineVersionArn": version_arn, "weight": 100}])
            return Published(created["stateMachineArn"], version_arn, alias["stateMachineAliasArn"])
        updated = self.client.update_state_machine(
            stateMachineArn=existing.state_machine_arn, definition=text, roleArn=self.role_arn, publish=True,
            versionDescription=description[:256] or "saved", **self.options)
        version_arn = updated["stateMachineVersionArn"]
        self.client.update_state_machine_alias(
            stateMachineAliasArn=existing.alias_arn,
            routingConfiguration=[{"stateMachineVersionArn": version_arn, "weight": 100}])
        return Published(existing.state_machine_arn, version_arn, existing.alias_arn)

    def point_alias(self, alias_arn: str, version_arn: str) -> None:
        self.client.update_state_machine_alias(
            stateMachineAliasArn=alias_arn,
            routingConfiguration=[{"stateMachineVersionArn": version_arn, "weight": 100}])

    def delete(self, published: Published) -> None:
        for call, arn in ((self.client.delete_state_machine_alias, {"stateMachineAliasArn": published.alias_arn}),
                          (self.client.delete_state_machine, {"stateMachineArn": published.state_machine_arn})):
            try:
                call(**arn)
            except Exception as exc:
                if _code(exc) not in ("ResourceNotFound", "StateMachineDoesNotExist"):
                    raise

    def running(self, state_machine_arn: str) -> int:
        """How many executions of the state machine are running (at most 100 counted)."""
        found = self.client.list_executions(stateMachineArn=state_machine_arn, statusFilter="RUNNING",
                                            maxResults=100)
        return len(found.get("executions", []))

    def start(self, target_arn: str, name: str, payload: dict[str, Any]) -> str:
        # name= always (moto 5.2.5 needs it; it also makes the start idempotent in AWS).
        started = self.client.start_execution(stateMachineArn=target_arn, name=name,
                                              input=json.dumps(payload, separators=(",", ":")))
        return str(started["executionArn"])

    def stop(self, execution_arn: str, cause: str) -> None:
        self.client.stop_execution(executionArn=execution_arn, error="Flow.Cancelled", cause=cause[:32768])

    def describe(self, execution_arn: str) -> dict[str, Any]:
        found = self.client.describe_execution(executionArn=execution_arn)
        return {"status": found["status"], "output": found.get("output"), "error": found.get("error"),
                "cause": found.get("cause"), "stopped_at": found.get("stopDate")}

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        token = None
        while True:
            page = self.client.get_execution_history(
                executionArn=execution_arn, maxResults=1000, includeExecutionData=True,
                **({"nextToken": token} if token else {}))
            events.extend(page.get("events", []))
            token = page.get("nextToken")
            if not token:
                return events

    def entered_states(self, execution_arn: str) -> list[str]:
        """The names of the states entered last, newest first (one page of the history)."""
        page = self.client.get_execution_history(executionArn=execution_arn, reverseOrder=True,
                                                 maxResults=RECENT_EVENTS, includeExecutionData=False)
        return [str(event["stateEnteredEventDetails"]["name"]) for event in page.get("events", [])
                if event.get("stateEnteredEventDetails")]

    def redrive(self, execution_arn: str, client_token: str) -> None:
        self.client.redrive_execution(executionArn=execution_arn, clientToken=client_token)

    def succeed_task(self, token: str, output: dict[str, Any]) -> None:
        self.client.send_task_success(taskToken=token, output=json.dumps(output))

    def fail_task(self, token: str, error: str, cause: str) -> None:
        self.client.send_task_failure(taskToken=token, error=error, cause=cause[:32768])


def timestamp(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None
