"""Run Lambda functions in this process instead of in Docker.

Covers: moto's ``LambdaFunction.invoke`` starts a Docker container, and there is no Docker here. Every
invocation path funnels through that method (Invoke API, Step Functions tasks, SQS/EventBridge/Scheduler
deliveries from our gap fillers), so patching it once runs our real handlers for all of them.

Each call resolves the function's ``Handler`` (``module.attr``), binds the function's own environment
variables (see :func:`crewhouse.core.settings.function_environment`) and reports failures the way Lambda
does: header ``x-amz-function-error: Unhandled`` and a body with ``errorMessage``/``errorType``.

Like Lambda, the environment carries credentials of the function's execution role (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``): STS AssumeRole on the function's ``Role``, cached per role
until shortly before expiry. :mod:`crewhouse.local.iam` then authorizes the calls made with them.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from crewhouse.core.settings import function_environment
from crewhouse.local import endpoint, patches

Handler = Callable[[Any, Any], Any]

# Variables the local cloud swaps in where a function's own environment sets them (see cloud.py).
_overrides: dict[str, str] = {}
# Set in every function whatever its template says (crewhouse local's --multipart-* options): settings the template
# leaves at their defaults, e.g. the files context's multipart threshold and part size.
_additions: dict[str, str] = {}
_handlers: dict[str, Handler] = {}
_handlers_lock = threading.Lock()
_assume_roles = True
# Role ARN -> (credentials as environment variables, monotonic time to renew them).
_role_credentials: dict[str, tuple[dict[str, str], float]] = {}
_role_lock = threading.Lock()
ROLE_SESSION_SECONDS = 3600
RENEW_BEFORE_SECONDS = 300


def set_endpoint(url: str | None) -> None:
    """The AWS endpoint that invoked functions see as ``AWS_ENDPOINT_URL`` (as LocalStack's Lambdas do)."""
    endpoint.set_endpoint_url(url)


@dataclass
class LambdaContext:
    """The attributes of AWS's ``LambdaContext`` that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: float
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "local"
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def resolve_handler(path: str) -> Handler:
    """``crewhouse.platform.api.handler`` -> the callable, imported once and cached."""
    with _handlers_lock:
        found = _handlers.get(path)
        if found is None:
            module_name, _, attr = path.rpartition(".")
            if not module_name:
                raise ImportError(f"Handler {path!r} is not of the form module.function")
            found = getattr(importlib.import_module(module_name), attr)
            _handlers[path] = found
        return found


@contextmanager
def _thread_event_loop() -> Iterator[None]:
    """Lambda runs handlers on a main thread that has an event loop (Mangum relies on it); moto's
    server runs each request on a fresh thread without one, so lend it a loop for the call."""
    try:
        asyncio.get_event_loop_policy().get_event_loop()
        yield
        return
    except RuntimeError:
        pass
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        yield
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def invoke_in_process(handler_path: str, environment: Mapping[str, str], event: Any,
                      context: LambdaContext) -> tuple[Any, bool]:
    """Call a handler as Lambda would; returns ``(payload, errored)``."""
    try:
        handler = resolve_handler(handler_path)
        with function_environment({**environment, "AWS_LAMBDA_FUNCTION_NAME": context.function_name}), \
                _thread_event_loop():
            return handler(event, context), False
    except Exception as exc:  # Lambda reports every escaping exception to the caller
        return {
            "errorMessage": str(exc),
            "errorType": type(exc).__name__,
            "requestId": context.aws_request_id,
            "stackTrace": traceback.format_exception(exc)[-5:],
        }, True


def role_credentials(role_arn: str, session_name: str) -> dict[str, str]:
    """Temporary credentials of ``role_arn`` as Lambda puts them into a function's environment."""
    with _role_lock:
        cached = _role_credentials.get(role_arn)
        if cached is not None and time.monotonic() < cached[1]:
            return cached[0]
        # The embedded cloud's own (test) keys: AssumeRole itself is not subject to IAM checks locally.
        issued = endpoint.local_client("sts").assume_role(
            RoleArn=role_arn, RoleSessionName=session_name[:64], DurationSeconds=ROLE_SESSION_SECONDS,
        )["Credentials"]
        variables = {"AWS_ACCESS_KEY_ID": issued["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": issued["SecretAccessKey"],
                     "AWS_SESSION_TOKEN": issued["SessionToken"]}
        _role_credentials[role_arn] = (variables, time.monotonic() + ROLE_SESSION_SECONDS - RENEW_BEFORE_SECONDS)
        return variables


def forget_role_credentials() -> None:
    """Drop cached credentials (moto was reset: the keys it issued no longer exist)."""
    with _role_lock:
        _role_credentials.clear()


def _patched_invoke(self: Any, body: str, request_headers: Any, response_headers: Any) -> str | bytes:
    event = json.loads(body) if body else {}
    context = LambdaContext(
        function_name=self.function_name,
        invoked_function_arn=self.function_arn,
        memory_limit_in_mb=int(self.memory_size or 128),
        timeout_seconds=float(self.timeout or 3),
    )
    environment = {"AWS_REGION": self.region, **(self.environment_vars or {})}
    if endpoint.endpoint_url():
        environment["AWS_ENDPOINT_URL"] = endpoint.endpoint_url() or ""
        environment["CREWHOUSE_LOCAL"] = "true"  # e.g. the MCP server then also accepts loopback Host headers
    environment.update({k: v for k, v in _overrides.items() if k in environment})
    environment.update(_additions)
    if _assume_roles and self.role and endpoint.endpoint_url():
        environment.update(role_credentials(self.role, self.function_name))
    payload, errored = invoke_in_process(self.handler, environment, event, context)
    if errored:
        response_headers["x-amz-function-error"] = "Unhandled"
    response_headers["x-amz-executed-version"] = "$LATEST"
    return json.dumps(payload, default=str).encode("utf-8")


def override_environment(values: Mapping[str, str]) -> None:
    """Locally, replace these variables in every function whose environment sets them."""
    _overrides.clear()
    _overrides.update(values)


def add_environment(values: Mapping[str, str]) -> None:
    """Locally, set these variables in every function (replacing what was added before)."""
    _additions.clear()
    _additions.update(values)


@contextmanager
def environment_overrides(values: Mapping[str, str]) -> Iterator[None]:
    """Replace these variables too, for the span of a block (a test lowers a limit), then restore the rest."""
    saved = dict(_overrides)
    _overrides.update(values)
    try:
        yield
    finally:
        override_environment(saved)


def install(*, assume_roles: bool = True) -> None:
    """Patch moto's Lambda model, and its server's routing for speed (idempotent); ``assume_roles`` binds each
    function's role credentials."""
    global _assume_roles
    _assume_roles = assume_roles
    forget_role_credentials()
    from moto.awslambda.models import LambdaFunction

    patches.patch(LambdaFunction, "invoke", _patched_invoke, kind="accuracy",
                  reason="runs the function's handler in this process, with its environment and role credentials, "
                         "reporting errors as Lambda does (moto needs Docker)")
    # The server every invocation comes through (and the functions call back into): each request it routes
    # listed moto's package directory anew, about a twentieth of the embedded cloud's CPU.
    import moto.backends

    patches.wrap(moto.backends, "list_of_moto_modules", _listed_once, kind="speed",
                 reason="lists moto's service packages once, not on every request the server routes "
                        "(moto reads its package directory for each request)")


def _listed_once(original: Callable[[], Iterable[str]]) -> Callable[[], Iterable[str]]:
    """``moto.backends.list_of_moto_modules`` read once: the installed packages do not change while we run."""
    listed = tuple(original())

    def list_of_moto_modules() -> Iterable[str]:
        return listed

    return list_of_moto_modules
