"""Task API models. Field names are the same in REST and MCP.

pydantic builds a model's validator and serializer when its class is defined: 1-3 ms a model at a cold
start. The models are therefore split by the routes that use them, and each HTTP function imports only its
modules: ``task`` (``Task`` and the types of its fields), ``create`` (``TaskCreate``), ``patch`` (``TaskPatch``),
``actions`` (``MoveRequest``, ``DependencyRequest``), ``templates`` and ``quick_add``.

``from crewhouse.tasks.models import X`` still works for every model: this package imports the module
that defines ``X`` when ``X`` is first asked for (PEP 562), so importing the package builds nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crewhouse.core.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from crewhouse.tasks.models.actions import DependencyRequest as DependencyRequest
    from crewhouse.tasks.models.actions import MoveRequest as MoveRequest
    from crewhouse.tasks.models.create import TaskCreate as TaskCreate
    from crewhouse.tasks.models.patch import TaskPatch as TaskPatch
    from crewhouse.tasks.models.quick_add import QuickAddRequest as QuickAddRequest
    from crewhouse.tasks.models.quick_add import QuickAddResult as QuickAddResult
    from crewhouse.tasks.models.task import MAX_DEPENDENCIES as MAX_DEPENDENCIES
    from crewhouse.tasks.models.task import MAX_DEPTH as MAX_DEPTH
    from crewhouse.tasks.models.task import MAX_REMINDERS as MAX_REMINDERS
    from crewhouse.tasks.models.task import MAX_TAGS as MAX_TAGS
    from crewhouse.tasks.models.task import OPEN_STATUSES as OPEN_STATUSES
    from crewhouse.tasks.models.task import Priority as Priority
    from crewhouse.tasks.models.task import Reminder as Reminder
    from crewhouse.tasks.models.task import Status as Status
    from crewhouse.tasks.models.task import Task as Task
    from crewhouse.tasks.models.templates import InstantiateRequest as InstantiateRequest
    from crewhouse.tasks.models.templates import Template as Template
    from crewhouse.tasks.models.templates import TemplateCreate as TemplateCreate

_MODULES: dict[str, tuple[str, ...]] = {
    "task": ("Status", "Priority", "OPEN_STATUSES", "MAX_DEPENDENCIES", "MAX_TAGS", "MAX_REMINDERS", "MAX_DEPTH",
             "Reminder", "Task"),
    "create": ("TaskCreate",),
    "patch": ("TaskPatch",),
    "actions": ("MoveRequest", "DependencyRequest"),
    "templates": ("TemplateCreate", "Template", "InstantiateRequest"),
    "quick_add": ("QuickAddRequest", "QuickAddResult"),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _MODULES, globals())
