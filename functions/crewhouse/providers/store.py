"""Providers, their failover order and their daily usage in the providers table; data keys from KMS.

- ``T#<t>#PROVIDERS`` / ``P#<id>``: a provider (its API key sealed: ciphertext, nonce, wrapped data key);
- ``T#<t>#PROVIDERS`` / ``ORDER``: the failover order (``ids``, ``version``). One Query reads a tenant's providers
  and their order together (a tenant has at most 20 providers);
- ``T#<t>#USAGE`` / ``D#<day>#P#<provider>#A#<agent or ->``: a day's calls and tokens of one provider for one
  agent, added to by one UpdateItem (ADD) per call; ``expires_epoch`` (the table's TTL) drops it after 400 days.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crewhouse.core import table as t
from crewhouse.core.errors import PreconditionFailed
from crewhouse.core.keys import tenant_prefix
from crewhouse.providers.envelope import KeyUnavailable

Record = dict[str, Any]
ORDER = "ORDER"
_KEYS = ("PK", "SK")
_STALE = "The provider changed meanwhile; fetch it again and retry."


def providers_pk(tenant_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}PROVIDERS"


def provider_sk(provider_id: str) -> str:
    return f"P#{provider_id}"


def usage_pk(tenant_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}USAGE"


def usage_sk(day: str, provider_id: str, agent_id: str) -> str:
    return f"D#{day}#P#{provider_id}#A#{agent_id}"


def _plain(item: Mapping[str, Any]) -> Record:
    return {k: v for k, v in item.items() if k not in _KEYS}


class DynamoProviders:
    def __init__(self, table: t.Table) -> None:
        self._table = table

    def listing(self, tenant_id: str) -> tuple[list[Record], Record | None]:
        items = self._table.query_all(t.whole(providers_pk(tenant_id)), consistent=True)
        order = next((_plain(i) for i in items if i["SK"] == ORDER), None)
        return [_plain(i) for i in items if str(i["SK"]).startswith("P#")], order

    def get(self, tenant_id: str, provider_id: str) -> Record | None:
        item = self._table.get((providers_pk(tenant_id), provider_sk(provider_id)))
        return None if item is None else _plain(item)

    def create(self, record: Record) -> None:
        self._table.put_new(self._item(record), exists="A provider with this id exists already.")

    def replace(self, record: Record, expected_version: int) -> None:
        self._table.replace(self._item(record), expected_version, stale=_STALE)

    def remove(self, tenant_id: str, provider_id: str, expected_version: int) -> None:
        self._table.delete((providers_pk(tenant_id), provider_sk(provider_id)), expected_version=expected_version,
                           stale=_STALE)

    def set_order(self, tenant_id: str, ids: list[str], expected_version: int | None) -> int:
        version = (expected_version or 0) + 1
        item = {"PK": providers_pk(tenant_id), "SK": ORDER, "tenant_id": tenant_id, "ids": ids, "version": version}
        stale = "The failover order changed meanwhile; fetch the list again and retry."
        if expected_version is None:
            try:
                self._table.put_new(item)
            except Exception as exc:  # Conflict: another writer made the first order
                raise PreconditionFailed(stale) from exc
        else:
            self._table.replace(item, expected_version, stale=stale)
        return version

    def usage(self, tenant_id: str, first: str, last: str, *, provider_id: str | None, agent_id: str | None,
              limit: int, start: Mapping[str, Any] | None) -> tuple[list[Record], Mapping[str, Any] | None]:
        filters: dict[str, Any] = {}
        if provider_id:
            filters["provider_id"] = provider_id
        if agent_id:
            filters["agent_id"] = agent_id
        items, resume = self._table.query(t.between(usage_pk(tenant_id), f"D#{first}#", f"D#{last}#~"),
                                          limit=limit, start=dict(start) if start else None,
                                          filters=filters or None)
        return [_plain(i) for i in items], resume

    @staticmethod
    def _item(record: Record) -> Record:
        return {**record, "PK": providers_pk(record["tenant_id"]), "SK": provider_sk(record["id"])}


class DynamoUsage:
    """The usage ledger: one UpdateItem with ADD per call."""

    def __init__(self, table: t.Table) -> None:
        self._table = table

    def add(self, tenant_id: str, day: str, provider_id: str, agent_id: str, usage: Mapping[str, int],
            expires_epoch: int) -> None:
        self._table.update(
            (usage_pk(tenant_id), usage_sk(day, provider_id, agent_id)),
            "ADD calls :one, input_tokens :i, output_tokens :o, total_tokens :n "
            "SET #day = :day, provider_id = :p, agent_id = :a, tenant_id = :t, expires_epoch = :e",
            names={"#day": "day"},
            values={":one": 1, ":i": int(usage.get("input_tokens", 0)), ":o": int(usage.get("output_tokens", 0)),
                    ":n": int(usage.get("total_tokens", 0)), ":day": day, ":p": provider_id, ":a": agent_id,
                    ":t": tenant_id, ":e": expires_epoch})


class KmsKeys:
    """Data keys of the providers' customer-managed KMS key (AES-256), bound to an encryption context."""

    def __init__(self, kms: Any, key_id: str | None) -> None:
        self._kms = kms
        self._key_id = key_id

    def generate_data_key(self, context: dict[str, str]) -> tuple[bytes, bytes]:
        if not self._key_id:
            raise RuntimeError("PROVIDERS_KEY_ID is not configured")
        answer = self._kms.generate_data_key(KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=context)
        return bytes(answer["Plaintext"]), bytes(answer["CiphertextBlob"])

    def decrypt(self, wrapped: bytes, context: dict[str, str]) -> bytes:
        from botocore.exceptions import ClientError

        request: dict[str, Any] = {"CiphertextBlob": wrapped, "EncryptionContext": context}
        if self._key_id:
            request["KeyId"] = self._key_id  # only this key may open it
        try:
            return bytes(self._kms.decrypt(**request)["Plaintext"])
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise KeyUnavailable(f"KMS refused the data key ({code})") from exc
