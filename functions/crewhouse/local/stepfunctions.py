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

Covers: the interpreter builds a new boto3 client for every task it runs (``boto_client_for``) and parses
every JSONPath it meets afresh (``jsonpath_ng.parse`` builds a parser each time): together more CPU per
state than the state's own work. :func:`install` reuses one client per region, service and endpoint (the
credentials argument is unused by moto) and one parsed path per expression (parsed paths are not changed
by evaluation).

Covers: every execution parses its state machine's definition again with ANTLR, the largest cost of
starting one. :func:`install` keeps the syntax tree per definition (nothing changes it) and builds each
execution's program from it afresh, so executions still share no evaluation state.

Covers: ``RedriveExecution`` (moto has none) and ``GetExecutionHistory``'s ``reverseOrder``/``maxResults``/
``nextToken``: see :mod:`crewhouse.local.stepfunctions_redrive`, installed with these.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable
from typing import Any

from crewhouse.local import patches, stepfunctions_redrive

SYNTAX_TREES_KEPT = 64
_clients_lock = threading.Lock()
# One decorator, so that installing again recognises the patch (each lru_cache(...) call makes a new one).
_remember_parsed_paths: Callable[[Any], Any] = functools.lru_cache(maxsize=512)
_REUSED = "the interpreter reuses {what} instead of making one per {unit}"


def _heartbeat_signalled_after_outcome(original: Any) -> Any:
    def setup_heartbeat_endpoint(self: Any, heartbeat_seconds: int) -> Any:
        endpoint = original(self, heartbeat_seconds)
        if self.get_outcome() is not None:
            endpoint.notify()
        return endpoint

    return setup_heartbeat_endpoint


def _no_error_once_stopped(original: Any) -> Any:
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

    def set_error(self: Any, error: Any) -> None:
        if isinstance(self._program_state, ProgramStopped):
            return
        original(self, error)

    return set_error


def _waking_callbacks_on_stop(original: Any) -> Any:
    def set_stop(self: Any, stop_date: Any, cause: Any, error: Any) -> None:
        original(self, stop_date, cause, error)
        for endpoint in list(getattr(self.callback_pool_manager, "_pool", {}).values()):
            endpoint.interrupt_all()

    return set_stop


def _shared_clients(original: Any) -> Any:
    from moto.settings import moto_server_port

    clients: dict[tuple[str, str, str], Any] = {}

    @functools.wraps(original)
    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        key = (region, service, str(moto_server_port()))
        with _clients_lock:  # creating boto3 clients is not thread-safe; using them is
            found = clients.get(key)
            if found is None:
                found = clients[key] = original(region, service, state_credentials)
            return found

    return boto_client_for


def _parsing_each_definition_once(parse: Any) -> Any:
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    @functools.lru_cache(maxsize=SYNTAX_TREES_KEPT)
    def syntax_tree(definition: str) -> Any:
        return parse(definition)[1]  # syntax errors raise here, and nothing is kept

    def parse_once(definition: str) -> tuple[Any, Any]:
        tree = syntax_tree(definition)
        return Preprocessor().visit(tree), tree

    return staticmethod(parse_once)


def _reuse_interpreter_parts() -> None:
    # The modules that bind boto_client_for and parse by name, imported so that all of them are patched.
    import moto.stepfunctions.parser.asl.component.common.path.result_path as result_path
    import moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils
    import moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_factory  # noqa: F401
    import moto.stepfunctions.parser.asl.utils.boto_client as boto_client
    import moto.stepfunctions.parser.asl.utils.json_path as json_path
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    clients_reason = _REUSED.format(what="one boto3 client per region, service and endpoint", unit="task")
    shared = patches.wrap(boto_client, "boto_client_for", _shared_clients, reason=clients_reason, kind="speed")
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("moto.stepfunctions.parser") and \
                getattr(module, "boto_client_for", None) is shared.original:
            patches.patch(module, "boto_client_for", shared.replacement, reason=clients_reason,
                          kind="speed")
    paths_reason = _REUSED.format(what="each parsed JSONPath", unit="evaluation")
    patches.wrap(json_path, "parse", _remember_parsed_paths, reason=paths_reason, kind="speed")
    patches.wrap(result_path, "parse", _remember_parsed_paths, reason=paths_reason, kind="speed")
    patches.wrap(AmazonStateLanguageParser, "parse", _parsing_each_definition_once, kind="speed",
                 reason=_REUSED.format(what="the syntax tree of each definition", unit="execution"))


def install() -> None:
    """Patch moto's ASL interpreter (idempotent)."""
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint
    from moto.stepfunctions.parser.asl.eval.environment import Environment

    patches.wrap(CallbackEndpoint, "setup_heartbeat_endpoint", _heartbeat_signalled_after_outcome, kind="accuracy",
                 reason="a callback that came before its heartbeat timer was set up ends the wait, as in AWS "
                        "(moto then waits out the heartbeat and fails the task)")
    patches.wrap(Environment, "set_error", _no_error_once_stopped, kind="accuracy",
                 reason="a stopped execution stays ABORTED (moto records a late States.Timeout over the stop)")
    patches.wrap(Environment, "set_stop", _waking_callbacks_on_stop, kind="accuracy",
                 reason="StopExecution wakes the tasks waiting for their token at once (moto lets them sleep it out)")
    _reuse_interpreter_parts()
    stepfunctions_redrive.install()
