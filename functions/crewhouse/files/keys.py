"""Key shapes of the files table and the files bucket. Every key starts with the tenant (and owner).

Table:
- file:         PK ``T#<tenant>#U#<user>``, SK ``FILE#<id>``
- link:         PK as above, SK ``LINK#<kind>#<target id>#<file id>`` (a file attached to a task or note)
- quota:        PK as above, SK ``QUOTA`` (``used``, ``reserved`` and ``total`` = used + reserved, in bytes)
- tenant quota: PK ``T#<tenant>``, SK ``QUOTA_POLICY`` (``user_limit_bytes``: the per-user limit of the tenant)
- retention:    PK ``T#<tenant>``, SK ``RETENTION_POLICY`` (``enabled``, ``days``, ``version``); while enabled
                also GSI1PK ``RETENTION#ENABLED``, GSI1SK ``<tenant>`` (the sweep's list of tenants)
- GSI1 (by status): GSI1PK ``<PK>#S#<status>``, GSI1SK ``<created_at>#<id>``
- GSI2 (by last opened, sparse: files with ``last_opened_at``): GSI2PK ``T#<tenant>#OPENED``,
  GSI2SK ``<YYYY-MM-DD, UTC>#<user>#<id>``; projects only what the retention sweep and preview read

Bucket (only the prefixes below are written; the object-created rule and the malware scan watch ``uploads/``):
- ``uploads/<tenant>/<user>/<file id>``     the uploaded bytes
- ``thumbnails/<tenant>/<user>/<file id>``  the 256 px PNG thumbnail of an image
- ``quarantine/<tenant>/<user>/<file id>``  bytes that contradicted their declared type or carried malware
"""

from __future__ import annotations

from crewhouse.core.keys import owner_pk as owner_pk  # one owner key for every context

UPLOADS = "uploads/"
THUMBNAILS = "thumbnails/"
QUARANTINE = "quarantine/"


def tenant_pk(tenant_id: str) -> str:
    return f"T#{tenant_id}"


def owner_parts(owner: str) -> tuple[str, str]:
    """``(tenant, user)`` of an owner key."""
    parts = owner.split("#")
    return parts[1], parts[3]


def file_sk(file_id: str) -> str:
    return f"FILE#{file_id}"


def link_prefix(kind: str, target_id: str) -> str:
    return f"LINK#{kind}#{target_id}#"


def link_sk(kind: str, target_id: str, file_id: str) -> str:
    return f"{link_prefix(kind, target_id)}{file_id}"


QUOTA_SK = "QUOTA"
QUOTA_POLICY_SK = "QUOTA_POLICY"
RETENTION_POLICY_SK = "RETENTION_POLICY"
RETENTION_ENABLED = "RETENTION#ENABLED"


def opened_pk(tenant_id: str) -> str:
    return f"T#{tenant_id}#OPENED"


def opened_sk(day: str, user_id: str, file_id: str) -> str:
    """``day``: the UTC day (``YYYY-MM-DD``) the file was last opened. A bare day sorts before every key of that
    day, so ``< day`` is "opened before that day"."""
    return f"{day}#{user_id}#{file_id}"


def status_pk(owner: str, status: str) -> str:
    return f"{owner}#S#{status}"


def object_key(tenant_id: str, user_id: str, file_id: str) -> str:
    return f"{UPLOADS}{tenant_id}/{user_id}/{file_id}"


def thumbnail_key(tenant_id: str, user_id: str, file_id: str) -> str:
    return f"{THUMBNAILS}{tenant_id}/{user_id}/{file_id}"


def quarantine_key(tenant_id: str, user_id: str, file_id: str) -> str:
    return f"{QUARANTINE}{tenant_id}/{user_id}/{file_id}"


def parse_object_key(key: str) -> tuple[str, str, str] | None:
    """``(tenant, user, file id)`` of an upload's object key; None for any other key."""
    if not key.startswith(UPLOADS):
        return None
    parts = key[len(UPLOADS):].split("/")
    if len(parts) != 3 or not all(parts):
        return None
    return parts[0], parts[1], parts[2]
