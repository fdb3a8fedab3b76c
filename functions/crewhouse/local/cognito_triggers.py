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
...") while the user stays confirmed, as in AWS.

* every token issuance (sign-in, challenge answers, refresh) -> **Pre token generation** when the pool has a
  ``PreTokenGenerationConfig`` (event versions 2 and 3) or a ``PreTokenGeneration`` function (version 1):
  one invocation per issuance, whose ``claimsToAddOrOverride``/``claimsToSuppress`` apply to the ID token
  and (versions 2 and 3) the access token. Claims Cognito reserves are never overridden.

It also enforces what Cognito enforces and moto does not: an app client's ``WriteAttributes`` on
``SignUp`` and ``UpdateUserAttributes`` ("A client attempted to write unauthorized attribute"). Admin APIs,
authorized by IAM, are not limited by a client's attributes, here as in AWS.

Other triggers (pre/post authentication, custom message, migration, ...) are not invoked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from moto.core.exceptions import JsonRESTError

from crewhouse.local import patches

SDK_VERSION = "aws-sdk-unknown-unknown"
NO_CLIENT = "CLIENT_ID_NOT_APPLICABLE"

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
    """The function configured for ``trigger`` (e.g. ``PostConfirmation``) in the pool's ``LambdaConfig``;
    ``PreTokenGenerationConfig`` (versions 2 and 3) stands before the version-1 ``PreTokenGeneration``."""
    config = pool.extended_config.get("LambdaConfig") or {}
    if trigger == "PreTokenGeneration" and (config.get("PreTokenGenerationConfig") or {}).get("LambdaArn"):
        return str(config["PreTokenGenerationConfig"]["LambdaArn"])
    arn = config.get(trigger)
    return str(arn) if arn else None


def trigger_event(pool: Any, user_name: str | None, client_id: str | None, trigger_source: str,
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


# --- client write attributes ------------------------------------------------------------------------------


def check_write_attributes(pool: Any, client_id: str, attributes: list[dict[str, str]] | None) -> None:
    """Cognito refuses any attribute outside the app client's ``WriteAttributes`` (when it has that list)."""
    from moto.cognitoidp.exceptions import NotAuthorizedError

    client = pool.clients.get(client_id)
    allowed = (client.extended_config.get("WriteAttributes") if client is not None else None) or None
    if allowed is None:
        return
    refused = sorted({a["Name"] for a in attributes or []} - set(allowed))
    if refused:
        raise NotAuthorizedError(f"A client attempted to write unauthorized attribute: {', '.join(refused)}")


# --- pre token generation ---------------------------------------------------------------------------------

# Claims Cognito never lets a trigger add, override or suppress.
RESERVED_CLAIMS = frozenset({"acr", "amr", "at_hash", "auth_time", "aud", "azp", "c_hash", "client_id", "exp",
                             "iat", "identities", "iss", "jti", "nbf", "nonce", "origin_jti", "sub", "token_use",
                             "cognito:username", "username", "scope", "event_id"})
_claims_override: ContextVar[dict[str, Any] | None] = ContextVar("cognito_claims_override", default=None)
_token_source: ContextVar[str] = ContextVar("cognito_token_source", default="TokenGeneration_Authentication")
# The trigger's answer for an issuance, taken by its ID token after the access token (moto makes both in a row).
_pending_answers: dict[tuple[str, str, str], dict[str, Any]] = {}


def _pre_token_answer(pool: Any, client_id: str, username: str) -> dict[str, Any]:
    """``claimsAndScopeOverrideDetails`` of one issuance (a version-1 answer is converted to that shape)."""
    config = (pool.extended_config.get("LambdaConfig") or {}).get("PreTokenGenerationConfig") or {}
    version = {"V3_0": "3", "V2_0": "2"}.get(str(config.get("LambdaVersion", "")), "1")
    user = pool._get_user(username)
    request: dict[str, Any] = {"userAttributes": user_attributes(user), "groupConfiguration": {
        "groupsToOverride": [g.group_name for g in user.groups], "iamRolesToOverride": [], "preferredRole": None}}
    if version != "1":
        request["scopes"] = ["aws.cognito.signin.user.admin"]
    event = trigger_event(pool, user.username, client_id, _token_source.get(), request=request)
    event["version"] = version
    response = invoke_trigger(pool, "PreTokenGeneration", event).get("response") or {}
    if version == "1":
        details = response.get("claimsOverrideDetails") or {}
        return {"idTokenGeneration": {"claimsToAddOrOverride": details.get("claimsToAddOrOverride") or {},
                                      "claimsToSuppress": details.get("claimsToSuppress") or []}}
    return response.get("claimsAndScopeOverrideDetails") or {}


def overridden(claims: dict[str, Any], details: dict[str, Any]) -> dict[str, Any]:
    """``claims`` after a trigger's ``claimsToSuppress`` and ``claimsToAddOrOverride`` (reserved claims stay)."""
    result = {name: value for name, value in claims.items()
              if name in RESERVED_CLAIMS or name not in (details.get("claimsToSuppress") or [])}
    result.update({name: value for name, value in (details.get("claimsToAddOrOverride") or {}).items()
                   if name not in RESERVED_CLAIMS})
    return result


@contextmanager
def _overriding(details: dict[str, Any] | None) -> Iterator[None]:
    token = _claims_override.set(details or None)
    try:
        yield
    finally:
        _claims_override.reset(token)


def _create_access_token(self: Any, client_id: str, username: str, origin_jti: str) -> tuple[str, int]:
    original = _originals["create_access_token"]
    if trigger_arn(self, "PreTokenGeneration") is None:
        return original(self, client_id, username, origin_jti)
    answer = _pre_token_answer(self, client_id, username)
    _pending_answers[(self.id, username, origin_jti)] = answer
    with _overriding(answer.get("accessTokenGeneration")):
        return original(self, client_id, username, origin_jti)


def _create_id_token(self: Any, client_id: str, username: str, origin_jti: str) -> tuple[str, int]:
    original = _originals["create_id_token"]
    if trigger_arn(self, "PreTokenGeneration") is None:
        return original(self, client_id, username, origin_jti)
    answer = _pending_answers.pop((self.id, username, origin_jti), None)
    if answer is None:
        answer = _pre_token_answer(self, client_id, username)
    with _overriding(answer.get("idTokenGeneration")):
        return original(self, client_id, username, origin_jti)


def _create_jwt(self: Any, client_id: str, username: str, token_use: str, expires_in: int = 60 * 60,
                extra_data: dict[str, Any] | None = None) -> tuple[str, int]:
    details = _claims_override.get()
    if details:
        extra_data = overridden(extra_data or {}, details)
    return _originals["create_jwt"](self, client_id, username, token_use, expires_in, extra_data)


def _create_tokens_from_refresh_token(self: Any, refresh_token: str) -> tuple[str, str, int]:
    # moto signs users in through this path too; only a refresh request passes a token it did not just make.
    source = "TokenGeneration_RefreshTokens" if _refreshing.get() else "TokenGeneration_Authentication"
    token = _token_source.set(source)
    try:
        return _originals["create_tokens_from_refresh_token"](self, refresh_token)
    finally:
        _token_source.reset(token)


_refreshing: ContextVar[bool] = ContextVar("cognito_refreshing", default=False)


def _initiate_auth(self: Any, client_id: str, auth_flow: str, auth_parameters: dict[str, str]) -> Any:
    token = _refreshing.set(auth_flow in ("REFRESH_TOKEN_AUTH", "REFRESH_TOKEN"))
    try:
        return _originals["initiate_auth"](self, client_id, auth_flow, auth_parameters)
    finally:
        _refreshing.reset(token)


# --- patched backend methods -------------------------------------------------------------------------------


def _sign_up(self: Any, client_id: str, username: str, password: str,
             attributes: list[dict[str, str]]) -> tuple[Any, Any]:
    from moto.cognitoidp.models import UserStatus
    from moto.cognitoidp.utils import flatten_attrs, validate_username_format

    original = _originals["sign_up"]
    pool = _pool_for_client(self, client_id)
    if pool is not None:
        check_write_attributes(pool, client_id, attributes)
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


def _update_user_attributes(self: Any, access_token: str, attributes: list[dict[str, str]]) -> None:
    for pool in self.user_pools.values():
        if access_token in pool.access_tokens:
            client_id, _ = pool.access_tokens[access_token]
            check_write_attributes(pool, client_id, attributes)
            break
    _originals["update_user_attributes"](self, access_token, attributes)


# Each patched method: its replacement and why (moto invokes no Cognito trigger at all).
_POST_CONFIRMATION = "invokes the PostConfirmation trigger once the user is confirmed"
_PRE_TOKEN = "applies the pre token generation trigger's claims to the tokens issued"
_PATCHES: dict[str, tuple[Callable[..., Any], str]] = {
    "sign_up": (_sign_up, "invokes the PreSignUp trigger before the user exists and applies its answer; enforces "
                          "the app client's WriteAttributes"),
    "confirm_sign_up": (_confirm_sign_up, f"{_POST_CONFIRMATION}; sets email_verified when the pool auto-verifies "
                                          "e-mail"),
    "admin_confirm_sign_up": (_admin_confirm_sign_up, _POST_CONFIRMATION),
    "confirm_forgot_password": (_confirm_forgot_password, "invokes the PostConfirmation trigger "
                                                          "(PostConfirmation_ConfirmForgotPassword)"),
    "update_user_attributes": (_update_user_attributes, "enforces the app client's WriteAttributes"),
    "initiate_auth": (_initiate_auth, "tells a refresh from a sign-in, for the pre token generation trigger"),
}
_POOL_PATCHES: dict[str, tuple[Callable[..., Any], str]] = {
    "create_access_token": (_create_access_token, _PRE_TOKEN),
    "create_id_token": (_create_id_token, _PRE_TOKEN),
    "create_jwt": (_create_jwt, _PRE_TOKEN),
    "create_tokens_from_refresh_token": (_create_tokens_from_refresh_token,
                                         "gives the pre token generation trigger its source (sign-in or refresh)"),
}


def install() -> None:
    """Patch moto's ``CognitoIdpBackend`` (idempotent); also installs the in-process Lambda runtime."""
    from moto.cognitoidp.models import CognitoIdpBackend, CognitoIdpUserPool

    from crewhouse.local import lambda_runtime

    lambda_runtime.install()
    for owner, replacements in ((CognitoIdpBackend, _PATCHES), (CognitoIdpUserPool, _POOL_PATCHES)):
        for name, (replacement, reason) in replacements.items():
            _originals[name] = patches.patch(owner, name, replacement, reason=reason, kind="accuracy").original
