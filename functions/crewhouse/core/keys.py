"""The one key prefix every per-user item shares across contexts: ``T#<tenant>#U#<user>``.

Every context's table (and the shared search index, sync log and cursors) partitions a user's items by this
key, so a cursor, an index entry or a stream record names its owner the same way everywhere.
"""

from __future__ import annotations


def owner_pk(tenant_id: str, user_id: str) -> str:
    return f"T#{tenant_id}#U#{user_id}"


def tenant_prefix(tenant_id: str) -> str:
    """The start of every tenant-wide key of a context (``T#<tenant>#``)."""
    return f"T#{tenant_id}#"
