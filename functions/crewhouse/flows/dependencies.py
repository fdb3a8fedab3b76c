"""FastAPI dependencies the flows handlers share: settings, the service, the caller.

No ``from __future__ import annotations`` here: FastAPI reads the signatures at import.
"""

from typing import Annotated

from fastapi import Depends

from crewhouse.core.http import current_member
from crewhouse.core.identity import Identity
from crewhouse.flows.logic import FlowService
from crewhouse.flows.settings import FlowsSettings
from crewhouse.flows.wiring import flows_settings, service_for

Member = Annotated[Identity, Depends(current_member)]
Settings = Annotated[FlowsSettings, Depends(flows_settings)]


def service_dependency(settings: Settings) -> FlowService:
    return service_for(settings)


Service = Annotated[FlowService, Depends(service_dependency)]
