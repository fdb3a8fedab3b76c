"""Step Functions gaps in moto's ASL interpreter.

Covers: a ``.waitForTaskToken`` task with ``HeartbeatSeconds`` sets up its heartbeat timer only after the
invocation returns. A callback that arrives first (a fast asynchronous Lambda answering with
``SendTaskSuccess``) sets the outcome but no heartbeat, so the interpreter then waits the whole heartbeat
period and fails the task with ``States.HeartbeatTimeout``. Locally every callback comes first: moto runs
even an ``InvocationType: Event`` invoke to the end before answering it. In AWS the outcome ends the wait whenever it
arrives; :func:`install` makes a heartbeat timer created after the outcome start out already signalled.

Covers: ``StopExecution`` does not wake a task waiting for its token (it sleeps out its heartbeat or
timeout), and when the wait ends the interpreter reports ``States.Timeout`` and records it as the
execution's error, overwriting the stop: the execution ends ``FAILED``, late. In AWS a stopped execution is
``ABORTED`` at once, whatever its tasks do afterwards; :func:`install` wakes the waiting callbacks on stop
and keeps a stopped program stopped.
"""

from __future__ import annotations

from typing import Any

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint

    original = CallbackEndpoint.setup_heartbeat_endpoint

    def setup_heartbeat_endpoint(self: Any, heartbeat_seconds: int) -> Any:
        endpoint = original(self, heartbeat_seconds)
        if self.get_outcome() is not None:
            endpoint.notify()
        return endpoint

    CallbackEndpoint.setup_heartbeat_endpoint = setup_heartbeat_endpoint  # type: ignore[method-assign]

    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

    original_set_error = Environment.set_error

    def set_error(self: Any, error: Any) -> None:
        if isinstance(self._program_state, ProgramStopped):
            return
        original_set_error(self, error)

    Environment.set_error = set_error  # type: ignore[method-assign]

    original_set_stop = Environment.set_stop

    def set_stop(self: Any, stop_date: Any, cause: Any, error: Any) -> None:
        original_set_stop(self, stop_date, cause, error)
        for endpoint in list(getattr(self.callback_pool_manager, "_pool", {}).values()):
            endpoint.interrupt_all()

    Environment.set_stop = set_stop  # type: ignore[method-assign]
    _installed = True
