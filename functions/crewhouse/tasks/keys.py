"""Key shapes of the tasks table. Every key starts with the tenant and the owner.

- task:     PK ``T#<tenant>#U#<user>``, SK ``TASK#<id>``
- template: PK as above, SK ``TEMPLATE#<id>``
- GSI1 (plan order): GSI1PK = PK, GSI1SK ``<plan>#<letter>#<rank>`` where plan is ``YYYY-MM-DD`` or ``~someday``
- GSI2 (due, sparse): GSI2PK = PK, GSI2SK ``<due UTC ISO>#<id>``
- GSI3 (subtasks, sparse): GSI3PK ``<PK>#P#<parent>``, GSI3SK ``<letter>#<rank>``
"""

from __future__ import annotations

from datetime import date

from crewhouse.core.keys import owner_pk as owner_pk  # one owner key for every context

SOMEDAY = "~someday"  # sorts after every date


def task_sk(task_id: str) -> str:
    return f"TASK#{task_id}"


def template_sk(template_id: str) -> str:
    return f"TEMPLATE#{template_id}"


def plan_key(planned: date | str | None) -> str:
    if planned is None or planned == "":
        return SOMEDAY
    return planned.isoformat() if isinstance(planned, date) else str(planned)


def plan_sort_key(planned: date | str | None, letter: str, rank: str) -> str:
    return f"{plan_key(planned)}#{letter}#{rank}"


def parent_pk(owner: str, parent_id: str) -> str:
    return f"{owner}#P#{parent_id}"
