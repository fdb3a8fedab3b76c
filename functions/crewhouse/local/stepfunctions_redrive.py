"""``RedriveExecution`` and a paged, newest-first execution history for moto's Step Functions (the parser backend,
``execute_state_machine``). Installed by :func:`crewhouse.local.stepfunctions.install`.

Covers: moto 5.2.5 has no ``RedriveExecution``. :func:`install` adds it for a FAILED, ABORTED or TIMED_OUT
execution of a Standard state machine (``ExecutionNotRedrivable`` otherwise), as AWS does: the same execution (same
ARN, same history, ``ExecutionRedriven`` appended) goes back to RUNNING from the state it ended in, that state
starts again with the input it had, and the states that had succeeded do not run again. ``DescribeExecution``
then shows ``redriveCount`` and ``redriveDate``; a ``clientToken`` seen before answers the same redrive again.
How: the interpreter cannot resume a finished program, so the redrive runs a copy of the execution's definition
whose ``StartAt`` is a ``Pass`` state (``redrive.resume``, visible in the history; AWS has none) that hands the
unfinished state its recorded input. Where AWS re-runs only the failed branches or iterations of a ``Parallel`` or
``Map``, this descends only into a ``Parallel`` of one branch (the flows API's wrapper); any other ``Parallel`` or
``Map`` runs again whole. The 14 days and 1,000 redrives limits are not checked.

Covers: ``GetExecutionHistory`` ignores ``reverseOrder``, ``maxResults`` and ``nextToken`` (it answers every event,
oldest first). :func:`install` pages and orders the events as AWS does.
"""

from __future__ import annotations

import copy
import datetime
import json
from typing import Any

from crewhouse.local import patches

RESUME_STATE = "redrive.resume"
REDRIVABLE = ("FAILED", "ABORTED", "TIMED_OUT")
MAX_HISTORY_PAGE = 1000


def _not_redrivable(message: str) -> Exception:
    from moto.core.exceptions import AWSError

    class ExecutionNotRedrivable(AWSError):
        TYPE = "ExecutionNotRedrivable"
        STATUS = 400

    return ExecutionNotRedrivable(message)


def unfinished_states(history: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """``(state name, its input)`` of the states entered and not exited, in the order they were entered."""
    open_states: list[tuple[str, Any]] = []
    for event in history:
        if entered := event.get("stateEnteredEventDetails"):
            raw = entered.get("input")
            open_states.append((str(entered["name"]), json.loads(raw) if isinstance(raw, str) else raw))
        elif exited := event.get("stateExitedEventDetails"):
            name = str(exited["name"])
            for index in range(len(open_states) - 1, -1, -1):
                if open_states[index][0] == name:
                    del open_states[index]
                    break
    return open_states


def resume_definition(definition: dict[str, Any], unfinished: list[tuple[str, Any]]) -> dict[str, Any]:
    """A copy of ``definition`` that starts at the unfinished state (inside a one-branch ``Parallel``: the unfinished
    state of its branch too) with the input it had; the whole definition again when none is known."""
    resumed = copy.deepcopy(definition)
    level = resumed
    while True:
        found = [(name, value) for name, value in unfinished if name in level["States"]]
        if not found:
            return resumed
        name, value = found[-1]
        entry = RESUME_STATE
        while entry in level["States"]:
            entry += "_"
        level["States"][entry] = {"Type": "Pass", "Result": value, "Next": name}
        level["StartAt"] = entry
        state = level["States"][name]
        if state.get("Type") != "Parallel" or len(state.get("Branches", [])) != 1:
            return resumed
        level = state["Branches"][0]


def _redrive(execution: Any, client_token: str | None) -> datetime.datetime:
    """Redrive ``execution`` (moto's parser ``Execution``); the redrive date."""
    from moto.stepfunctions.parser.api import ExecutionStatus, StateMachineType

    tokens: dict[str, datetime.datetime] = execution.__dict__.setdefault("redrive_tokens", {})
    if client_token and client_token in tokens:
        return tokens[client_token]
    if execution.sm_type != StateMachineType.STANDARD:
        raise _not_redrivable("Only executions of Standard state machines can be redriven.")
    if execution.exec_status not in [ExecutionStatus(status) for status in REDRIVABLE]:
        raise _not_redrivable(f"Execution is {execution.exec_status}: only FAILED, ABORTED or TIMED_OUT "
                              "executions can be redriven.")
    history = list(execution.exec_worker.env.event_manager.get_event_history())
    definition = json.loads(execution.state_machine.definition)
    resumed = json.dumps(resume_definition(definition, unfinished_states(history)))
    now = datetime.datetime.now(tz=datetime.UTC)
    count = int(execution.__dict__.get("redrive_count", 0)) + 1
    execution.redrive_count, execution.redrive_date = count, now
    if client_token:
        tokens[client_token] = now
    worker = _redrive_worker(execution, resumed, count, history[-1]["id"] if history else 0)
    execution.exec_worker = worker
    execution.exec_status = ExecutionStatus.RUNNING
    execution.stop_date = execution.error = execution.cause = execution.output = None
    worker.start()
    return now


def _redrive_worker(execution: Any, definition: str, count: int, last_event_id: int) -> Any:
    """An execution worker that runs ``definition`` on the execution's history, starting with
    ``ExecutionRedriven``."""
    from moto.stepfunctions.parser.api import HistoryEventType
    from moto.stepfunctions.parser.asl.eval.evaluation_details import EvaluationDetails
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    events = execution.exec_worker.env.event_manager
    state_machine = execution.get_start_state_machine_details()
    state_machine.definition = definition

    # moto's EventDetails type does not list this event's details; its event manager stores them all the same.
    redriven: Any = {"executionRedrivenEventDetails": {"redriveCount": count}}

    class RedriveWorker(ExecutionWorker):
        def _execution_logic(self) -> None:
            program = AmazonStateLanguageParser.parse(definition)[0]
            self.env = self._get_evaluation_environment()
            self.env.event_manager = events  # the same history, continued
            context = self.env.event_history_context
            context.source_event_id = context.last_published_event_id = last_event_id
            events.add_event(context=context, event_type=HistoryEventType.ExecutionRedriven, event_details=redriven)
            program.eval(self.env)
            self._execution_communication.terminated()

    details = EvaluationDetails(
        aws_execution_details=execution._get_start_aws_execution_details(),
        execution_details=execution.get_start_execution_details(), state_machine_details=state_machine)
    return RedriveWorker(evaluation_details=details, exec_comm=execution._get_start_execution_worker_comm(),
                         cloud_watch_logging_session=execution._cloud_watch_logging_session,
                         activity_store=execution._activity_store)


def _redrive_execution_action(self: Any) -> Any:
    """``StepFunctionResponse.redrive_execution``: the server's dispatch finds the action by its snake_case name."""
    from moto.core.responses import ActionResult

    execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
    return ActionResult({"redriveDate": _redrive(execution, self._get_param("clientToken"))})


def _with_redrives(original: Any) -> Any:
    def describe_execution(self: Any) -> Any:
        answer = original(self)
        execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
        answer.result["redriveCount"] = int(execution.__dict__.get("redrive_count", 0))
        if execution.__dict__.get("redrive_date") is not None:
            answer.result["redriveDate"] = execution.redrive_date
        return answer

    return describe_execution


def _paged_history(original: Any) -> Any:
    def get_execution_history(self: Any) -> Any:
        answer = original(self)
        events = list(answer.result.get("events") or [])
        if self._get_param("reverseOrder"):
            events.reverse()
        start = int(self._get_param("nextToken") or 0)
        size = int(self._get_param("maxResults") or 0) or MAX_HISTORY_PAGE
        page: dict[str, Any] = {"events": events[start:start + size]}
        if start + size < len(events):
            page["nextToken"] = str(start + size)
        answer.result.clear()
        answer.result.update(page)
        return answer

    return get_execution_history


def install() -> None:
    """Add ``RedriveExecution`` and page the history (idempotent)."""
    from moto.stepfunctions.responses import StepFunctionResponse

    patches.patch(StepFunctionResponse, "redrive_execution", _redrive_execution_action, expect="absent",
                  kind="accuracy", reason="RedriveExecution continues a failed, aborted or timed-out Standard "
                                          "execution from the state it ended in (moto has no such operation)")
    patches.wrap(StepFunctionResponse, "describe_execution", _with_redrives, kind="accuracy",
                 reason="DescribeExecution shows redriveCount and redriveDate")
    patches.wrap(StepFunctionResponse, "get_execution_history", _paged_history, kind="accuracy",
                 reason="GetExecutionHistory honours reverseOrder, maxResults and nextToken (moto answers every "
                        "event, oldest first)")
