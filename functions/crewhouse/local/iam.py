"""Authorize each function's AWS calls against its own role's IAM policies, as AWS would.

Covers: moto 5.2.5 authorizes nothing by default, and its switch (``INITIAL_NO_AUTH_ACTION_COUNT``) checks every
caller alike: the tests', the CLI's and the gap fillers' ``test`` keys would be refused as unknown. When it does
check, it evaluates every service except S3, SQS, IAM and STS against resource ``*`` (so an Allow naming a table
or a state machine never matches and everything is denied), turns an Allow whose ``Condition`` does not hold into
an explicit Deny, ignores ``NotResource`` and uses API names where IAM's differ (``s3:ListObjectsV2``,
``sqs:SendMessageBatch``, ``dynamodb:TransactWriteItems``).

Here only requests signed with temporary credentials that moto's STS issued (the functions' role credentials
bound by :mod:`crewhouse.local.lambda_runtime`) are authorized; every other request passes unchecked as before.
The role's inline and attached policies are evaluated the way IAM does (explicit Deny wins, else an Allow is
needed) against the real resource ARNs of the calls Crewhouse makes (:func:`checks_for`): DynamoDB tables,
indexes and streams (batch and transaction items one by one, as the per-item actions IAM checks), S3 buckets and
objects (copy sources and multi-object deletes key by key, ``s3:prefix`` for listings), SQS queues, Step Functions
state machines and executions, EventBridge buses, Scheduler schedules (with ``iam:PassRole`` on the target role),
Secrets Manager secrets, Cognito user pools, Lambda functions, Bedrock models, SES sending identities (with
``ses:FromAddress``) and KMS keys (with ``kms:EncryptionContext:<key>``). Calls of other actions are
checked by action only. Not evaluated: resource-based policies (bucket, queue and key policies, Lambda
permissions), session policies, permission boundaries, policy variables, signatures (the session token must
match) and credential expiry. Calls made by the emulator itself on a role's behalf (Step Functions tasks,
EventBridge and Scheduler targets, SQS and stream pollers) use the cloud's own keys and are not checked.

``CREWHOUSE_IAM_USAGE=<file>`` appends every distinct (role, action, resource, verdict) checked, as JSON lines.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from html import unescape
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from crewhouse.local import patches

log = logging.getLogger(__name__)
# access key id -> (role ARN, session ARN, session token); filled from moto's STS on first sight.
_sessions: dict[str, tuple[str, str, str]] = {}
_policy_cache: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
# CREWHOUSE_IAM_USAGE=<file>: append each distinct (role, action, resource, verdict) as a JSON line, to compare
# what the functions use with what their roles grant.
_usage_seen: set[tuple[str, str, str | None, str]] = set()
_usage_lock = threading.Lock()


# --- policy evaluation ---------------------------------------------------------------------------------------


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@lru_cache(maxsize=4096)
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    return re.compile(re.escape(glob).replace(r"\*", ".*").replace(r"\?", "."), re.IGNORECASE if ignore_case else 0)


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's wildcard match: ``*`` any run of characters, ``?`` one character."""
    return _pattern(pattern, ignore_case).fullmatch(value) is not None


def condition_holds(conditions: Mapping[str, Mapping[str, Any]], context: Mapping[str, str]) -> bool:
    """Whether a statement's ``Condition`` block holds for ``context`` (keys lower-cased).

    String, ARN and Bool operators with ``IfExists``, and ``Null`` (whether the key is absent); a missing key or
    an operator the emulator does not evaluate never holds, so an Allow that depends on it does not apply."""
    for operator, tests in conditions.items():
        base = operator.removesuffix("IfExists")
        for key, expected in tests.items():
            actual = context.get(key.lower())
            if operator == "Null":
                if (actual is None) != (str(expected).lower() == "true"):
                    return False
                continue
            if actual is None:
                if operator.endswith("IfExists"):
                    continue
                return False
            wanted = [str(v).lower() if base == "Bool" else str(v) for v in as_list(expected)]
            if base in ("Bool", "StringEquals", "ArnEquals"):
                ok = actual in wanted
            elif base in ("StringNotEquals", "ArnNotEquals"):
                ok = actual not in wanted
            elif base in ("StringLike", "ArnLike"):
                ok = any(glob_match(w, actual) for w in wanted)
            elif base in ("StringNotLike", "ArnNotLike"):
                ok = not any(glob_match(w, actual) for w in wanted)
            else:
                ok = False
            if not ok:
                return False
    return True


def statement_applies(statement: Mapping[str, Any], action: str, resource: str | None,
                      context: Mapping[str, str]) -> bool:
    """Whether an identity-policy statement covers ``action`` on ``resource`` (None: the resource is unknown, so
    only the action is compared; a Deny then applies only if it names every resource)."""
    if "NotAction" in statement:
        if any(glob_match(a, action, ignore_case=True) for a in as_list(statement["NotAction"])):
            return False
    elif not any(glob_match(a, action, ignore_case=True) for a in as_list(statement.get("Action", []))):
        return False
    if resource is None:
        if statement.get("Effect") == "Deny" and "*" not in as_list(statement.get("Resource", [])):
            return False
    elif "NotResource" in statement:
        if any(glob_match(r, resource) for r in as_list(statement["NotResource"])):
            return False
    elif not any(glob_match(r, resource) for r in as_list(statement.get("Resource", []))):
        return False
    return condition_holds(statement.get("Condition") or {}, context)


def decide(statements: Iterable[Mapping[str, Any]], action: str, resource: str | None,
           context: Mapping[str, str]) -> str:
    """``"Deny"`` (explicit), ``"Allow"`` or ``"None"`` (implicitly denied) for one action on one resource."""
    verdict = "None"
    for statement in statements:
        if statement_applies(statement, action, resource, context):
            if statement.get("Effect") == "Deny":
                return "Deny"
            verdict = "Allow"
    return verdict


# --- who is calling --------------------------------------------------------------------------------------------


def session_for(access_key: str, account_id: str) -> tuple[str, str, str] | None:
    """``(role ARN, session ARN, session token)`` of temporary credentials issued by moto's STS, else None."""
    found = _sessions.get(access_key)
    if found is None:
        from moto.sts.models import sts_backends

        for assumed in sts_backends[account_id]["aws"].assumed_roles:
            if assumed.access_key_id == access_key:
                found = (assumed.role_arn, assumed.arn, assumed.session_token)
                _sessions[access_key] = found
                break
    return found


def secret_for(access_key: str, account_id: str) -> str | None:
    """The secret key of temporary credentials issued by moto's STS (presigned requests are signed with it)."""
    from moto.sts.models import sts_backends

    for assumed in sts_backends[account_id]["aws"].assumed_roles:
        if assumed.access_key_id == access_key:
            return str(assumed.secret_access_key)
    return None


def role_statements(role_name: str, account_id: str) -> list[dict[str, Any]] | None:
    """Every statement of the role's inline and attached policies (parsed once per set of documents)."""
    from moto.iam.models import iam_backends

    try:
        role = iam_backends[account_id]["aws"].get_role(role_name)
    except Exception:  # deleted with its stack: nothing allows anything
        return None
    documents = [*role.policies.values()]
    for managed in role.managed_policies.values():
        documents.extend(v.document for v in managed.versions if v.is_default)
    key = (role_name, *documents)
    statements = _policy_cache.get(key)
    if statements is None:
        statements = []
        for document in documents:
            parsed = json.loads(document) if isinstance(document, str) else document
            statements.extend(as_list(parsed.get("Statement", [])))
        if len(_policy_cache) > 512:
            _policy_cache.clear()
        _policy_cache[key] = statements
    return statements


# --- what is being called ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One IAM action on one resource (None: not resolved, action only) with its condition context."""

    action: str
    resource: str | None
    context: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Call:
    """The parts of a request the resource resolvers read."""

    service: str  # the signing name: dynamodb, s3, states, events, scheduler …
    action: str  # the API operation as moto names it
    region: str
    account: str
    params: Mapping[str, Any]
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    moto_resource: str  # what moto computed ("*" for most services)


# API operations whose IAM action has another name.
ACTION_NAMES = {
    ("s3", "ListObjects"): "ListBucket", ("s3", "ListObjectsV2"): "ListBucket", ("s3", "HeadBucket"): "ListBucket",
    ("s3", "ListObjectVersions"): "ListBucketVersions",
    ("s3", "ListMultipartUploads"): "ListBucketMultipartUploads",
    ("sqs", "SendMessageBatch"): "SendMessage", ("sqs", "DeleteMessageBatch"): "DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "ChangeMessageVisibility",
    ("bedrock", "Converse"): "InvokeModel", ("bedrock", "ConverseStream"): "InvokeModelWithResponseStream",
}
_TRANSACT_WRITE = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                   "ConditionCheck": "ConditionCheckItem"}


def _arn(call: Call, service: str, resource: str) -> str:
    return f"arn:aws:{service}:{call.region}:{call.account}:{resource}"


def _dynamodb(call: Call) -> list[Check]:
    def table(name: str) -> str:
        return name if name.startswith("arn:") else _arn(call, "dynamodb", f"table/{name}")

    p = call.params
    if call.action in ("BatchGetItem", "BatchWriteItem"):
        return [Check(f"dynamodb:{call.action}", table(name)) for name in p.get("RequestItems", {})]
    if call.action == "TransactWriteItems":
        return [Check(f"dynamodb:{_TRANSACT_WRITE[kind]}", table(op["TableName"]))
                for item in p.get("TransactItems", []) for kind, op in item.items() if kind in _TRANSACT_WRITE]
    if call.action == "TransactGetItems":
        return [Check("dynamodb:GetItem", table(item["Get"]["TableName"])) for item in p.get("TransactItems", [])]
    if "TableName" in p:
        arn = table(p["TableName"])
        return [Check(f"dynamodb:{call.action}", f"{arn}/index/{p['IndexName']}" if p.get("IndexName") else arn)]
    if "StreamArn" in p:
        return [Check(f"dynamodb:{call.action}", p["StreamArn"])]
    return [Check(f"dynamodb:{call.action}", "*" if call.action in ("ListTables", "ListStreams") else None)]


def _s3(call: Call) -> list[Check]:
    action = f"s3:{ACTION_NAMES.get(('s3', call.action), call.action)}"
    bucket_arn = call.moto_resource.split("/", 1)[0]
    if call.action == "DeleteObject" and "/" not in call.moto_resource:  # DeleteObjects: each key
        keys = [unescape(k) for k in re.findall(r"<Key>(.*?)</Key>", call.body.decode("utf-8", "replace"))]
        return [Check(action, f"{bucket_arn}/{key}") for key in keys]
    if call.action == "PutObject" and "/" not in call.moto_resource and "key" in call.query:  # POST upload
        return [Check(action, f"{bucket_arn}/{call.query['key'][0]}")]
    checks = []
    if action == "s3:ListBucket":
        prefix = call.query.get("prefix", [""])[0]
        checks.append(Check(action, bucket_arn, (("s3:prefix", prefix),) if "prefix" in call.query else ()))
    else:
        checks.append(Check(action, call.moto_resource))
    source = call.headers.get("x-amz-copy-source")
    if source:  # CopyObject/UploadPartCopy also read the source
        path, _, version = unquote(source).lstrip("/").partition("?versionId=")
        checks.append(Check("s3:GetObjectVersion" if version else "s3:GetObject", f"arn:aws:s3:::{path}"))
    return checks


def _sqs(call: Call) -> list[Check]:
    resource = call.moto_resource if call.moto_resource != "*" else None
    if resource is None and call.params.get("QueueUrl"):
        resource = _arn(call, "sqs", str(call.params["QueueUrl"]).rstrip("/").rsplit("/", 1)[-1])
    return [Check(f"sqs:{ACTION_NAMES.get(('sqs', call.action), call.action)}", resource)]


def _states(call: Call) -> list[Check]:
    p = call.params
    resource = p.get("stateMachineArn") or p.get("executionArn") or p.get("mapRunArn")
    if call.action.startswith("SendTask"):
        resource = "*"  # task-token calls have no resource-level permissions
    return [Check(f"states:{call.action}", resource)]


def _events(call: Call) -> list[Check]:
    if call.action != "PutEvents":
        bus = call.params.get("EventBusName")
        return [Check(f"events:{call.action}", None if bus is None else _bus_arn(call, bus))]
    buses = {entry.get("EventBusName") or "default" for entry in call.params.get("Entries", [])}
    return [Check("events:PutEvents", _bus_arn(call, bus)) for bus in sorted(buses)]


def _bus_arn(call: Call, bus: str) -> str:
    return bus if bus.startswith("arn:") else _arn(call, "events", f"event-bus/{bus}")


def _scheduler(call: Call) -> list[Check]:
    match = re.match(r"^/schedules/([^/?]+)", call.path)
    if not match:
        return [Check(f"scheduler:{call.action}", None)]
    group = call.params.get("GroupName") or call.query.get("groupName", ["default"])[0]
    checks = [Check(f"scheduler:{call.action}", _arn(call, "scheduler", f"schedule/{group}/{unquote(match[1])}"))]
    role = (call.params.get("Target") or {}).get("RoleArn")
    if role and call.action in ("CreateSchedule", "UpdateSchedule"):
        checks.append(Check("iam:PassRole", role, (("iam:passedtoservice", "scheduler.amazonaws.com"),)))
    return checks


def _secretsmanager(call: Call) -> list[Check]:
    secret = call.params.get("SecretId")
    if secret and not str(secret).startswith("arn:"):
        from moto.secretsmanager.models import secretsmanager_backends

        known = secretsmanager_backends[call.account][call.region].secrets.get(secret)
        secret = known.arn if known is not None else None
    return [Check(f"secretsmanager:{call.action}", secret)]


def _cognito(call: Call) -> list[Check]:
    pool = call.params.get("UserPoolId")
    return [Check(f"cognito-idp:{call.action}", _arn(call, "cognito-idp", f"userpool/{pool}") if pool else None)]


def _ses(call: Call) -> list[Check]:
    """Sending checks the sender's identity, with ``ses:FromAddress`` for conditions (SES v1 and v2)."""
    sender = str(call.params.get("FromEmailAddress") or call.params.get("Source") or "")
    address = sender.rsplit("<", 1)[-1].rstrip(">").strip()
    if not address:
        return [Check(f"ses:{call.action}", None)]
    return [Check(f"ses:{call.action}", _arn(call, "ses", f"identity/{address}"), (("ses:fromaddress", address),))]


def _lambda(call: Call) -> list[Check]:
    match = re.match(r"^/[^/]+/functions/([^/?]+)", call.path)
    name = unquote(match[1]) if match else None
    if name and not name.startswith("arn:"):
        name = _arn(call, "lambda", f"function:{name}")
    action = "InvokeFunction" if call.action in ("Invoke", "InvokeAsync") else call.action
    return [Check(f"lambda:{action}", name)]


def _bedrock(call: Call) -> list[Check]:
    match = re.match(r"^/model/([^/]+)/", call.path)
    action = f"bedrock:{ACTION_NAMES.get(('bedrock', call.action), call.action)}"
    if not match:
        return [Check(action, None)]
    model = unquote(match[1])
    if not model.startswith("arn:"):
        profile = re.match(r"^(us|eu|apac|global|us-gov|jp|au|ca)\.", model)
        model = (_arn(call, "bedrock", f"inference-profile/{model}") if profile
                 else f"arn:aws:bedrock:{call.region}::foundation-model/{model}")
    return [Check(action, model)]


def _kms(call: Call) -> list[Check]:
    """A key's ARN (as given, or from its id; an alias or no ``KeyId`` checks the action only) and the request's
    encryption context as ``kms:EncryptionContext:<key>`` for conditions."""
    key = str(call.params.get("KeyId") or "")
    resource = key if key.startswith("arn:") else (
        _arn(call, "kms", f"key/{key}") if key and not key.startswith("alias/") else None)
    context = tuple((f"kms:encryptioncontext:{name}".lower(), str(value))
                    for name, value in (call.params.get("EncryptionContext") or {}).items())
    return [Check(f"kms:{call.action}", resource, context)]


RESOLVERS = {"dynamodb": _dynamodb, "s3": _s3, "sqs": _sqs, "states": _states, "events": _events,
             "scheduler": _scheduler, "secretsmanager": _secretsmanager, "cognito-idp": _cognito, "ses": _ses,
             "lambda": _lambda, "bedrock": _bedrock, "kms": _kms}
REST_JSON_SERVICES = {"scheduler", "lambda", "bedrock"}
# Actions with no resource-level permissions: IAM evaluates them against "*".
STAR_SERVICES = {"textract", "xray"}


def checks_for(call: Call) -> list[Check]:
    """The IAM actions and resources ``call`` needs, as AWS would evaluate them."""
    resolver = RESOLVERS.get(call.service)
    if resolver is not None:
        return resolver(call)
    return [Check(f"{call.service}:{call.action}", "*" if call.service in STAR_SERVICES else None)]


# --- the moto hook ---------------------------------------------------------------------------------------------


class AccessDenied(Exception):
    def __init__(self, principal: str, check: Check, verdict: str):
        on = f" on resource: {check.resource}" if check.resource else ""
        why = ("with an explicit deny in an identity-based policy" if verdict == "Deny"
               else f"because no identity-based policy allows the {check.action} action")
        super().__init__(f"User: {principal} is not authorized to perform: {check.action}{on} {why}")
        self.check = check


def authorize(call: Call, access_key: str, session_token: str) -> None:
    """Raise :class:`AccessDenied` unless the role behind ``access_key`` may make ``call``; pass others."""
    session = session_for(access_key, call.account)
    if session is None or session[2] != session_token:
        return  # not credentials our STS issued: checked as little as before
    role_arn, principal, _ = session
    if call.service == "sts" and call.action == "GetCallerIdentity":
        return
    statements = role_statements(role_arn.rsplit("/", 1)[-1], call.account) or []
    # The embedded endpoint is plain HTTP on loopback, standing in for AWS's TLS endpoints.
    base = {"aws:principalarn": role_arn, "aws:requestedregion": call.region, "aws:securetransport": "true"}
    for check in checks_for(call):
        verdict = decide(statements, check.action, check.resource, {**base, **dict(check.context)})
        if os.environ.get("CREWHOUSE_IAM_USAGE"):
            _record_usage(role_arn, check, verdict)
        if verdict != "Allow":
            raise AccessDenied(principal, check, verdict)


def _record_usage(role_arn: str, check: Check, verdict: str) -> None:
    entry = (role_arn.rsplit("/", 1)[-1], check.action, check.resource, verdict)
    with _usage_lock:
        if entry in _usage_seen:
            return
        _usage_seen.add(entry)
        with open(os.environ["CREWHOUSE_IAM_USAGE"], "a", encoding="utf-8") as out:
            out.write(json.dumps(dict(zip(("role", "action", "resource", "verdict"), entry, strict=True))) + "\n")


def _credentials(headers: Mapping[str, str], query: Mapping[str, list[str]]) -> tuple[str, str, str] | None:
    """``(access key, signing service, session token)`` from the Authorization header, a presigned query or a
    POST form; None for requests without a session token."""
    authorization = headers.get("Authorization") or headers.get("authorization") or ""
    scope = authorization.partition("Credential=")[2].partition(",")[0]
    token = headers.get("X-Amz-Security-Token") or headers.get("x-amz-security-token")
    lowered = {k.lower(): v for k, v in query.items()}
    if not scope:
        scope = (lowered.get("x-amz-credential") or [""])[0]
    if not token:
        token = (lowered.get("x-amz-security-token") or [""])[0]
    parts = scope.split("/")
    if not token or len(parts) < 4:
        return None
    return parts[0], parts[3], token


def _params(response: Any) -> Mapping[str, Any]:
    body = getattr(response, "body", None)
    if isinstance(body, dict):  # moto's DynamoDB handler has parsed it already
        return body
    if isinstance(body, (str, bytes)) and body[:1] in ("{", b"{"):
        try:
            parsed = json.loads(body)
            return parsed if isinstance(parsed, dict) else {}
        except ValueError:
            return {}
    return {k: v[0] for k, v in getattr(response, "querystring", {}).items() if isinstance(v, list) and v}


def _denied_error(response: Any, service: str, message: str, is_s3: bool) -> Exception:
    """The error each protocol's SDK parses as access denied."""
    if is_s3:
        from moto.s3.exceptions import BucketAccessDeniedError, S3AccessDeniedError

        bucket = getattr(response, "bucket_name", None)
        denied = BucketAccessDeniedError(bucket=bucket) if bucket else S3AccessDeniedError()
        denied.message = message  # S3 names the action and resource too, for same-account callers
        return denied
    from moto.core.exceptions import JsonRESTError, _RESTError

    content_type = str(response.headers.get("Content-Type") or "")
    error = (JsonRESTError("AccessDeniedException", message)
             if "json" in content_type or service in REST_JSON_SERVICES else _RESTError("AccessDenied", message))
    error.code = 403
    return error


def _authenticate_and_authorize_action(self: Any, iam_request_cls: type, resource: str = "*") -> None:
    query = getattr(self, "querystring", {}) or {}
    found = _credentials(self.headers, query)
    if found is None:
        return
    access_key, service, token = found
    from moto.iam.access_control import S3IAMRequest

    is_s3 = issubclass(iam_request_cls, S3IAMRequest)
    raw = getattr(self, "raw_body", b"") or b""
    action = (self.data.get("Action") if is_s3 else None) or self._get_action() or ""
    call = Call(service=service, action=str(action), region=self.region,
                account=self.current_account, params={} if is_s3 else _params(self),
                path=urlparse(self.uri).path, query=query if isinstance(query, dict) else parse_qs(str(query)),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=raw if isinstance(raw, bytes) else str(raw).encode(), moto_resource=resource)
    try:
        authorize(call, access_key, token)
    except AccessDenied as denied:
        log.warning("IAM denied %s", denied)  # the function may swallow the error; the console shows why
        raise _denied_error(self, service, str(denied), is_s3) from None


def install() -> None:
    """Route moto's authorization hook here (idempotent). Every service's request handler calls it."""
    from moto.core.authorization import ActionAuthenticatorMixin

    patches.patch(ActionAuthenticatorMixin, "_authenticate_and_authorize_action", _authenticate_and_authorize_action,
                  kind="accuracy", reason="authorizes calls with the functions' role credentials against their roles' "
                                          "policies as IAM does (resource ARNs, conditions, NotResource, IAM's names)")


def uninstall() -> None:
    from moto.core.authorization import ActionAuthenticatorMixin

    patches.undo(ActionAuthenticatorMixin, "_authenticate_and_authorize_action")
    _sessions.clear()
