"""The notifications table: the only module that knows its key shapes.

* a notification: ``PK = T#<tenant>#U#<user>``, ``SK = N#<ulid>`` (ULIDs sort by time: newest first is a
  backward Query); one not shown in the inbox (in-app opted out) keeps its delivery history at ``X#<ulid>``;
* unread ones also carry ``GSI1PK = <owner>``, ``GSI1SK = N#<ulid>`` (a sparse index: the unread count and
  "mark all read" read only unread items); marking read removes them;
* preferences: ``<owner>`` / ``PREFS`` (with ``email_suppressed`` after a hard bounce, and ``devices``, the
  user's mobile push endpoints by device id: a notification reads them with the preferences, no extra request;
  and ``digest_items``/``digest_at``, the low-priority notifications waiting for the daily digest e-mail);
* a tenant's templates: ``T#<tenant>#TPL`` / ``TPL#<key>#<locale>``;
* a pending (scheduled or recurring) send: ``T#<tenant>#PENDING`` / ``P#<ulid>``;
* a webhook: ``<owner>`` / ``W#<ulid>``; its deliveries: ``<owner>`` / ``D#<webhook>#<ulid>`` (newest first is a
  backward Query; ``expires_epoch``, the table's TTL, removes them after 30 days).
"""

from __future__ import annotations

from typing import Any

from crewhouse.core.errors import NotFound
from crewhouse.core.keys import owner_pk, tenant_prefix
from crewhouse.core.table import Table, starting_with, whole

Item = dict[str, Any]
INTERNAL = ("PK", "SK", "GSI1PK", "GSI1SK")
LISTED, UNLISTED = "N#", "X#"
WEBHOOK, DELIVERY = "W#", "D#"


def _clean(item: Item | None) -> Item | None:
    return {k: v for k, v in item.items() if k not in INTERNAL} if item else None


class DynamoNotificationStore:
    def __init__(self, table: Table) -> None:
        self._table = table

    # --- notifications -------------------------------------------------------------------------------------

    def add(self, tenant_id: str, user_id: str, item: Item, *, listed: bool) -> None:
        owner = owner_pk(tenant_id, user_id)
        keys: Item = {"PK": owner, "SK": (LISTED if listed else UNLISTED) + item["id"]}
        if listed and not item.get("read_at"):
            keys.update(GSI1PK=owner, GSI1SK=LISTED + item["id"])
        self._table.put_new({**item, **keys})

    def _find(self, tenant_id: str, user_id: str, notification_id: str) -> Item | None:
        owner = owner_pk(tenant_id, user_id)
        return (self._table.get((owner, LISTED + notification_id))
                or self._table.get((owner, UNLISTED + notification_id)))

    def get(self, tenant_id: str, user_id: str, notification_id: str) -> Item | None:
        return _clean(self._find(tenant_id, user_id, notification_id))

    def page(self, tenant_id: str, user_id: str, *, limit: int, start: dict[str, Any] | None,
             unread_only: bool) -> tuple[list[Item], dict[str, Any] | None]:
        owner = owner_pk(tenant_id, user_id)
        where = whole(owner, "GSI1") if unread_only else starting_with(owner, LISTED)
        items, resume = self._table.query(where, limit=limit, start=start, forward=False)
        return [i for i in map(_clean, items) if i], resume

    def unread_count(self, tenant_id: str, user_id: str) -> int:
        return self._table.count(whole(owner_pk(tenant_id, user_id), "GSI1"))

    def unread_ids(self, tenant_id: str, user_id: str, limit: int) -> list[str]:
        items, _ = self._table.query(whole(owner_pk(tenant_id, user_id), "GSI1"), limit=limit,
                                     projection=("id",))
        return [str(i["id"]) for i in items]

    def mark_read(self, tenant_id: str, user_id: str, notification_id: str, at: str) -> Item | None:
        key = (owner_pk(tenant_id, user_id), LISTED + notification_id)
        updated = self._table.update(
            key, "SET read_at = if_not_exists(read_at, :at) REMOVE GSI1PK, GSI1SK", values={":at": at},
            condition="attribute_exists(PK)", return_new=True)
        return _clean(updated)

    def record_delivery(self, tenant_id: str, user_id: str, notification_id: str, channel: str,
                        history: Item) -> None:
        found = self._find(tenant_id, user_id, notification_id)
        if found is None:
            raise NotFound("No such notification.")
        self._table.update((found["PK"], found["SK"]), "SET deliveries.#channel = :history",
                           names={"#channel": channel}, values={":history": history})

    # --- templates ------------------------------------------------------------------------------------------

    @staticmethod
    def _template_key(tenant_id: str, key: str, locale: str) -> tuple[str, str]:
        return f"{tenant_prefix(tenant_id)}TPL", f"TPL#{key}#{locale}"

    def template(self, tenant_id: str, key: str, locale: str) -> Item | None:
        return _clean(self._table.get(self._template_key(tenant_id, key, locale)))

    def templates(self, tenant_id: str) -> list[Item]:
        items = self._table.query_all(starting_with(f"{tenant_prefix(tenant_id)}TPL", "TPL#"))
        return [i for i in map(_clean, items) if i]

    def add_template(self, tenant_id: str, item: Item) -> None:
        pk, sk = self._template_key(tenant_id, item["key"], item["locale"])
        self._table.put_new({**item, "PK": pk, "SK": sk},
                            exists="This tenant already has this template in this locale; change it with PUT.")

    def replace_template(self, tenant_id: str, item: Item, expected_version: int) -> None:
        pk, sk = self._template_key(tenant_id, item["key"], item["locale"])
        self._table.replace({**item, "PK": pk, "SK": sk}, expected_version)

    def delete_template(self, tenant_id: str, key: str, locale: str) -> None:
        self._table.delete(self._template_key(tenant_id, key, locale))

    # --- preferences ----------------------------------------------------------------------------------------

    def preferences(self, tenant_id: str, user_id: str) -> Item | None:
        return _clean(self._table.get((owner_pk(tenant_id, user_id), "PREFS")))

    def put_preferences(self, tenant_id: str, user_id: str, item: Item) -> None:
        self._table.put({**item, "PK": owner_pk(tenant_id, user_id), "SK": "PREFS"})

    def suppress_email(self, tenant_id: str, user_id: str, suppression: Item | None) -> None:
        """Set (or, with None, lift) the e-mail suppression on the preferences item (made when there is none)."""
        key = (owner_pk(tenant_id, user_id), "PREFS")
        if suppression is None:
            self._table.update(key, "REMOVE email_suppressed")
        else:
            self._table.update(key, "SET email_suppressed = :s", values={":s": suppression})

    def add_device(self, tenant_id: str, user_id: str, device: Item, *, at_most: int) -> bool:
        """Add a push device to the preferences item (made when there is none); False when the user has
        ``at_most`` devices already. A device registered again is replaced (same id: same platform and token)."""
        key = (owner_pk(tenant_id, user_id), "PREFS")
        names = {"#id": device["id"]}
        if self._table.update(key, "SET devices = :devices", values={":devices": {device["id"]: device}},
                              condition="attribute_not_exists(devices)") is not None:
            return True
        return self._table.update(key, "SET devices.#id = :device", names=names,
                                  values={":device": device, ":most": at_most},
                                  condition="size(devices) < :most OR attribute_exists(devices.#id)") is not None

    def remove_device(self, tenant_id: str, user_id: str, device_id: str) -> bool:
        """Remove a push device; False when the user has no such device."""
        return self._table.update((owner_pk(tenant_id, user_id), "PREFS"), "REMOVE devices.#id",
                                  names={"#id": device_id}, condition="attribute_exists(devices.#id)") is not None

    def add_digest_item(self, tenant_id: str, user_id: str, entry: Item, at: str, *, due_again: bool = False) -> bool:
        """Append to the pending digest (due ``at`` unless one is due already, or ``due_again``: its schedule never
        sent it); True when the caller must schedule it (it was empty, or is due again)."""
        due = ":at" if due_again else "if_not_exists(digest_at, :at)"
        updated = self._table.update(
            (owner_pk(tenant_id, user_id), "PREFS"),
            f"SET digest_items = list_append(if_not_exists(digest_items, :none), :entry), digest_at = {due}",
            values={":none": [], ":entry": [entry], ":at": at}, return_new=True) or {}
        return due_again or len(updated.get("digest_items") or []) == 1

    def take_digest(self, tenant_id: str, user_id: str, at: str, count: int) -> bool:
        """Clear the pending digest due ``at`` if it still holds ``count`` items; False when it changed."""
        return self._table.update(
            (owner_pk(tenant_id, user_id), "PREFS"), "REMOVE digest_items, digest_at",
            values={":at": at, ":count": count},
            condition="digest_at = :at AND size(digest_items) = :count") is not None

    # --- pending sends --------------------------------------------------------------------------------------

    @staticmethod
    def _pending_key(tenant_id: str, pending_id: str) -> tuple[str, str]:
        return f"{tenant_prefix(tenant_id)}PENDING", f"P#{pending_id}"

    def add_pending(self, tenant_id: str, item: Item) -> None:
        pk, sk = self._pending_key(tenant_id, item["id"])
        self._table.put_new({**item, "PK": pk, "SK": sk})

    def pending(self, tenant_id: str, pending_id: str) -> Item | None:
        return _clean(self._table.get(self._pending_key(tenant_id, pending_id)))

    def update_pending(self, tenant_id: str, item: Item) -> None:
        pk, sk = self._pending_key(tenant_id, item["id"])
        self._table.put({**item, "PK": pk, "SK": sk})

    def delete_pending(self, tenant_id: str, pending_id: str) -> None:
        self._table.delete_if_present(self._pending_key(tenant_id, pending_id))

    # --- webhooks and their deliveries ----------------------------------------------------------------------

    def webhooks(self, tenant_id: str, user_id: str) -> list[Item]:
        items = self._table.query_all(starting_with(owner_pk(tenant_id, user_id), WEBHOOK), consistent=True)
        return [i for i in map(_clean, items) if i]

    def webhook(self, tenant_id: str, user_id: str, webhook_id: str) -> Item | None:
        return _clean(self._table.get((owner_pk(tenant_id, user_id), WEBHOOK + webhook_id)))

    def add_webhook(self, tenant_id: str, user_id: str, item: Item) -> None:
        self._table.put_new({**item, "PK": owner_pk(tenant_id, user_id), "SK": WEBHOOK + item["id"]})

    def replace_webhook(self, tenant_id: str, user_id: str, item: Item, expected_version: int) -> None:
        self._table.replace({**item, "PK": owner_pk(tenant_id, user_id), "SK": WEBHOOK + item["id"]},
                            expected_version)

    def delete_webhook(self, tenant_id: str, user_id: str, webhook_id: str, expected_version: int) -> None:
        self._table.delete((owner_pk(tenant_id, user_id), WEBHOOK + webhook_id), expected_version=expected_version)

    @staticmethod
    def _delivery_key(tenant_id: str, user_id: str, webhook_id: str, delivery_id: str) -> tuple[str, str]:
        return owner_pk(tenant_id, user_id), f"{DELIVERY}{webhook_id}#{delivery_id}"

    def add_delivery(self, tenant_id: str, user_id: str, item: Item) -> None:
        pk, sk = self._delivery_key(tenant_id, user_id, item["webhook_id"], item["id"])
        self._table.put_new({**item, "PK": pk, "SK": sk})

    def delivery(self, tenant_id: str, user_id: str, webhook_id: str, delivery_id: str) -> Item | None:
        return _clean(self._table.get(self._delivery_key(tenant_id, user_id, webhook_id, delivery_id)))

    def put_delivery(self, tenant_id: str, user_id: str, item: Item) -> None:
        pk, sk = self._delivery_key(tenant_id, user_id, item["webhook_id"], item["id"])
        self._table.put({**item, "PK": pk, "SK": sk})

    def deliveries(self, tenant_id: str, user_id: str, webhook_id: str, *, limit: int, start: dict[str, Any] | None,
                   status: str | None) -> tuple[list[Item], dict[str, Any] | None]:
        where = starting_with(owner_pk(tenant_id, user_id), f"{DELIVERY}{webhook_id}#")
        items, resume = self._table.query(where, limit=limit, start=start, forward=False,
                                          filters={"status": status} if status else None)
        return [i for i in map(_clean, items) if i], resume
