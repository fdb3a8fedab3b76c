"""The crew-run state machine's task: ``step`` runs the next task of a run, ``fail`` marks it failed
(statemachines/crew_run.asl.json). A cancelled run raises :class:`RunCancelled`, which the state machine catches."""

from __future__ import annotations

from typing import Any

from crewhouse.core.observability import logger
from crewhouse.crews.logic import CrewSteps, RunCancelled
from crewhouse.crews.wiring import crew_steps

__all__ = ["RunCancelled", "step_handler"]


@logger.inject_lambda_context(clear_state=True)
def step_handler(event: dict[str, Any], context: Any, *, steps: CrewSteps | None = None) -> dict[str, Any]:
    steps = steps or crew_steps()
    ids = dict(event["run"])
    logger.append_keys(run_id=ids.get("run_id"), crew_id=ids.get("crew_id"))
    if event.get("action") == "fail":
        return steps.fail(ids, event.get("error"))
    return steps.step(ids).as_payload()
