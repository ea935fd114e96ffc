"""Zoho Inventory: the system of record of a mirrored warehouse (BMB Wholesale's).

Pulls categories and items page by page (200 a page, items carry their per-location stock,
so 10,000 SKUs cost about 50 calls), incremental by ``last_modified_time``; pushes our sales
as confirmed sales orders and our local stock changes as inventory adjustments.
"""

from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.db import transaction

from connectors.clients import client_for
from connectors.http import PartnerMalformedResponse, PartnerNotFound, PartnerRequestError
from connectors.models import ConnectorAccount, OutboundMessage, SyncJob
from connectors.outbox import sale_note, sale_reference
from connectors.snapshots import ReadWindow, Snapshot, apply_snapshots
from connectors.sync import PageOutcome, RemoteItem, mirror_categories, money, record_page, upsert_items
from inventory.models import StockMovement

PER_PAGE = 200
#: Incremental pulls reach back this far before the last successful pull began, so an item
#: changed while that pull was paging is read again (re-reading is harmless).
INCREMENTAL_OVERLAP = timedelta(minutes=2)
ZOHO_TIME = "%Y-%m-%dT%H:%M:%S%z"


class ZohoConnector:
    def __init__(self, account: ConnectorAccount):
        self.account = account
        self.client = client_for(account)
        self.location_id = str(account.settings["location_id"])
        self.categories: dict = {}

    def test_connection(self) -> str:
        locations = self.client.get("/locations").data.get("locations", [])
        location = next((loc for loc in locations if str(loc.get("location_id")) == self.location_id), None)
        if location is None:
            raise PartnerNotFound(
                f"Connected, but location {self.location_id} is not in organization "
                f"{self.account.settings['organization_id']}."
            )
        return f"Connected to Zoho Inventory; mirroring location {location.get('location_name')}."

    # --- pulling -----------------------------------------------------------------------------

    def pull(self, job: SyncJob) -> None:
        checkpoint = dict(job.checkpoint) or self._begin(job)
        self.categories = self._mirror_categories()
        while checkpoint.get("page"):
            params = {
                "page": checkpoint["page"],
                "per_page": PER_PAGE,
                "sort_column": "last_modified_time",
                "sort_order": "A",
            }
            if checkpoint.get("since"):
                params["last_modified_time"] = checkpoint["since"]
            response = self.client.get("/items", params)
            items, more = self._page(response.data)
            with transaction.atomic():
                window = ReadWindow(response.started_at, response.finished_at)
                outcome = self._apply(items, window, reference=f"zoho sync job {job.pk}")
                checkpoint = {**checkpoint, "page": checkpoint["page"] + 1 if more else None}
                record_page(job, outcome, checkpoint=checkpoint, processed=len(items))
        ConnectorAccount.objects.filter(pk=self.account.pk).update(
            sync_cursor={"last_modified_time": checkpoint["cursor"]}
        )

    def _begin(self, job: SyncJob) -> dict:
        """The first call of a job; its checkpoint is saved with the first page."""
        since = None
        if job.kind == SyncJob.Kind.INCREMENTAL and self.account.sync_cursor.get("last_modified_time"):
            since = self.account.sync_cursor["last_modified_time"]
        started = (job.started_at or job.created_at) - INCREMENTAL_OVERLAP
        return {"page": 1, "since": since, "cursor": started.strftime(ZOHO_TIME)}

    def _mirror_categories(self) -> dict:
        """Zoho's category tree (one call; ``-1`` is Zoho's root, not a category)."""
        categories = self.client.get("/categories").data.get("categories", [])
        nodes = [
            (str(c["category_id"]), str(c["name"]), _parent(c.get("parent_category_id")))
            for c in categories
            if str(c.get("category_id")) != "-1" and c.get("name")
        ]
        return mirror_categories(self.account, nodes)

    def _page(self, body) -> tuple[list[dict], bool]:
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise PartnerMalformedResponse("Zoho Inventory: an items page without an 'items' list.")
        return body["items"], bool((body.get("page_context") or {}).get("has_more_page"))

    def _apply(
        self, items: list[dict], window: ReadWindow, *, reference: str, source=StockMovement.Source.SYNC
    ) -> PageOutcome:
        remote, outcome = self._remote_items(items)
        linked, upserted = upsert_items(self.account, [item for item, _ in remote])
        outcome.add(upserted)
        snapshots = [
            Snapshot(linked[item.external_id], quantity)
            for item, quantity in remote
            if item.external_id in linked and item.track_inventory and quantity is not None
        ]
        apply_snapshots(self.account, snapshots, window, reference=reference, source=source)
        return outcome

    def handle_webhook(self, event_type: str, payload, received_at) -> None:
        """An item event (a workflow webhook) refreshes that item: read it now, then the double-count rule."""
        item = payload.get("item") if isinstance(payload, dict) else None
        if not isinstance(item, dict) or not item.get("item_id"):
            return  # other modules' events carry nothing we mirror
        self.categories = self._mirror_categories()
        response = self.client.get(f"/items/{item['item_id']}")
        with transaction.atomic():
            self._apply(
                [response.data["item"]],
                ReadWindow(response.started_at, response.finished_at),
                reference=f"zoho webhook item {item['item_id']}",
                source=StockMovement.Source.WEBHOOK,
            )

    def _remote_items(self, items: list[dict]) -> tuple[list[tuple[RemoteItem, int | None]], PageOutcome]:
        outcome, remote = PageOutcome(), []
        for raw in items:
            try:
                remote.append((self._item(raw), self._stock_at_location(raw)))
            except (KeyError, TypeError, ValueError, InvalidOperation) as error:
                outcome.failed += 1
                outcome.errors.append(
                    f"Zoho item {raw.get('item_id', '?') if isinstance(raw, dict) else '?'}: "
                    f"unreadable ({type(error).__name__}: {error})."
                )
        return remote, outcome

    def _item(self, raw: dict) -> RemoteItem:
        name = str(raw["name"])
        return RemoteItem(
            external_id=str(raw["item_id"]),
            sku=str(raw.get("sku") or ""),
            name=name,
            product_name=str(raw.get("group_name") or name),
            category=str(raw.get("category_name") or ""),
            category_node=self.categories.get(str(raw.get("category_id"))),
            brand=str(raw.get("brand") or ""),
            barcode=str(raw.get("upc") or raw.get("ean") or ""),
            price=money(raw.get("rate")),
            cost_price=money(raw.get("purchase_rate")),
            active=raw.get("status", "active") == "active",
            track_inventory=bool(raw.get("track_inventory", True)),
            reorder_point=int(raw["reorder_level"]) if raw.get("reorder_level") not in (None, "") else None,
        )

    def _stock_at_location(self, raw: dict) -> int:
        """What the mirrored location may sell: on hand less committed (our pushed sales orders commit stock).

        Reads ``locations[]``, else the legacy ``warehouses[]``; an item absent from the location has none.
        """
        for entry in raw.get("locations") or []:
            if str(entry.get("location_id")) == self.location_id:
                return _quantity(
                    entry, "location_actual_available_stock", "location_available_stock", "location_stock_on_hand"
                )
        for entry in raw.get("warehouses") or []:
            if str(entry.get("warehouse_id")) == self.location_id:
                return _quantity(
                    entry, "warehouse_actual_available_stock", "warehouse_available_stock", "warehouse_stock_on_hand"
                )
        return 0

    # --- pushing -----------------------------------------------------------------------------

    def push(self, message: OutboundMessage) -> dict:
        if message.kind == OutboundMessage.Kind.PUSH_SALE:
            return self._push_sales_order(message)
        if message.kind == OutboundMessage.Kind.PUSH_ADJUSTMENT:
            return self._push_adjustment(message)
        raise PartnerRequestError(f"Zoho Inventory takes no {message.get_kind_display()} messages.")

    def _push_sales_order(self, message: OutboundMessage) -> dict:
        """A confirmed sales order at the price the channel charged, its reference the POS sale or order id and
        its notes naming the invoice and our message (how an earlier, unanswered attempt is recognised)."""
        payload = message.payload
        reference = sale_reference(message)
        existing = self._existing_sales_order(reference, message.dedupe_key)
        if existing:
            return {"salesorder_id": existing, "found_existing": True}
        customer_id = self.account.settings.get("customer_id")
        if not customer_id:
            raise PartnerRequestError("Set customer_id in the Zoho account's settings to push sales orders.")
        body = {
            "customer_id": str(customer_id),
            "date": payload["date"],
            "reference_number": reference,
            "notes": sale_note(message),
            "location_id": self.location_id,
            "line_items": [self._sales_order_line(line) for line in payload["lines"]],
        }
        created = self.client.post("/salesorders", json=body).data
        order = created.get("salesorder") or created.get("sales_order") or {}
        order_id = str(order["salesorder_id"])
        if order.get("status") == "draft":
            self.client.post(f"/salesorders/{order_id}/status/confirmed", idempotent=True)
        return {"salesorder_id": order_id, "salesorder_number": order.get("salesorder_number")}

    def _sales_order_line(self, line: dict) -> dict:
        """Zoho charges tax through a tax of its own (the account's ``tax_id``) rather than an amount, so a
        taxed line carries that tax and, in its description, the amount the channel charged."""
        item = {
            "item_id": line["external_id"],
            "quantity": line["quantity"],
            "rate": float(Decimal(line["unit_price"])),
            "location_id": self.location_id,
        }
        tax = Decimal(line.get("tax") or 0)
        if tax:
            item["description"] = f"Tax charged: {tax}"
            if self.account.settings.get("tax_id"):
                item["tax_id"] = str(self.account.settings["tax_id"])
        return item

    def _existing_sales_order(self, reference: str, dedupe_key: str) -> str | None:
        """A sales order an earlier, unanswered attempt may have created (so it is not created twice): one with
        the sale's reference whose notes name this message (another channel may use the same order number)."""
        orders = self.client.get("/salesorders", {"reference_number": reference}).data.get("salesorders", [])
        for order in orders:
            if order.get("reference_number") != reference:
                continue
            detail = self.client.get(f"/salesorders/{order['salesorder_id']}").data.get("salesorder") or {}
            if dedupe_key in (detail.get("notes") or ""):
                return str(order["salesorder_id"])
        return None

    def _push_adjustment(self, message: OutboundMessage) -> dict:
        payload = message.payload
        body = {
            "date": payload["date"],
            "reason": payload["reason"],
            "reference_number": message.dedupe_key,
            "adjustment_type": "quantity",
            "location_id": self.location_id,
            "line_items": [
                {"item_id": line["external_id"], "quantity_adjusted": line["delta"], "location_id": self.location_id}
                for line in payload["lines"]
            ],
        }
        adjustment = self.client.post("/inventoryadjustments", json=body).data.get("inventory_adjustment", {})
        return {"inventory_adjustment_id": str(adjustment.get("inventory_adjustment_id", ""))}


def _parent(value) -> str | None:
    return None if value in (None, "", "-1", -1) else str(value)


def _quantity(entry: dict, *names: str) -> int:
    """The first of ``names`` present; Zoho's spec types them as strings, real payloads as numbers."""
    for name in names:
        if entry.get(name) not in (None, ""):
            return int(Decimal(str(entry[name])))
    return 0
