"""Personal access tokens in the platform table: two items per token, written and removed together.

- ``TOKEN#<digest> / TOKEN``: what the authorizer reads (one strongly consistent GetItem by the token's keyed
  hash): owner, tenant, grant, expiry;
- ``PRINCIPAL#<principal> / TOKEN#<id>``: what the owner lists (name, shown prefix, grant, created, last used,
  expiry) and what revocation finds the digest by.

Both carry ``expires_epoch``, the table's TTL attribute, so DynamoDB drops expired tokens; the authorizer checks
the expiry itself, since TTL deletes lazily. Kept apart from :mod:`crewhouse.platform.store` so that the
authorizer (latency on every cache miss) imports no pydantic models.
"""

from __future__ import annotations

from typing import Any

from crewhouse.core import table as t
from crewhouse.core.errors import Conflict, NotFound
from crewhouse.core.tenancy import profile_key

Item = dict[str, Any]
MAX_TOKENS_PER_PRINCIPAL = 50


def _lookup_key(digest: str) -> t.ItemKey:
    return f"TOKEN#{digest}", "TOKEN"


def _listing_key(principal_id: str, token_id: str) -> t.ItemKey:
    return profile_key(principal_id)[0], f"TOKEN#{token_id}"


class DynamoPersonalTokens:
    def __init__(self, table: t.Table) -> None:
        self._table = table

    def add(self, *, digest: str, token_id: str, principal_id: str, tenant_id: str, listing: Item) -> None:
        """Store a new token (both items in one transaction); 409 once the principal holds the maximum."""
        if self._table.count(t.starting_with(profile_key(principal_id)[0], "TOKEN#")) >= MAX_TOKENS_PER_PRINCIPAL:
            raise Conflict(f"You already have {MAX_TOKENS_PER_PRINCIPAL} personal access tokens; revoke one first.",
                           slug="too-many-tokens")
        pk, sk = _lookup_key(digest)
        lookup = {"PK": pk, "SK": sk, "principal_id": principal_id, "tenant_id": tenant_id, "token_id": token_id,
                  "access": listing["access"], "created_epoch": listing["created_epoch"],
                  "expires_epoch": listing["expires_epoch"]}
        lpk, lsk = _listing_key(principal_id, token_id)
        self._table.transact([t.new(lookup), t.new({**listing, "PK": lpk, "SK": lsk, "digest": digest,
                                                     "token_id": token_id, "tenant_id": tenant_id})])

    def of_principal(self, principal_id: str) -> list[Item]:
        return self._table.query_all(t.starting_with(profile_key(principal_id)[0], "TOKEN#"))

    def revoke(self, principal_id: str, token_id: str) -> None:
        """Remove both items; 404 when the principal has no such token."""
        listing = self._table.get(_listing_key(principal_id, token_id), projection=("digest",))
        if not listing:
            raise NotFound("No such personal access token.")
        try:
            self._table.transact([t.removal(_listing_key(principal_id, token_id), must_exist=True),
                                  t.removal(_lookup_key(listing["digest"]))])
        except t.Cancelled as cancelled:
            raise NotFound("No such personal access token.") from cancelled

    def by_digest(self, digest: str) -> Item | None:
        return self._table.get(_lookup_key(digest))

    def mark_used(self, principal_id: str, token_id: str, epoch: int) -> None:
        """Record a use (the authorizer, once per cache miss); a token revoked meanwhile is not brought back."""
        self._table.update(_listing_key(principal_id, token_id), "SET last_used_epoch = :now",
                           condition="attribute_exists(PK)", values={":now": epoch})
