"""Invoke Cognito user pool Lambda triggers in the local cloud.

Covers: moto's Cognito (moto/cognitoidp/models.py) stores a pool's ``LambdaConfig`` but never invokes a
trigger, so sign-up gates and post-confirmation provisioning (e.g. stamping ``custom:tenant_id``) never run.

:func:`install` wraps ``CognitoIdpBackend`` methods and invokes the configured function synchronously,
as Cognito does, through moto's Lambda backend (so it reaches the patched ``LambdaFunction.invoke`` of
:mod:`crewhouse.local.lambda_runtime`), with AWS's event shape ``{version, region, userPoolId, userName,
callerContext, triggerSource, request, response}``:

* ``sign_up`` -> **PreSignUp** (``PreSignUp_SignUp``) *before* the user exists. A function error fails the
  call with ``UserLambdaValidationException`` ("PreSignUp failed with error ..."); the response's
  ``autoConfirmUser``/``autoVerifyEmail``/``autoVerifyPhone`` are applied (auto-confirmed users get no
  confirmation code and, as in AWS, no PostConfirmation).
* ``confirm_sign_up`` / ``admin_confirm_sign_up`` -> **PostConfirmation** (``PostConfirmation_ConfirmSignUp``)
  *after* the user is confirmed, only when the user was not confirmed yet. ``confirm_sign_up`` also sets
  ``email_verified`` when the pool auto-verifies e-mail (the code went to that address), as AWS does.
* ``confirm_forgot_password`` -> **PostConfirmation** (``PostConfirmation_ConfirmForgotPassword``).

A PostConfirmation error surfaces as ``UserLambdaValidationException`` ("PostConfirmation failed with error
...") while the user stays confirmed, as in AWS. Other triggers (pre/post authentication, token generation,
custom message, migration, ...) are not invoked.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from moto.core.exceptions import JsonRESTError

SDK_VERSION = "aws-sdk-unknown-unknown"
NO_CLIENT = "CLIENT_ID_NOT_APPLICABLE"

_install_lock = threading.Lock()
_originals: dict[str, Callable[..., Any]] = {}


class UserLambdaValidationException(JsonRESTError):
    """What Cognito answers when a trigger function raises."""

    def __init__(self, message: str) -> None:
        super().__init__("UserLambdaValidationException", message)


class InvalidLambdaResponseException(JsonRESTError):
    """What Cognito answers when a trigger returns something that is not the event."""

    def __init__(self, message: str) -> None:
        super().__init__("InvalidLambdaResponseException", message)


class UnexpectedLambdaException(JsonRESTError):
    """What Cognito answers when the trigger function cannot be invoked at all."""

    def __init__(self, message: str) -> None:
        super().__init__("UnexpectedLambdaException", message)


# --- events and invocation --------------------------------------------------------------------------------


def trigger_arn(pool: Any, trigger: str) -> str | None:
    """The function configured for ``trigger`` (e.g. ``PostConfirmation``) in the pool's ``LambdaConfig``."""
    config = pool.extended_config.get("LambdaConfig") or {}
    arn = config.get(trigger)
    return str(arn) if arn else None


def trigger_event(pool: Any, user_name: str, client_id: str | None, trigger_source: str,
                  request: dict[str, Any], response: dict[str, Any] | None = None) -> dict[str, Any]:
    """The event Cognito sends to every user pool trigger."""
    return {
        "version": "1",
        "region": pool.region,
        "userPoolId": pool.id,
        "userName": user_name,
        "callerContext": {"awsSdkVersion": SDK_VERSION, "clientId": client_id or NO_CLIENT},
        "triggerSource": trigger_source,
        "request": request,
        "response": response if response is not None else {},
    }


def user_attributes(user: Any) -> dict[str, str]:
    """``request.userAttributes`` of an existing user, with ``sub`` and ``cognito:user_status``."""
    attributes = {str(name): str(value) for name, value in user.attribute_lookup.items()}
    attributes["sub"] = user.id
    attributes["cognito:user_status"] = getattr(user.status, "value", str(user.status))
    if "email" in attributes:
        attributes.setdefault("email_verified", "false")
    if "phone_number" in attributes:
        attributes.setdefault("phone_number_verified", "false")
    return attributes


def invoke_trigger(pool: Any, trigger: str, event: dict[str, Any]) -> dict[str, Any]:
    """Invoke ``trigger`` synchronously and return the event it handed back; raises what Cognito raises."""
    from moto.awslambda.exceptions import UnknownFunctionException
    from moto.awslambda.utils import get_backend

    arn = trigger_arn(pool, trigger)
    if arn is None:
        raise ValueError(f"Pool {pool.id} has no {trigger} trigger")
    _, _, _, region, account = arn.split(":", 5)[:5]
    try:
        function = get_backend(account, region).get_function(arn)
    except UnknownFunctionException as exc:
        raise UnexpectedLambdaException(f"{trigger} invocation failed: {exc.message}") from exc
    response_headers: dict[str, str] = {}
    raw = function.invoke(json.dumps(event), {"x-amz-invocation-type": "RequestResponse"}, response_headers)
    try:
        payload = json.loads(raw) if raw else None
    except ValueError:
        payload = None
    if response_headers.get("x-amz-function-error"):
        message = payload.get("errorMessage", "") if isinstance(payload, dict) else _text(raw)
        raise UserLambdaValidationException(f"{trigger} failed with error {message}.")
    if not isinstance(payload, dict):
        raise InvalidLambdaResponseException("Unrecognizable lambda output")
    return payload


def _text(raw: str | bytes | None) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw or "")


def _pool_for_client(backend: Any, client_id: str) -> Any:
    return next((pool for pool in backend.user_pools.values() if client_id in pool.clients), None)


def _post_confirmation(pool: Any, user: Any, client_id: str | None, trigger_source: str) -> None:
    if trigger_arn(pool, "PostConfirmation") is None:
        return
    event = trigger_event(pool, user.username, client_id, trigger_source,
                          request={"userAttributes": user_attributes(user)})
    invoke_trigger(pool, "PostConfirmation", event)


# --- patched backend methods -------------------------------------------------------------------------------


def _sign_up(self: Any, client_id: str, username: str, password: str,
             attributes: list[dict[str, str]]) -> tuple[Any, Any]:
    from moto.cognitoidp.models import UserStatus
    from moto.cognitoidp.utils import flatten_attrs, validate_username_format

    original = _originals["sign_up"]
    pool = _pool_for_client(self, client_id)
    if pool is None or trigger_arn(pool, "PreSignUp") is None or pool._get_user(username):
        return original(self, client_id, username, password, attributes)  # moto's own errors and path

    self._validate_password(pool.id, password)  # Cognito checks the password policy before the trigger
    requested = {str(k): str(v) for k, v in flatten_attrs(attributes or []).items()}
    for kind in pool.extended_config.get("UsernameAttributes") or []:
        if validate_username_format(username, _format=kind):
            requested[kind] = username
            break
    event = trigger_event(pool, username, client_id, "PreSignUp_SignUp",
                          request={"userAttributes": requested, "validationData": None},
                          response={"autoConfirmUser": False, "autoVerifyEmail": False, "autoVerifyPhone": False})
    answer = invoke_trigger(pool, "PreSignUp", event).get("response") or {}

    user, delivery = original(self, client_id, username, password, attributes)
    verified = [{"Name": f"{kind}_verified", "Value": "true"}
                for kind, flag in (("email", "autoVerifyEmail"), ("phone_number", "autoVerifyPhone"))
                if answer.get(flag) and kind in user.attribute_lookup]
    if verified:
        user.update_attributes(verified)
    if answer.get("autoConfirmUser"):
        user.status = UserStatus.CONFIRMED
        delivery = None  # no confirmation code is sent to an auto-confirmed user
    return user, delivery


def _confirm_sign_up(self: Any, client_id: str, username: str) -> str:
    from moto.cognitoidp.models import UserStatus

    pool = _pool_for_client(self, client_id)
    before = pool._get_user(username) if pool is not None else None
    was_confirmed = before is not None and before.status == UserStatus.CONFIRMED
    result: str = _originals["confirm_sign_up"](self, client_id, username)
    if pool is None or was_confirmed:
        return result
    user = self.admin_get_user(pool.id, username)
    if ("email" in (pool.extended_config.get("AutoVerifiedAttributes") or [])
            and "email" in user.attribute_lookup):
        user.update_attributes([{"Name": "email_verified", "Value": "true"}])
    _post_confirmation(pool, user, client_id, "PostConfirmation_ConfirmSignUp")
    return result


def _admin_confirm_sign_up(self: Any, user_pool_id: str, username: str) -> str:
    from moto.cognitoidp.models import UserStatus

    was_confirmed = self.admin_get_user(user_pool_id, username).status == UserStatus.CONFIRMED
    result: str = _originals["admin_confirm_sign_up"](self, user_pool_id, username)
    if not was_confirmed:
        _post_confirmation(self.describe_user_pool(user_pool_id), self.admin_get_user(user_pool_id, username),
                           None, "PostConfirmation_ConfirmSignUp")
    return result


def _confirm_forgot_password(self: Any, client_id: str, username: str, password: str,
                             confirmation_code: str) -> None:
    _originals["confirm_forgot_password"](self, client_id, username, password, confirmation_code)
    pool = _pool_for_client(self, client_id)
    user = pool._get_user(username) if pool is not None else None
    if user is not None:
        _post_confirmation(pool, user, client_id, "PostConfirmation_ConfirmForgotPassword")


_PATCHES: dict[str, Callable[..., Any]] = {
    "sign_up": _sign_up,
    "confirm_sign_up": _confirm_sign_up,
    "admin_confirm_sign_up": _admin_confirm_sign_up,
    "confirm_forgot_password": _confirm_forgot_password,
}


def install() -> None:
    """Patch moto's ``CognitoIdpBackend`` (idempotent); also installs the in-process Lambda runtime."""
    from moto.cognitoidp.models import CognitoIdpBackend

    from crewhouse.local import lambda_runtime

    lambda_runtime.install()
    with _install_lock:
        if _originals:
            return
        for name, replacement in _PATCHES.items():
            _originals[name] = getattr(CognitoIdpBackend, name)
            setattr(CognitoIdpBackend, name, replacement)
