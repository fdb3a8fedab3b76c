"""FastAPI dependencies every bus handler shares: settings, tables, the caller and the audit trail."""

from typing import Annotated, Any

from fastapi import Depends, Request, Response

from crewhouse.bus.access import BusCaller, agent_caller, person_caller
from crewhouse.bus.agents_store import DynamoAgents
from crewhouse.bus.audit import AuditTrail
from crewhouse.bus.settings import BusSettings
from crewhouse.core.aws import aws_client
from crewhouse.core.http import Memberships, current_member
from crewhouse.core.identity import AGENT_TOKEN_CREDENTIAL
from crewhouse.core.settings import load_settings
from crewhouse.core.table import Table


def bus_settings() -> BusSettings:
    return load_settings(BusSettings)


Settings = Annotated[BusSettings, Depends(bus_settings)]


def bus_table(settings: Settings) -> Table:
    return Table(aws_client("dynamodb", settings), settings.bus_table)


BusTableDep = Annotated[Table, Depends(bus_table)]


def agents(table: BusTableDep, settings: Settings) -> DynamoAgents:
    return DynamoAgents(table, table.sibling(settings.platform_table))


Agents = Annotated[DynamoAgents, Depends(agents)]


def _event(request: Request) -> dict[str, Any]:
    return request.scope.get("aws.event") or {}


def current_bus_caller(request: Request, response: Response, memberships: Memberships,
                       registry: Agents) -> BusCaller:
    """An agent (its record read and its rate limit charged in one UpdateItem) or a tenant member."""
    event = _event(request)
    context = event.get("requestContext") or {}
    request_id = context.get("requestId")
    claims = (context.get("authorizer") or {}).get("lambda") or {}
    if claims.get("credential") == AGENT_TOKEN_CREDENTIAL:
        caller = agent_caller(claims, registry, request_id)
        if caller.rate is not None:
            response.headers.update(caller.rate.headers())
        return caller
    member = current_member(request, memberships)
    return person_caller(member.tenant_id, member.user_id, member.role, str(claims.get("credential") or "cognito"),
                         request_id)


Caller = Annotated[BusCaller, Depends(current_bus_caller)]


def audit_trail(settings: Settings) -> AuditTrail:
    return AuditTrail(Table(aws_client("dynamodb", settings), settings.bus_audit_table))


Audit = Annotated[AuditTrail, Depends(audit_trail)]
