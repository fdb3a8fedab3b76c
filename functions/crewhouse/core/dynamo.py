"""Plain Python values <-> DynamoDB attribute values, for stores that use the low-level client.

boto3's serializer is imported on first use so that handler modules stay cheap to import.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

Item = dict[str, Any]


class ItemCodec:
    def __init__(self) -> None:
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self._ser = TypeSerializer()
        self._de = TypeDeserializer()

    def dump(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self.value(v) for k, v in item.items() if v is not None}

    def value(self, value: Any) -> dict[str, Any]:
        return dict(self._ser.serialize(_storable(value)))

    def load(self, item: Mapping[str, Any]) -> Item:
        """An item (or a stream image) as plain values."""
        return {k: plain(self._de.deserialize(v)) for k, v in item.items()}


def _storable(value: Any) -> Any:
    """Floats as Decimals (boto3 refuses floats); None members of maps left out."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, list):
        return [_storable(v) for v in value]
    if isinstance(value, dict):
        return {k: _storable(v) for k, v in value.items() if v is not None}
    return value


def plain(value: Any) -> Any:
    """Decimals become int or float, sets become sorted lists (JSON-friendly)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, set):
        return sorted(plain(v) for v in value)
    return value


def stream_image(record: Mapping[str, Any], which: str) -> Item | None:
    """A DynamoDB stream record's ``NewImage`` or ``OldImage`` as plain values (None when it has none)."""
    raw = (record.get("dynamodb") or {}).get(which)
    return ItemCodec().load(raw) if raw else None
