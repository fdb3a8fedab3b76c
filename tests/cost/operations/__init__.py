"""Every metered row, module by module in name order, and the OpenAPI operations deliberately left unmetered."""

from __future__ import annotations

import importlib
import pkgutil

from tests.cost.catalog import Metered

# Operation -> why it has no row. Each reason says what would make the row honest.
NOT_YET = "no row written yet (issue 17 stays open until each has one)"
UNMETERED: dict[str, str] = {
    "POST /chat/sessions": NOT_YET,
    "DELETE /chat/sessions/{session_id}": NOT_YET,
    "GET /chat/sessions/{session_id}/messages": NOT_YET,
    "POST /files": NOT_YET,
    "PUT /files/quota/policy": NOT_YET,
    "PUT /files/retention": NOT_YET,
    "GET /files/retention/preview": NOT_YET,
    "DELETE /files/{file_id}": NOT_YET,
    "GET /files/{file_id}": NOT_YET,
    "POST /files/{file_id}/abort": NOT_YET,
    "POST /files/{file_id}/attachments": NOT_YET,
    "DELETE /files/{file_id}/attachments/{kind}/{target_id}": NOT_YET,
    "POST /files/{file_id}/complete": NOT_YET,
    "GET /files/{file_id}/download": NOT_YET,
    "GET /files/{file_id}/parts": NOT_YET,
    "POST /files/{file_id}/parts": NOT_YET,
    "GET /files/{file_id}/thumbnail": NOT_YET,
    "POST /invitations/accept": NOT_YET,
    "POST /llm-providers": NOT_YET,
    "PUT /llm-providers/order": NOT_YET,
    "DELETE /llm-providers/{provider_id}": NOT_YET,
    "GET /llm-providers/{provider_id}": NOT_YET,
    "PATCH /llm-providers/{provider_id}": NOT_YET,
    "POST /llm-providers/{provider_id}/test": NOT_YET,
    "PATCH /me": NOT_YET,
    "PUT /me/notification-preferences": NOT_YET,
    "DELETE /me/notification-preferences/email-suppression": NOT_YET,
    "POST /me/sign-out": NOT_YET,
    "POST /me/tenant": NOT_YET,
    "POST /me/tokens": NOT_YET,
    "DELETE /me/tokens/{token_id}": NOT_YET,
    "POST /notes/clip": NOT_YET,
    "POST /notes/{note_id}/checklist": NOT_YET,
    "DELETE /notes/{note_id}/checklist/{item_id}": NOT_YET,
    "PATCH /notes/{note_id}/checklist/{item_id}": NOT_YET,
    "POST /notes/{note_id}/checklist/{item_id}/move": NOT_YET,
    "GET /notes/{note_id}/revisions/{revision}": NOT_YET,
    "POST /notes/{note_id}/revisions/{revision}/restore": NOT_YET,
    "POST /notes/{note_id}/tasks": NOT_YET,
    "POST /notification-templates": NOT_YET,
    "POST /notification-templates/preview": NOT_YET,
    "DELETE /notification-templates/{key}/{locale}": NOT_YET,
    "GET /notification-templates/{key}/{locale}": NOT_YET,
    "PUT /notification-templates/{key}/{locale}": NOT_YET,
    "POST /notifications": NOT_YET,
    "POST /notifications/batch": NOT_YET,
    "POST /notifications/devices": NOT_YET,
    "DELETE /notifications/devices/{device_id}": NOT_YET,
    "POST /notifications/read-all": NOT_YET,
    "POST /notifications/webhooks": NOT_YET,
    "DELETE /notifications/webhooks/{webhook_id}": NOT_YET,
    "GET /notifications/webhooks/{webhook_id}": NOT_YET,
    "PATCH /notifications/webhooks/{webhook_id}": NOT_YET,
    "GET /notifications/webhooks/{webhook_id}/deliveries": NOT_YET,
    "POST /notifications/webhooks/{webhook_id}/deliveries/{delivery_id}/redrive": NOT_YET,
    "POST /notifications/webhooks/{webhook_id}/test": NOT_YET,
    "POST /notifications/{notification_id}/read": NOT_YET,
    "DELETE /research/web-search": NOT_YET,
    "PUT /research/web-search": NOT_YET,
    "POST /tags/reindex": NOT_YET,
    "POST /tags/{tag}/rename": NOT_YET,
    "DELETE /task-templates/{template_id}": NOT_YET,
    "GET /task-templates/{template_id}": NOT_YET,
    "POST /task-templates/{template_id}/instantiate": NOT_YET,
    "POST /tasks/{task_id}/dependencies": NOT_YET,
    "DELETE /tasks/{task_id}/dependencies/{other_id}": NOT_YET,
    "POST /tenant/invitations": NOT_YET,
    "DELETE /tenant/invitations/{invitation_id}": NOT_YET,
    "POST /tenant/leave": NOT_YET,
    "DELETE /tenant/members/{user_id}": NOT_YET,
    "PATCH /tenant/members/{user_id}": NOT_YET,
}


def all_metered(modules: set[str] | None = None) -> list[Metered]:
    """Every row, or only the rows of ``modules`` (``CREWHOUSE_COST_MODULES=files,notes`` in the test)."""
    rows: list[Metered] = []
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        if modules is not None and module not in modules:
            continue
        rows.extend(getattr(importlib.import_module(f"{__name__}.{module}"), "METERED", []))
    names = [row.name for row in rows]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    assert not duplicated, f"rows named twice: {duplicated}"
    return rows
