"""``crewhouse invoke`` and the sample events in ``events/``.

* The CLI, as a subprocess on free ports: the platform function answers ``events/platform-health.json``.
* Every file in ``events/`` is JSON, and every function handler of the synthesized template has at least one
  sample event. :data:`SAMPLE_EVENTS` maps handler -> event files; a handler the template deploys but the map
  lacks fails the test, so a new context's functions cannot ship without sample events.
* Each event fits its function: HTTP events name a route of the HTTP API integrated with that function (with
  JWT claims exactly when the route has an authorizer); Cognito events come to the pool's trigger. The
  documented ``crewhouse invoke`` commands in ``events/README.md`` name functions that exist.

Only the platform function is invoked through the CLI: the PostConfirmation trigger needs a real user in the
pool (it updates the user's attributes), which a fresh cloud does not have.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"

# Handler (as in the template) -> its sample events in events/. Add a line when the CDK app deploys a new
# function; the coverage test below names any handler missing here.
SAMPLE_EVENTS: dict[str, tuple[str, ...]] = {
    "crewhouse.platform.api.handler": ("platform-health.json", "platform-me.json"),
    "crewhouse.platform.workers.post_confirmation": ("post-confirmation.json",),
}

CLI_TIMEOUT = 300  # a fresh embedded cloud deploys the whole stack before invoking


# --- the synthesized template ------------------------------------------------------------------------------


SYNTH_SNIPPET = ("from crewhouse.local.synth import STACK_NAME, synthesize; "
                 "print(synthesize() / f'{STACK_NAME}.template.json')")


@cache
def template() -> dict[str, Any]:
    """The template of the current sources, synthesized (or taken from the cache) in a child process.

    A child process keeps jsii's Node process and the CDK app's module-level state out of pytest's, so a
    re-synth after the sources changed cannot collide with an app built earlier in this process.
    """
    proc = subprocess.run([sys.executable, "-c", SYNTH_SNIPPET], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"synth failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return dict(json.loads(Path(proc.stdout.strip().splitlines()[-1]).read_text()))


def functions() -> dict[str, str]:
    """Logical id -> Handler of every Lambda function in the template."""
    return {logical_id: resource["Properties"]["Handler"] for logical_id, resource in template()["Resources"].items()
            if resource["Type"] == "AWS::Lambda::Function" and "Handler" in resource.get("Properties", {})}


def logical_prefix(handler: str) -> str:
    """The ``crewhouse invoke`` name of the function running ``handler``: its logical id minus CDK's hash."""
    ids = [logical_id for logical_id, h in functions().items() if h == handler]
    assert len(ids) == 1, f"{len(ids)} functions run {handler}"
    return re.sub(r"[0-9A-F]{8}$", "", ids[0])


def matching_functions(prefix: str) -> list[str]:
    """Logical ids ``crewhouse invoke <prefix>`` would match (it needs exactly one)."""
    return [logical_id for logical_id in functions() if logical_id.startswith(prefix)]


def function_ref(value: Any) -> str | None:
    """The logical id of a function referenced as ``{"Fn::GetAtt": [id, "Arn"]}``, else None."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        if attribute == "Arn" and logical_id in functions():
            return str(logical_id)
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
    """The user pool triggers (``PostConfirmation``, ...) that invoke ``logical_id``."""
    return {trigger for resource in template()["Resources"].values() if resource["Type"] == "AWS::Cognito::UserPool"
            for trigger, target in (resource["Properties"].get("LambdaConfig") or {}).items()
            if function_ref(target) == logical_id}


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
    assert json.loads(result["body"]) == {"status": "ok"}


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
    if logical_id is None:
        pytest.skip(f"{handler} is not deployed (the coverage test reports it)")
    if "routeKey" in event:  # API Gateway HTTP API, payload format 2.0
        assert event["version"] == "2.0"
        routes = http_routes(logical_id)
        assert event["routeKey"] in routes, f"{name}: {event['routeKey']!r} is not one of {sorted(routes)}"
        context = event["requestContext"]
        method, _, path = event["routeKey"].partition(" ")
        assert context["routeKey"] == event["routeKey"]
        assert context["http"]["method"] == method and context["http"]["path"] == event["rawPath"] == path
        has_claims = bool(((context.get("authorizer") or {}).get("jwt") or {}).get("claims"))
        assert has_claims == (routes[event["routeKey"]] == "JWT"), \
            f"{name}: JWT claims must be present exactly when the route has an authorizer"
    elif "triggerSource" in event:  # Cognito user pool trigger
        trigger = event["triggerSource"].split("_", 1)[0]
        assert trigger in cognito_triggers(logical_id), f"{name}: no user pool sends {trigger} to {logical_id}"
        assert event["request"]["userAttributes"]["sub"]
    else:
        pytest.fail(f"{name}: neither an HTTP API nor a Cognito event; teach this test its shape")


def test_me_event_claims_read_as_an_admin_identity() -> None:
    from crewhouse.core.identity import identity_from_event

    identity = identity_from_event(load_event("platform-me.json"))
    assert identity.roles == frozenset({"admin"})
    assert identity.tenant_id and identity.user_id and identity.email


def test_post_confirmation_event_onboards_its_user() -> None:
    from crewhouse.platform.models import Tenant
    from crewhouse.platform.workers import post_confirmation

    created: list[tuple[Tenant, str | None]] = []
    assigned: list[tuple[str, str, str, str]] = []

    class Tenants:
        def create_tenant(self, tenant: Tenant, admin_email: str | None) -> None:
            created.append((tenant, admin_email))

        def get_tenant(self, tenant_id: str) -> Tenant | None:
            return None

    class Directory:
        def assign_tenant(self, user_pool_id: str, username: str, tenant_id: str, group: str) -> None:
            assigned.append((user_pool_id, username, tenant_id, group))

    class Context:
        function_name = "post-confirmation"
        function_version = "$LATEST"
        memory_limit_in_mb = 1024
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:post-confirmation"
        aws_request_id = "00000000-0000-4000-8000-000000000000"

    event = load_event("post-confirmation.json")
    assert post_confirmation(event, Context(), tenants=Tenants(), directory=Directory()) == event
    [(tenant, email)] = created
    assert email == event["request"]["userAttributes"]["email"]
    assert tenant.owner_id == event["request"]["userAttributes"]["sub"]
    assert assigned == [(event["userPoolId"], event["userName"], tenant.id, "admin")]
    # /me's sample caller is this user, signed in after onboarding.
    claims = load_event("platform-me.json")["requestContext"]["authorizer"]["jwt"]["claims"]
    assert claims["custom:tenant_id"] == tenant.id and claims["sub"] == tenant.owner_id


def test_readme_invoke_commands_name_existing_functions_and_events() -> None:
    commands = re.findall(r"crewhouse invoke (\S+) events/(\S+\.json)", (EVENTS / "README.md").read_text())
    assert commands, "events/README.md shows no `crewhouse invoke` command"
    handler_of = {name: handler for handler, names in SAMPLE_EVENTS.items() for name in names}
    for prefix, name in commands:
        matched = matching_functions(prefix)
        assert len(matched) == 1, f"`crewhouse invoke {prefix}` matches {matched}, not exactly one function"
        assert name in handler_of, f"events/README.md uses events/{name}, which SAMPLE_EVENTS does not list"
        assert functions()[matched[0]] == handler_of[name], f"events/{name} is not an event for {matched[0]}"
