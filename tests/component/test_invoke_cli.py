"""``crewhouse invoke`` and the sample events in ``events/``.

* The CLI, as a subprocess on free ports: the platform function answers ``events/platform-health.json``.
* Every file in ``events/`` is JSON, and every function handler of the synthesized template has at least one
  sample event. :data:`SAMPLE_EVENTS` maps handler -> event files; a handler the template deploys but the map
  lacks fails the test, so a new context's functions cannot ship without sample events.
* Each event fits its function: HTTP events name a route of the HTTP API integrated with that function (with
  the authorizer's context exactly when the route has an authorizer, the method and path the route matches, and path and
  query parameters as API Gateway derives them); Cognito events come to the pool's trigger; DynamoDB stream
  events come from the stream of the table the function's event source mapping reads (keys as that table
  defines them); EventBridge events match the pattern of a rule that targets the function, on that rule's
  bus; SQS events come from a queue an event source mapping reads; anything else must be the input of an
  EventBridge Scheduler schedule or of a Step Functions task, so the function must be one a scheduler or
  state machine role may invoke. The documented ``crewhouse invoke`` commands in ``events/README.md`` name
  functions that exist.
* The worker samples agree with the code that produces their events: the reminder input is what the tasks
  stream worker schedules for the tasks stream sample, and the ``task.deleted`` detail has the fields the
  tasks stream worker puts on the bus.

Only the platform function is invoked through the CLI: the PostConfirmation trigger needs a real user in the
pool (it updates the user's attributes), which a fresh cloud does not have, and each further invocation
deploys the whole stack again. ``tests/component/test_sample_events.py`` runs every HTTP sample through its
handler in-process instead.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from crewhouse.local.gateway import RouteTable
from tests.support.members import StaticMemberships
from tests.support.routing import deployed_route_table
from tests.support.synth import app_functions, synthesized_template

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"

# Handler (as in the template) -> its sample events in events/. Add a line when the CDK app deploys a new
# function; the coverage test below names any handler missing here.
SAMPLE_EVENTS: dict[str, tuple[str, ...]] = {
    "crewhouse.platform.api.handler": ("platform-health.json", "platform-me.json"),
    "crewhouse.platform.authorizer.handler": ("platform-authorizer.json",),
    "crewhouse.platform.workers.post_confirmation": ("post-confirmation.json",),
    "crewhouse.platform.workers.pre_token_generation": ("pre-token-generation.json",),
    "crewhouse.tasks.api.listing.handler": ("tasks-list.json",),
    "crewhouse.tasks.api.reads.handler": ("tasks-search.json",),
    "crewhouse.tasks.api.writes.handler": ("tasks-create.json",),
    "crewhouse.tasks.api.actions.handler": ("tasks-complete.json",),
    "crewhouse.tasks.api.templates.handler": ("tasks-templates-list.json",),
    "crewhouse.tasks.workers.on_table_changes": ("tasks-stream.json",),
    "crewhouse.tasks.workers.reminder_due": ("tasks-reminder-due.json",),
    "crewhouse.notes.api.notebooks.handler": ("notes-notebooks.json",),
    "crewhouse.notes.api.listing.handler": ("notes-list.json",),
    "crewhouse.notes.api.reads.handler": ("notes-recent.json",),
    "crewhouse.notes.api.writes.handler": ("notes-create.json",),
    "crewhouse.notes.api.checklist.handler": ("notes-checklist-add.json",),
    "crewhouse.notes.api.revisions.handler": ("notes-revisions.json",),
    "crewhouse.notes.api.capture.handler": ("notes-clip.json",),
    "crewhouse.notes.api.tags.handler": ("notes-tags.json",),
    "crewhouse.notes.workers.on_table_changes": ("notes-stream.json",),
    "crewhouse.files.api.reads.handler": ("files-quota.json", "files-retention-preview.json"),
    "crewhouse.files.api.uploads.handler": ("files-create.json",),
    "crewhouse.files.api.parts.handler": ("files-parts.json",),
    "crewhouse.files.api.manage.handler": ("files-quota-policy.json",),
    "crewhouse.files.workers.on_object_created": ("files-object-created.json",),
    "crewhouse.files.workers.on_scan_result": ("files-scan-result.json",),
    "crewhouse.files.workers.on_target_deleted": ("files-task-deleted.json",),
    "crewhouse.files.workers.on_table_changes": ("files-stream.json",),
    "crewhouse.files.workers.retention_sweep": ("files-retention-sweep.json",),
    "crewhouse.files.cors.handler": ("files-cors-custom-resource.json",),
    "crewhouse.chat.api.handler": ("chat-create-session.json",),
    "crewhouse.mcp.api.handler": ("mcp-tools-list.json",),
    "crewhouse.jobs.api.handler": ("jobs-list.json",),
    "crewhouse.jobs.workers.dispatch": ("jobs-dispatch.json",),
    "crewhouse.jobs.workers.job_step": ("jobs-step-start.json",),
    "crewhouse.jobs.workers.run_agent": ("jobs-run-agent.json",),
    "crewhouse.flows.flows_api.handler": ("flows-list.json",),
    "crewhouse.flows.executions_api.handler": ("flows-executions-list.json",),
    "crewhouse.flows.runner.handler": ("flows-node-runner.json",),
    "crewhouse.jobs.workers.schedule_due": ("jobs-schedule-due.json",),
    "crewhouse.bus.agents_api.handler": ("bus-agents-list.json",),
    "crewhouse.bus.messages_api.handler": ("bus-dead-letters.json",),
    "crewhouse.bus.contexts_api.handler": ("bus-contexts-list.json",),
    "crewhouse.bus.streams_api.handler": ("bus-streams-get.json",),
    "crewhouse.bus.a2a_api.handler": ("bus-a2a-send.json",),
    "crewhouse.bus.hosted.handler": ("bus-hosted-inbox.json",),
    "crewhouse.bus.workers.sweep_offline": ("bus-offline-sweep.json",),
    "crewhouse.providers.api.handler": ("llm-providers-usage.json",),
    "crewhouse.tool_registry.api.handler": ("tools-list.json",),
    "crewhouse.tool_registry.sandbox.handler": ("tools-sandbox-run.json",),
    "crewhouse.crews.agents_api.handler": ("hosted-agents-list.json",),
    "crewhouse.crews.api.handler": ("crews-list.json",),
    "crewhouse.crews.workers.step_handler": ("crews-step.json",),
    "crewhouse.notifications.api.handler": ("notifications-list.json",),
    "crewhouse.notifications.workers.on_domain_event": ("notifications-job-succeeded.json",),
    "crewhouse.notifications.workers.on_schedule": ("notifications-schedule-due.json",),
    "crewhouse.notifications.webhooks_api.handler": ("notifications-webhook-dead-letters.json",),
    "crewhouse.notifications.workers.deliver_webhooks": ("notifications-webhook-delivery.json",),
    "crewhouse.notifications.workers.on_email_event": ("notifications-ses-delivered.json",
                                                       "notifications-ses-bounced.json",
                                                       "notifications-ses-complaint.json"),
    "crewhouse.realtime.handlers.connect": ("realtime-connect.json",),
    "crewhouse.realtime.handlers.disconnect": ("realtime-disconnect.json",),
    "crewhouse.realtime.handlers.default": ("realtime-subscribe.json",),
    "crewhouse.realtime.handlers.fan_out": ("realtime-job-progress.json",),
}

CLI_TIMEOUT = 300  # a fresh embedded cloud deploys the whole stack before invoking


# --- the synthesized template ------------------------------------------------------------------------------


def template() -> dict[str, Any]:
    return synthesized_template()


@cache
def deployed_routes() -> RouteTable:
    return deployed_route_table(template()["Resources"])


def functions() -> dict[str, str]:
    """Logical id -> Handler of every Lambda function in the template."""
    return {logical_id: properties["Handler"] for logical_id, properties in app_functions().items()}


def logical_prefix(handler: str) -> str:
    """The ``crewhouse invoke`` name of the function running ``handler``: its logical id minus CDK's hash."""
    ids = [logical_id for logical_id, h in functions().items() if h == handler]
    assert len(ids) == 1, f"{len(ids)} functions run {handler}"
    return re.sub(r"[0-9A-F]{8}$", "", ids[0])


def matching_functions(prefix: str) -> list[str]:
    """Logical ids ``crewhouse invoke <prefix>`` would match (it needs exactly one)."""
    return [logical_id for logical_id in functions() if logical_id.startswith(prefix)]


def function_ref(value: Any) -> str | None:
    """The logical id of a function referenced as ``{"Fn::GetAtt": [id, "Arn"]}`` (or ``{"Ref": id}``), else None."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        if attribute == "Arn" and logical_id in functions():
            return str(logical_id)
    if isinstance(value, dict) and value.get("Ref") in functions():
        return str(value["Ref"])
    return None


def http_routes(logical_id: str) -> dict[str, str]:
    """Route key -> authorization type of every HTTP API route whose integration invokes ``logical_id``."""
    resources = template()["Resources"]
    integrations = {key for key, r in resources.items() if r["Type"] == "AWS::ApiGatewayV2::Integration"
                    and function_ref(r["Properties"].get("IntegrationUri")) == logical_id}
    routes: dict[str, str] = {}
    for resource in resources.values():
        if resource["Type"] != "AWS::ApiGatewayV2::Route":
            continue
        target = json.dumps(resource["Properties"].get("Target"))
        if any(f'"{integration}"' in target for integration in integrations):
            routes[resource["Properties"]["RouteKey"]] = resource["Properties"].get("AuthorizationType", "NONE")
    return routes


def cognito_triggers(logical_id: str) -> set[str]:
    """The user pool triggers (``PostConfirmation``, ...) that invoke ``logical_id``; pre token generation
    (``PreTokenGenerationConfig``) by the name of its events' source, ``TokenGeneration``."""
    return {"TokenGeneration" if trigger == "PreTokenGenerationConfig" else trigger
            for resource in template()["Resources"].values() if resource["Type"] == "AWS::Cognito::UserPool"
            for trigger, target in (resource["Properties"].get("LambdaConfig") or {}).items()
            if function_ref(target.get("LambdaArn") if trigger == "PreTokenGenerationConfig" else target)
            == logical_id}


def route_match(route_key: str, method: str, path: str) -> dict[str, str] | None:
    """The path parameters API Gateway derives when ``route_key`` serves ``method path``; None: no match."""
    route_method, _, template_path = route_key.partition(" ")
    if route_method not in ("ANY", method):
        return None
    pattern = "".join(
        f"(?P<{part[1:-2]}>.+)" if part.endswith("+}") else f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("{")
        else re.escape(part)
        for part in re.split(r"(\{[^}]+\})", template_path))
    found = re.fullmatch(pattern, path)
    return found.groupdict() if found else None


def stream_tables(logical_id: str) -> set[str]:
    """Tables whose DynamoDB stream an event source mapping delivers to ``logical_id``."""
    tables = set()
    for resource in template()["Resources"].values():
        if resource["Type"] != "AWS::Lambda::EventSourceMapping":
            continue
        props = resource["Properties"]
        source = props.get("EventSourceArn")
        if function_ref(props.get("FunctionName")) == logical_id and isinstance(source, dict) \
                and "Fn::GetAtt" in source and source["Fn::GetAtt"][1] == "StreamArn":
            tables.add(str(source["Fn::GetAtt"][0]))
    return tables


def event_rules(logical_id: str) -> list[dict[str, Any]]:
    """Properties of the EventBridge rules with ``logical_id`` among their targets."""
    return [r["Properties"] for r in template()["Resources"].values() if r["Type"] == "AWS::Events::Rule"
            and any(function_ref(t.get("Arn")) == logical_id for t in r["Properties"].get("Targets") or [])]


def matches_pattern(pattern: Any, value: Any) -> bool:
    """EventBridge pattern matching, enough for our rules: literals, ``prefix``, nested objects. A value given
    as a CloudFormation reference (a bucket name, ...) is only known once deployed: it matches any string."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(k in value and matches_pattern(p, value[k]) for k, p in pattern.items())
    if isinstance(value, list):  # an array in the event matches when any of its elements does (SES's mail.tags)
        return any(matches_pattern(pattern, element) for element in value)
    for alternative in pattern:
        if isinstance(alternative, dict) and "prefix" in alternative:
            if isinstance(value, str) and value.startswith(alternative["prefix"]):
                return True
        elif isinstance(alternative, dict) and ({"Ref", "Fn::GetAtt", "Fn::Join"} & alternative.keys()):
            if isinstance(value, str) and value:
                return True
        elif alternative == value:
            return True
    return False


def service_may_invoke(logical_id: str, service: str) -> bool:
    """Whether a role that ``service`` (e.g. ``scheduler.amazonaws.com``) assumes may invoke ``logical_id``."""
    resources = template()["Resources"]
    roles = {key for key, r in resources.items() if r["Type"] == "AWS::IAM::Role"
             and service in json.dumps(r["Properties"].get("AssumeRolePolicyDocument"))}
    for resource in resources.values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        if not any(isinstance(r, dict) and r.get("Ref") in roles for r in resource["Properties"].get("Roles") or []):
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            if "lambda:InvokeFunction" in actions and any(function_ref(t) == logical_id for t in targets):
                return True
    return False


def mapped_queues(logical_id: str) -> set[str]:
    """Queues an SQS event source mapping delivers to ``logical_id``."""
    queues = set()
    for resource in template()["Resources"].values():
        props = resource.get("Properties", {})
        source = props.get("EventSourceArn")
        if resource["Type"] == "AWS::Lambda::EventSourceMapping" and function_ref(props.get("FunctionName")) == \
                logical_id and isinstance(source, dict) and source.get("Fn::GetAtt", [None, None])[1] == "Arn":
            queues.add(str(source["Fn::GetAtt"][0]))
    return queues


def load_event(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / name).read_text()))


# --- the CLI ------------------------------------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (all held open until chosen, so they cannot repeat)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def crewhouse_command() -> list[str]:
    script = Path(sys.executable).with_name("crewhouse")
    return [str(script)] if script.exists() else [sys.executable, "-m", "crewhouse.local.cli"]


def test_cli_invokes_the_platform_function_with_the_health_event() -> None:
    api_port, aws_port = free_ports(2)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    proc = subprocess.run(
        [*crewhouse_command(), "invoke", logical_prefix("crewhouse.platform.api.handler"),
         str(EVENTS / "platform-health.json"), "--port", str(api_port), "--aws-port", str(aws_port)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT, check=False,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-4000:]}"
    result = json.loads(proc.stdout)
    assert result["statusCode"] == 200
    health = json.loads(result["body"])
    assert (health["status"], set(health)) == ("ok", {"status", "version", "commit", "time"})


# --- the sample events ------------------------------------------------------------------------------------


def test_every_event_file_is_valid_json() -> None:
    files = sorted(EVENTS.glob("*.json"))
    assert files, "events/ has no sample events"
    for path in files:
        try:
            event = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            pytest.fail(f"{path.name} is not valid JSON: {exc}")
        assert isinstance(event, dict), f"{path.name}: a Lambda event is a JSON object"


def test_every_template_handler_has_a_sample_event() -> None:
    deployed = set(functions().values())
    assert deployed, "the synthesized template has no Lambda function with a Handler"
    missing = sorted(deployed - SAMPLE_EVENTS.keys())
    assert not missing, (f"handlers deployed without a sample event in events/: {missing}; add an event file and "
                         "a SAMPLE_EVENTS entry in tests/component/test_invoke_cli.py")
    stale = sorted(SAMPLE_EVENTS.keys() - deployed)
    assert not stale, f"SAMPLE_EVENTS names handlers the template no longer deploys: {stale}"
    for handler, names in SAMPLE_EVENTS.items():
        assert names, f"{handler} has no sample event"
        for name in names:
            assert (EVENTS / name).is_file(), f"{handler}: events/{name} does not exist"
    listed = {name for names in SAMPLE_EVENTS.values() for name in names}
    orphans = sorted(p.name for p in EVENTS.glob("*.json") if p.name not in listed)
    assert not orphans, f"event files no handler claims in SAMPLE_EVENTS: {orphans}"


@pytest.mark.parametrize(("handler", "name"), [(h, n) for h, names in SAMPLE_EVENTS.items() for n in names])
def test_sample_event_fits_its_function(handler: str, name: str) -> None:
    event = load_event(name)
    logical_id = next((i for i, h in functions().items() if h == handler), None)
    assert logical_id is not None, f"{handler} has a sample event but no deployed function"
    if event.get("type") == "REQUEST":  # API Gateway asking a Lambda authorizer (payload format 2.0)
        check_authorizer_event(name, event, logical_id)
    elif event.get("requestContext", {}).get("eventType") in ("CONNECT", "MESSAGE", "DISCONNECT"):  # WebSocket API
        check_websocket_event(name, event, logical_id)
    elif "routeKey" in event:  # API Gateway HTTP API, payload format 2.0
        check_http_event(name, event, logical_id)
    elif "triggerSource" in event:  # Cognito user pool trigger
        trigger = event["triggerSource"].split("_", 1)[0]
        assert trigger in cognito_triggers(logical_id), f"{name}: no user pool sends {trigger} to {logical_id}"
        assert event["request"].get("userAttributes", {}).get("sub") or event["callerContext"]["clientId"]
    elif "Records" in event and event["Records"][0].get("eventSource") == "aws:sqs":  # SQS event source mapping
        queues = mapped_queues(logical_id)
        assert queues, f"{name}: no event source mapping delivers a queue to {logical_id}"
        for record in event["Records"]:
            assert any(f"-{queue}-" in record["eventSourceARN"] for queue in queues), f"{name}: not from {queues}"
            assert {"messageId", "receiptHandle", "body", "attributes"} <= set(record), f"{name}: SQS record shape"
    elif "Records" in event:  # DynamoDB stream, through an event source mapping
        check_stream_event(name, event, logical_id)
    elif "detail-type" in event:  # EventBridge, through a rule
        check_eventbridge_event(name, event, logical_id)
    elif "ResponseURL" in event:  # CloudFormation, for a custom resource whose service token is the function
        check_custom_resource_event(name, event, logical_id)
    else:  # EventBridge Scheduler, Step Functions and other functions deliver their input as the event, unwrapped
        assert service_may_invoke(logical_id, "scheduler.amazonaws.com") or \
            service_may_invoke(logical_id, "states.amazonaws.com") or \
            service_may_invoke(logical_id, "lambda.amazonaws.com"), (
            f"{name}: neither an HTTP API, Cognito, DynamoDB stream, SQS nor EventBridge event, and no scheduler or "
            f"state machine role may invoke {logical_id}; teach this test its shape")


def check_http_event(name: str, event: dict[str, Any], logical_id: str) -> None:
    assert event["version"] == "2.0"
    routes = http_routes(logical_id)
    assert event["routeKey"] in routes, f"{name}: {event['routeKey']!r} is not one of {sorted(routes)}"
    context = event["requestContext"]
    assert context["routeKey"] == event["routeKey"]
    method, path = context["http"]["method"], context["http"]["path"]
    assert path == event["rawPath"], f"{name}: requestContext.http.path and rawPath differ"
    selected = deployed_routes().match(method, path)
    assert selected is not None and selected[0].route_key == event["routeKey"], \
        f"{name}: API Gateway selects {selected[0].route_key if selected else None!r} for {method} {path}"
    parameters = route_match(event["routeKey"], method, path)
    assert parameters is not None, f"{name}: {event['routeKey']!r} does not serve {method} {path}"
    assert event.get("pathParameters") == (parameters or None), \
        f"{name}: pathParameters must be {parameters or None} for {event['routeKey']!r}"
    query: dict[str, str] = {}
    for key, value in parse_qsl(event["rawQueryString"], keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    assert event.get("queryStringParameters") == (query or None), \
        f"{name}: queryStringParameters must be {query or None} for rawQueryString {event['rawQueryString']!r}"
    if event.get("body") is not None and not event.get("isBase64Encoded"):
        assert event["headers"].get("content-length") == str(len(event["body"].encode())), \
            f"{name}: content-length does not match the body"
    authorizer = context.get("authorizer") or {}
    shape = {"JWT": "jwt", "CUSTOM": "lambda"}.get(routes[event["routeKey"]])
    assert list(authorizer) == ([shape] if shape else []), \
        f"{name}: the route's authorizer ({routes[event['routeKey']]}) puts {shape!r} into the request context"
    if shape == "lambda":
        assert authorizer["lambda"].get("sub"), f"{name}: the authorizer's context names the caller"


WEBSOCKET_EVENT_TYPES = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}  # every other route: MESSAGE


def check_websocket_event(name: str, event: dict[str, Any], logical_id: str) -> None:
    """An API Gateway WebSocket API event: its route's integration invokes the function, on a WEBSOCKET API."""
    context = event["requestContext"]
    resources = template()["Resources"]
    websocket_apis = {key for key, r in resources.items() if r["Type"] == "AWS::ApiGatewayV2::Api"
                      and r["Properties"].get("ProtocolType") == "WEBSOCKET"}
    # A WebSocket integration names its function inside the invocation ARN (Fn::Join), not as a bare GetAtt.
    function_arn = json.dumps({"Fn::GetAtt": [logical_id, "Arn"]})
    integrations = {key for key, r in resources.items() if r["Type"] == "AWS::ApiGatewayV2::Integration"
                    and r["Properties"]["ApiId"].get("Ref") in websocket_apis
                    and function_arn in json.dumps(r["Properties"]["IntegrationUri"])}
    routes = {r["Properties"]["RouteKey"] for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Route"
              and any(f'"{i}"' in json.dumps(r["Properties"].get("Target")) for i in integrations)}
    assert context["routeKey"] in routes, f"{name}: {context['routeKey']!r} is not one of {sorted(routes)}"
    assert context["eventType"] == WEBSOCKET_EVENT_TYPES.get(context["routeKey"], "MESSAGE"), \
        f"{name}: eventType {context['eventType']!r} does not fit route {context['routeKey']!r}"
    assert context["connectionId"] and context["stage"] and "routeKey" not in event
    assert (context["eventType"] == "MESSAGE") == ("body" in event), f"{name}: only a MESSAGE carries a body"


def check_authorizer_event(name: str, event: dict[str, Any], logical_id: str) -> None:
    """An authorizer request: the function is the one an ``AWS::ApiGatewayV2::Authorizer`` calls, on a route
    that uses it, with the identity source that authorizer names."""
    resources = template()["Resources"]
    authorizers = {key: r["Properties"] for key, r in resources.items() if r["Type"] == "AWS::ApiGatewayV2::Authorizer"
                   and r["Properties"]["AuthorizerType"] == "REQUEST"
                   and f'"{logical_id}"' in json.dumps(r["Properties"]["AuthorizerUri"])}
    assert authorizers, f"{name}: no HTTP API authorizer invokes {logical_id}"
    assert event["version"] == "2.0" and event["identitySource"] == [event["headers"]["authorization"]], \
        f"{name}: the identity source is the Authorization header"
    routes = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Route"
              and r["Properties"]["RouteKey"] == event["routeKey"]]
    assert routes and all(r.get("AuthorizerId", {}).get("Ref") in authorizers for r in routes), \
        f"{name}: {event['routeKey']!r} is not a route this authorizer guards"
    assert event["requestContext"]["routeKey"] == event["routeKey"] and "authorizer" not in event["requestContext"]


def check_stream_event(name: str, event: dict[str, Any], logical_id: str) -> None:
    tables = stream_tables(logical_id)
    assert tables, f"{name}: no event source mapping delivers a DynamoDB stream to {logical_id}"
    records = event["Records"]
    assert records, f"{name}: a stream event has at least one record"
    resources = template()["Resources"]
    for index, record in enumerate(records):
        where = f"{name} Records[{index}]"
        assert record["eventSource"] == "aws:dynamodb", f"{where}: eventSource must be aws:dynamodb"
        assert record["eventName"] in ("INSERT", "MODIFY", "REMOVE"), f"{where}: eventName {record['eventName']!r}"
        arn = re.fullmatch(r"arn:aws:dynamodb:([a-z0-9-]+):(\d{12}):table/([^/]+)/stream/(.+)",
                           record["eventSourceARN"])
        assert arn, f"{where}: {record['eventSourceARN']!r} is not a DynamoDB stream ARN"
        assert arn.group(1) == record["awsRegion"], f"{where}: awsRegion differs from the stream's region"
        # CloudFormation names a table <stack>-<logical id>-<suffix>: the ARN shows which table it is.
        named = [t for t in tables if f"-{t}-" in arn.group(3)]
        assert len(named) == 1, f"{where}: {arn.group(3)!r} is none of the tables streamed to {logical_id}: " \
                                f"{sorted(tables)}"
        table = named[0]
        spec = resources[table]["Properties"]
        stream = record["dynamodb"]
        assert stream["StreamViewType"] == spec["StreamSpecification"]["StreamViewType"], f"{where}: StreamViewType"
        key_names = {k["AttributeName"] for k in spec["KeySchema"]}
        assert set(stream["Keys"]) == key_names, f"{where}: Keys must be exactly {sorted(key_names)}"
        images = {"INSERT": ("NewImage",), "MODIFY": ("NewImage", "OldImage"), "REMOVE": ("OldImage",)}
        for image in images[record["eventName"]]:
            assert image in stream, f"{where}: a {record['eventName']} record of this stream carries {image}"
            assert all(stream[image][k] == stream["Keys"][k] for k in key_names), f"{where}: {image} keys differ"


def check_custom_resource_event(name: str, event: dict[str, Any], logical_id: str) -> None:
    function_arn = {"Fn::GetAtt": [logical_id, "Arn"]}
    kinds = {r["Type"] for r in template()["Resources"].values()
             if r["Type"].startswith("Custom::") and r["Properties"].get("ServiceToken") == function_arn}
    assert event["ResourceType"] in kinds, f"{name}: no {event['ResourceType']} resource is served by {logical_id}"
    assert event["RequestType"] in ("Create", "Update", "Delete") and event["ResponseURL"].startswith("https://")
    assert {"StackId", "RequestId", "LogicalResourceId", "ResourceProperties"} <= event.keys(), f"{name}: shape"


def check_eventbridge_event(name: str, event: dict[str, Any], logical_id: str) -> None:
    envelope = {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
    assert envelope <= event.keys(), f"{name}: the EventBridge envelope lacks {sorted(envelope - event.keys())}"
    rules = event_rules(logical_id)
    assert rules, f"{name}: no EventBridge rule targets {logical_id}"
    matching = [rule for rule in rules if matches_pattern(rule["EventPattern"], event)]
    assert matching, f"{name}: matches the pattern of none of the rules targeting {logical_id}"
    # AWS services put their events on the default bus; Crewhouse's own domain events go to its bus.
    for rule in matching:
        bus = rule.get("EventBusName", "default")
        assert (bus == "default") == event["source"].startswith("aws."), \
            f"{name}: {event['source']} events do not arrive on the rule's bus {bus}"


def test_me_event_claims_read_as_an_admin_identity() -> None:
    from crewhouse.core.identity import identity_from_event

    claims = load_event("platform-me.json")["requestContext"]["authorizer"]["lambda"]
    members = StaticMemberships((claims["tenant_id"], claims["sub"], "admin"))
    identity = identity_from_event(load_event("platform-me.json"), members)
    assert identity.roles == frozenset({"admin"})
    assert identity.tenant_id and identity.user_id and identity.email


def test_post_confirmation_event_onboards_its_user() -> None:
    from crewhouse.platform.models import Tenant
    from crewhouse.platform.workers import post_confirmation

    created: list[tuple[Tenant, str | None]] = []

    class Tenants:
        def create_tenant(self, tenant: Tenant, admin_email: str | None) -> None:
            created.append((tenant, admin_email))

    class Context:
        function_name = "post-confirmation"
        function_version = "$LATEST"
        memory_limit_in_mb = 1024
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:post-confirmation"
        aws_request_id = "00000000-0000-4000-8000-000000000000"

    event = load_event("post-confirmation.json")
    assert post_confirmation(event, Context(), store=Tenants()) == event  # type: ignore[arg-type]
    [(tenant, email)] = created
    assert email == event["request"]["userAttributes"]["email"]
    assert tenant.owner_id == event["request"]["userAttributes"]["sub"]
    # /me's sample caller is this user, signed in after onboarding.
    claims = load_event("platform-me.json")["requestContext"]["authorizer"]["lambda"]
    assert claims["tenant_id"] == tenant.id and claims["sub"] == tenant.owner_id


def stream_image(name: str, index: int = 0) -> dict[str, Any]:
    """The NewImage of a stream sample's record, as the stream workers read it (plain values)."""
    from crewhouse.core.dynamo import stream_image

    image = stream_image(load_event(name)["Records"][index], "NewImage")
    assert image is not None
    return image


def test_reminder_event_is_what_the_tasks_stream_schedules() -> None:
    """EventBridge Scheduler invokes reminder_due with the Input the tasks stream worker gave the schedule."""
    from types import SimpleNamespace
    from typing import cast

    from crewhouse.tasks.projections import task_change
    from crewhouse.tasks.workers import AwsEffects

    created: list[dict[str, Any]] = []

    class Scheduler:
        exceptions = SimpleNamespace(ConflictException=KeyError, ResourceNotFoundException=KeyError)

        def create_schedule(self, **schedule: Any) -> None:
            created.append(schedule)

    settings = SimpleNamespace(reminder_schedule_group="crewhouse-reminders", reminder_role_arn="arn:role",
                               reminder_target_arn="arn:aws:lambda:us-east-1:123456789012:function:reminder-due")
    task = stream_image("tasks-stream.json")
    created_at = datetime.fromisoformat(task["created_at"])
    change = task_change(None, task, created_at)
    AwsEffects._reschedule(cast(AwsEffects, SimpleNamespace(settings=settings, scheduler=Scheduler())), change)
    assert created, "the tasks stream sample schedules no reminder: give its task a future reminder"
    assert json.loads(created[0]["Target"]["Input"]) == load_event("tasks-reminder-due.json")


def test_task_deleted_event_carries_what_the_tasks_stream_puts_on_the_bus() -> None:
    from crewhouse.tasks.projections import task_change

    task = stream_image("tasks-stream.json")
    change = task_change(task, None, datetime.now(UTC))
    event = load_event("files-task-deleted.json")
    assert (event["source"], event["detail-type"]) == ("crewhouse.tasks", change.event_type)
    assert event["detail"].keys() == change.event_detail.keys()
    same = ("tenant_id", "user_id", "task_id", "title")
    assert {k: event["detail"][k] for k in same} == {k: change.event_detail[k] for k in same}


def test_readme_invoke_commands_name_existing_functions_and_events() -> None:
    commands = re.findall(r"crewhouse invoke (\S+) events/(\S+\.json)", (EVENTS / "README.md").read_text())
    assert commands, "events/README.md shows no `crewhouse invoke` command"
    handler_of = {name: handler for handler, names in SAMPLE_EVENTS.items() for name in names}
    for prefix, name in commands:
        matched = matching_functions(prefix)
        assert len(matched) == 1, f"`crewhouse invoke {prefix}` matches {matched}, not exactly one function"
        assert name in handler_of, f"events/README.md uses events/{name}, which SAMPLE_EVENTS does not list"
        assert functions()[matched[0]] == handler_of[name], f"events/{name} is not an event for {matched[0]}"
