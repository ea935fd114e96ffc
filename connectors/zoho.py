"""Zoho Inventory: the system of record of a mirrored warehouse (BMB Wholesale's).

Pulls categories and items page by page (200 a page, items carry their per-location stock,
so 10,000 SKUs cost about 50 calls), incremental by ``last_modified_time``, then the status of
our sales orders changed since; pushes our sales as confirmed sales orders and our local stock
changes and returns as inventory adjustments; reads sales order workflow webhooks.
"""

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.db import transaction

from connectors import documents, selectors
from connectors.clients import client_for
from connectors.documents import DocumentState
from connectors.http import PartnerMalformedResponse, PartnerNotFound, PartnerRequestError
from connectors.models import ConnectorAccount, OutboundMessage, PartnerDocument, SyncJob
from connectors.outbox import DEDUPE_KEY_PREFIX, sale_note, sale_reference, save_progress
from connectors.snapshots import ReadWindow, Snapshot, apply_snapshots
from connectors.sync import PageOutcome, RemoteItem, mirror_categories, money, record_page, upsert_items
from inventory.models import StockMovement

PER_PAGE = 200
#: Incremental pulls reach back this far before the last successful pull began, so an item
#: changed while that pull was paging is read again (re-reading is harmless).
INCREMENTAL_OVERLAP = timedelta(minutes=2)
ZOHO_TIME = "%Y-%m-%dT%H:%M:%S%z"
#: A pull without a cursor yet reads the status of sales orders changed this far back.
ORDER_STATUS_LOOKBACK = timedelta(days=7)


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
        self._refresh_sales_orders(checkpoint.get("orders_since") or checkpoint["cursor"])
        ConnectorAccount.objects.filter(pk=self.account.pk).update(
            sync_cursor={"last_modified_time": checkpoint["cursor"]}
        )

    def _begin(self, job: SyncJob) -> dict:
        """The first call of a job; its checkpoint is saved with the first page."""
        since = None
        if job.kind == SyncJob.Kind.INCREMENTAL and self.account.sync_cursor.get("last_modified_time"):
            since = self.account.sync_cursor["last_modified_time"]
        started = (job.started_at or job.created_at) - INCREMENTAL_OVERLAP
        orders_since = self.account.sync_cursor.get("last_modified_time") or (started - ORDER_STATUS_LOOKBACK).strftime(
            ZOHO_TIME
        )
        return {"page": 1, "since": since, "cursor": started.strftime(ZOHO_TIME), "orders_since": orders_since}

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
        """An item event (a workflow webhook) refreshes that item: read it now, then the double-count rule. A
        sales order event refreshes the status of one of ours (read now: events may arrive out of order)."""
        order = payload.get("salesorder") if isinstance(payload, dict) else None
        if isinstance(order, dict) and order.get("salesorder_id"):
            order_id = str(order["salesorder_id"])
            if order_id in selectors.documents_by_partner_id(self.account, PartnerDocument.Kind.SALES_ORDER):
                documents.refresh(self.account, [order_state(self._sales_order(order_id))])
            return
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
    #
    # Every document is created at most once whatever dies: before each create the message records that it
    # is about to send it (outbox.save_progress), and an attempt that finds that record looks for the earlier
    # copy by our own reference before creating anything (a sales order by its reference and our dedupe key in
    # its notes, an adjustment by its reference_number, which is our dedupe key).

    def push(self, message: OutboundMessage) -> dict:
        if message.kind == OutboundMessage.Kind.PUSH_SALE:
            return self._push_sales_order(message)
        if message.kind in (OutboundMessage.Kind.PUSH_ADJUSTMENT, OutboundMessage.Kind.PUSH_RETURN):
            return self._push_adjustment(message)
        raise PartnerRequestError(f"Zoho Inventory takes no {message.get_kind_display()} messages.")

    def _push_sales_order(self, message: OutboundMessage) -> dict:
        """A confirmed sales order at the price the channel charged, its reference the POS sale or order id and
        its notes naming the invoice and our message."""
        progress = message.response or {}
        if progress.get("salesorder_id"):
            order, created = self._sales_order(progress["salesorder_id"]), False
        elif progress.get("sending"):
            order = self._existing_sales_order(sale_reference(message), message.dedupe_key)
            created = False
        else:
            order = None
        if order is None:
            order, created = self._create_sales_order(message), True
        if order.get("status") == "draft":
            self.client.post(f"/salesorders/{order['salesorder_id']}/status/confirmed", idempotent=True)
            order = {**order, "status": "confirmed"}
        documents.record_pushed(message, order_state(order))
        return {
            "salesorder_id": str(order["salesorder_id"]),
            "salesorder_number": order.get("salesorder_number"),
            **({} if created else {"found_existing": True}),
        }

    def _create_sales_order(self, message: OutboundMessage) -> dict:
        payload = message.payload
        customer_id = self.account.settings.get("customer_id")
        if not customer_id:
            raise PartnerRequestError("Set customer_id in the Zoho account's settings to push sales orders.")
        body = {
            "customer_id": str(customer_id),
            "date": payload["date"],
            "reference_number": sale_reference(message),
            "notes": sale_note(message),
            "location_id": self.location_id,
            "line_items": [self._sales_order_line(line) for line in payload["lines"]],
        }
        save_progress(message, sending="salesorder")
        created = self.client.post("/salesorders", json=body).data
        order = created.get("salesorder") or created.get("sales_order") or {}
        save_progress(message, salesorder_id=str(order["salesorder_id"]))
        return order

    def _sales_order_line(self, line: dict) -> dict:
        """Zoho charges tax through a tax of its own (the account's ``tax_id``) rather than an amount, so a
        taxed line carries that tax and, in its description, the amount the channel charged."""
        item = {
            "item_id": self._item_id(line),
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

    def _item_id(self, line: dict) -> str:
        """Zoho's item of a message line: as known when the message was written, else as a sync has linked it
        since, else found by its SKU. A change made before the first sync linked the item (a sale in the demo's
        first minutes) is then sent rather than refused as an unknown item."""
        if line["external_id"]:
            return line["external_id"]
        linked = selectors.external_id(self.account, line["variant_id"])
        if linked:
            return linked
        items = self.client.get("/items", {"sku": line["sku"]}).data.get("items") or []
        match = next((item for item in items if item.get("sku") == line["sku"]), None)
        if match is None:
            raise PartnerNotFound(f"Zoho Inventory has no item with SKU {line['sku']!r}.")
        return str(match["item_id"])

    def _sales_order(self, salesorder_id: str) -> dict:
        data = self.client.get(f"/salesorders/{salesorder_id}").data
        return data.get("salesorder") or data.get("sales_order") or {}

    def _existing_sales_order(self, reference: str, dedupe_key: str) -> dict | None:
        """A sales order an earlier, unanswered attempt may have created: one with the sale's reference whose
        notes name this message (another channel may use the same order number)."""
        orders = self.client.get("/salesorders", {"reference_number": reference}).data.get("salesorders", [])
        for order in orders:
            if order.get("reference_number") != reference:
                continue
            detail = self._sales_order(order["salesorder_id"])
            if dedupe_key in (detail.get("notes") or ""):
                return detail
        return None

    def _push_adjustment(self, message: OutboundMessage) -> dict:
        """A quantity adjustment by our change. Units of a sale we pushed coming back are one too, naming the
        sales order: Zoho's own sales returns are raised against shipped packages and received separately,
        and our sales orders are never shipped through Zoho's packages, so a return could not be made there.
        Zoho takes a signed delta, so an adjustment an earlier attempt may have posted is looked for first."""
        progress = message.response or {}
        if progress.get("inventory_adjustment_id"):
            return {"inventory_adjustment_id": progress["inventory_adjustment_id"], "found_existing": True}
        adjustment = self._existing_adjustment(message) if progress.get("sending") else None
        created = adjustment is None
        if created:
            save_progress(message, sending="inventory_adjustment")
            body = self._adjustment_body(message)
            adjustment = self.client.post("/inventoryadjustments", json=body).data.get("inventory_adjustment", {})
        documents.record_pushed(message, adjustment_state(adjustment))
        return {
            "inventory_adjustment_id": str(adjustment.get("inventory_adjustment_id", "")),
            **({} if created else {"found_existing": True}),
        }

    def _adjustment_body(self, message: OutboundMessage) -> dict:
        payload = message.payload
        is_return = message.kind == OutboundMessage.Kind.PUSH_RETURN
        body = {
            "date": payload["date"],
            "reason": payload["reason"],
            "reference_number": message.dedupe_key,
            "adjustment_type": "quantity",
            "location_id": self.location_id,
            "line_items": [
                {
                    "item_id": self._item_id(line),
                    "quantity_adjusted": line["quantity"] if is_return else line["delta"],
                    "location_id": self.location_id,
                }
                for line in payload["lines"]
            ],
        }
        if is_return:
            order = selectors.pushed_document(self.account, payload["sale"])
            sold_on = f"sales order {order.number}" if order else "a sale"
            body["description"] = f"Units of {sold_on} coming back ({payload['reference']})."
        return body

    def _existing_adjustment(self, message: OutboundMessage) -> dict | None:
        """The adjustment an earlier attempt may have posted, by its reference_number (our dedupe key). The list
        is read newest first until it is older than the message, should the filter not narrow it."""
        page = 1
        while True:
            data = self.client.get(
                "/inventoryadjustments",
                {"reference_number": message.dedupe_key, "page": page, "per_page": PER_PAGE},
            ).data
            rows = data.get("inventory_adjustments") or []
            found = next((row for row in rows if row.get("reference_number") == message.dedupe_key), None)
            if found is not None:
                return found
            older = any(str(row.get("date", "")) < message.payload["date"] for row in rows)
            if older or not (data.get("page_context") or {}).get("has_more_page"):
                return None
            page += 1

    # --- what became of our documents ------------------------------------------------------------

    def _refresh_sales_orders(self, since: str) -> None:
        """The status of our sales orders changed since ``since`` (a pull's backstop for webhooks, which
        Zoho sends only on plans with workflow rules)."""
        page = 1
        while True:
            data = self.client.get(
                "/salesorders",
                {
                    "last_modified_time": since,
                    "sort_column": "last_modified_time",
                    "page": page,
                    "per_page": PER_PAGE,
                },
            ).data
            documents.refresh(self.account, [order_state(order) for order in data.get("salesorders") or []])
            if not (data.get("page_context") or {}).get("has_more_page"):
                return
            page += 1

    def documents_since(self, since: datetime) -> tuple[dict[str, list[DocumentState]], list[str]]:
        """Our documents at Zoho for messages made since ``since``, by dedupe key, and the kinds read whole:
        adjustments carry the key as their reference_number; a sales order carries the sale's reference, and
        our key in its notes, read only where the reference is one of ours not yet known as its document."""
        day = since.date().isoformat()
        found: dict[str, list[DocumentState]] = defaultdict(list)
        for adjustment in self._pages("/inventoryadjustments", "inventory_adjustments", until=day):
            if str(adjustment.get("reference_number", "")).startswith(DEDUPE_KEY_PREFIX):
                found[adjustment["reference_number"]].append(adjustment_state(adjustment))
        sales = OutboundMessage.objects.filter(
            account=self.account, kind=OutboundMessage.Kind.PUSH_SALE, created_at__gte=since
        )
        by_reference = defaultdict(list)
        for message in sales:
            by_reference[sale_reference(message)].append(message.dedupe_key)
        known = selectors.documents_by_partner_id(self.account, PartnerDocument.Kind.SALES_ORDER)
        for order in self._pages("/salesorders", "salesorders", until=day):
            keys = by_reference.get(order.get("reference_number"), [])
            order_id = str(order["salesorder_id"])
            if order_id in known:
                key = known[order_id]
            elif keys:
                notes = self._sales_order(order_id).get("notes") or ""
                key = next((key for key in keys if key in notes), None)
            else:
                key = None
            if key:
                found[key].append(order_state(order))
        return dict(found), [PartnerDocument.Kind.ADJUSTMENT, PartnerDocument.Kind.SALES_ORDER]

    def _pages(self, path: str, key: str, *, until: str):
        """A list's rows, newest first, until they are older than ``until`` (a date)."""
        page = 1
        while True:
            params = {"page": page, "per_page": PER_PAGE, "sort_column": "created_time", "sort_order": "D"}
            data = self.client.get(path, params).data
            rows = data.get(key) or []
            yield from (row for row in rows if str(row.get("date", "")) >= until)
            if any(str(row.get("date", "")) < until for row in rows):
                return
            if not (data.get("page_context") or {}).get("has_more_page"):
                return
            page += 1


def order_state(order: dict) -> DocumentState:
    """A sales order's state: void, draft, shipped (its shipped_status) or confirmed."""
    status, shipped = order.get("status", ""), order.get("shipped_status", "")
    if status == "void":
        ours = PartnerDocument.Status.VOID
    elif status == "draft":
        ours = PartnerDocument.Status.DRAFT
    elif shipped in ("shipped", "fulfilled"):
        ours = PartnerDocument.Status.FULFILLED
    else:
        ours = PartnerDocument.Status.CONFIRMED
    return DocumentState(
        kind=PartnerDocument.Kind.SALES_ORDER,
        partner_id=str(order["salesorder_id"]),
        number=str(order.get("salesorder_number") or ""),
        status=ours,
        partner_status=", ".join(part for part in (status, shipped) if part),
    )


def adjustment_state(adjustment: dict) -> DocumentState:
    return DocumentState(
        kind=PartnerDocument.Kind.ADJUSTMENT,
        partner_id=str(adjustment.get("inventory_adjustment_id", "")),
        number="",
        status=PartnerDocument.Status.CONFIRMED,
        partner_status=str(adjustment.get("status") or "adjusted"),
    )


def _parent(value) -> str | None:
    return None if value in (None, "", "-1", -1) else str(value)


def _quantity(entry: dict, *names: str) -> int:
    """The first of ``names`` present; Zoho's spec types them as strings, real payloads as numbers."""
    for name in names:
        if entry.get(name) not in (None, ""):
            return int(Decimal(str(entry[name])))
    return 0
