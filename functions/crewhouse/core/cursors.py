"""Opaque, signed pagination cursors.

A cursor is ``base64url(json) . base64url(hmac)``. The MAC covers the payload and a *scope* string
(tenant, user and list), so a client can neither forge a DynamoDB key nor replay another list's cursor.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from crewhouse.core.errors import BadRequest
from crewhouse.core.identity import Actor
from crewhouse.core.settings import CoreSettings


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, scope: str, payload: bytes) -> bytes:
    return hmac.new(key, scope.encode() + b"\x00" + payload, hashlib.sha256).digest()


def encode_cursor(position: dict[str, Any], *, key: bytes, scope: str) -> str:
    payload = json.dumps(position, separators=(",", ":"), sort_keys=True, default=str).encode()
    return f"{_b64(payload)}.{_b64(_mac(key, scope, payload))}"


def decode_cursor(cursor: str, *, key: bytes, scope: str) -> dict[str, Any]:
    try:
        payload_part, mac_part = cursor.split(".", 1)
        payload = _unb64(payload_part)
        valid = hmac.compare_digest(_unb64(mac_part), _mac(key, scope, payload))
        position = json.loads(payload) if valid else None
    except (ValueError, UnicodeDecodeError):
        position = None
    if not isinstance(position, dict):
        raise BadRequest("The cursor is not valid for this list.", slug="invalid-cursor")
    return position


def cursor_key(settings: CoreSettings) -> bytes:
    """The signing key: a fixed one locally, else the Secrets Manager secret."""
    from crewhouse.core.aws import secret_key

    return secret_key(settings, settings.cursor_secret_arn, settings.cursor_signing_key, name="CURSOR_SECRET_ARN")


def cursor_scope(identity: Actor, name: str, filters: Any = None) -> str:
    """A cursor is valid only for the caller, the list and the filters it was issued for."""
    digest = hashlib.sha256(json.dumps(filters, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{identity.tenant_id}/{identity.user_id}/{name}/{digest}"


def page_start(settings: CoreSettings, cursor: str | None, scope: str) -> dict[str, Any] | None:
    return decode_cursor(cursor, key=cursor_key(settings), scope=scope) if cursor else None


def page_next(settings: CoreSettings, last: dict[str, Any] | None, scope: str) -> str | None:
    return encode_cursor(last, key=cursor_key(settings), scope=scope) if last else None
