"""Cin7 Core: the system of record of a mirrored warehouse (BookBarber's shop).

Pulls products (incremental by ``ModifiedSince``) and the availability of the mirrored
location (``ref/productavailability`` ignores ``ModifiedSince``, so it is always read whole;
a product missing from it has nothing available there), then the status of our sales changed
since; pushes POS sales as a sale with an authorised order, their returns as a credit note with
restock, and local stock changes as completed stock adjustments; reads the stock and sale webhooks.
"""

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from connectors import documents, selectors
from connectors.clients import client_for
from connectors.documents import DocumentState
from connectors.http import PartnerError, PartnerMalformedResponse, PartnerRequestError
from connectors.models import ConnectorAccount, ExternalRef, OutboundMessage, PartnerDocument, SyncJob
from connectors.outbox import DEDUPE_KEY_PREFIX, sale_note, sale_reference, save_progress
from connectors.snapshots import ReadWindow, Snapshot, apply_snapshots
from connectors.sync import PageOutcome, RemoteItem, money, record_page, upsert_items
from inventory.models import StockLevel, StockMovement, Variant

PAGE_LIMIT = 1000
CENT = Decimal("0.01")
#: Cin7 keeps at most this many characters of a sale's CustomerReference.
CUSTOMER_REFERENCE_LENGTH = 256
INCREMENTAL_OVERLAP = timedelta(minutes=2)
CIN7_TIME = "%Y-%m-%dT%H:%M:%S.000"
#: A pull without a cursor yet reads the status of sales changed this far back.
SALE_STATUS_LOOKBACK = timedelta(days=7)
#: What an invoice line takes from the order line it invoices.
INVOICE_LINE_KEYS = ("ProductID", "SKU", "Name", "Quantity", "Price", "Discount", "Tax", "TaxRule", "Total")


class Cin7Connector:
    def __init__(self, account: ConnectorAccount):
        self.account = account
        self.client = client_for(account)
        self.location = str(account.settings["location"])

    def test_connection(self) -> str:
        locations = self.client.get("/ref/location").data.get("LocationList", [])
        if not any(loc.get("Name") == self.location for loc in locations):
            raise PartnerRequestError(f"Connected, but Cin7 has no location named {self.location!r}.")
        return f"Connected to Cin7 Core; mirroring location {self.location}."

    # --- pulling -----------------------------------------------------------------------------

    def pull(self, job: SyncJob) -> None:
        checkpoint = dict(job.checkpoint) or self._begin(job)
        if checkpoint["phase"] == "products":
            checkpoint = self._pull_products(job, checkpoint)
        if checkpoint["phase"] == "availability":
            checkpoint = self._pull_availability(job, checkpoint)
        if checkpoint["phase"] == "absent":
            self._zero_absent(job, checkpoint)
        self._refresh_sales(checkpoint.get("sales_since") or checkpoint["cursor"])
        ConnectorAccount.objects.filter(pk=self.account.pk).update(sync_cursor={"modified_since": checkpoint["cursor"]})

    def _begin(self, job: SyncJob) -> dict:
        since = None
        if job.kind == SyncJob.Kind.INCREMENTAL:
            since = self.account.sync_cursor.get("modified_since")
        started = (job.started_at or job.created_at) - INCREMENTAL_OVERLAP
        sales_since = self.account.sync_cursor.get("modified_since") or (started - SALE_STATUS_LOOKBACK).strftime(
            CIN7_TIME
        )
        return {
            "phase": "products",
            "page": 1,
            "since": since,
            "cursor": started.strftime(CIN7_TIME),
            "sales_since": sales_since,
            "seen": [],
        }

    def _pull_products(self, job: SyncJob, checkpoint: dict) -> dict:
        while True:
            params = {"Page": checkpoint["page"], "Limit": PAGE_LIMIT}
            if checkpoint["since"]:
                params["ModifiedSince"] = checkpoint["since"]
            body = self.client.get("/product", params).data
            products = _list(body, "Products")
            total = int(body.get("Total") or 0)
            more = checkpoint["page"] * PAGE_LIMIT < total and bool(products)
            with transaction.atomic():
                remote, outcome = _remote_items(products)
                _, upserted = upsert_items(self.account, remote)
                outcome.add(upserted)
                checkpoint = (
                    {**checkpoint, "page": checkpoint["page"] + 1}
                    if more
                    else {**checkpoint, "phase": "availability", "page": 1}
                )
                record_page(job, outcome, checkpoint=checkpoint, processed=len(products), total=total)
            if not more:
                return checkpoint

    def _pull_availability(self, job: SyncJob, checkpoint: dict) -> dict:
        while True:
            response = self.client.get(
                "/ref/productavailability", {"Page": checkpoint["page"], "Limit": PAGE_LIMIT, "Location": self.location}
            )
            rows = _list(response.data, "ProductAvailabilityList")
            total = int(response.data.get("Total") or 0)
            more = checkpoint["page"] * PAGE_LIMIT < total and bool(rows)
            read_from = checkpoint.get("read_from") or response.started_at.isoformat()
            with transaction.atomic():
                seen = self._apply_availability(
                    rows, ReadWindow(response.started_at, response.finished_at), reference=f"cin7 sync job {job.pk}"
                )
                checkpoint = {
                    **checkpoint,
                    "seen": sorted(set(checkpoint["seen"]) | seen),
                    "read_from": read_from,
                    "read_until": response.finished_at.isoformat(),
                }
                checkpoint.update({"page": checkpoint["page"] + 1} if more else {"phase": "absent", "page": None})
                record_page(job, PageOutcome(), checkpoint=checkpoint, processed=0)
            if not more:
                return checkpoint

    def handle_webhook(self, event_type: str, payload, received_at) -> None:
        """Stock and sale events name the products that changed; their availability is read now and
        applied by the double-count rule (a delivered row may predate our own pushes). A sale event (thin:
        the sale is read) also refreshes the status of the sale, if it is one of ours."""
        if event_type == "Stock/AvailableStockLevelChanged" and isinstance(payload, list):
            products = {
                str(row["ID"]) for row in payload if isinstance(row, dict) and row.get("Location") == self.location
            }
        elif event_type.startswith("Sale/") and isinstance(payload, dict) and payload.get("SaleID"):
            sale = self.client.get("/sale", {"ID": payload["SaleID"]}).data
            documents.refresh(self.account, [sale_state(sale)])
            products = {str(line["ProductID"]) for line in (sale.get("Order") or {}).get("Lines", [])}
        else:
            return
        for product_id in sorted(products):
            response = self.client.get(
                "/ref/productavailability", {"ID": product_id, "Location": self.location, "Limit": PAGE_LIMIT}
            )
            rows = [r for r in _list(response.data, "ProductAvailabilityList") if str(r.get("ID")) == product_id]
            with transaction.atomic():
                seen = self._apply_availability(
                    rows,
                    ReadWindow(response.started_at, response.finished_at),
                    reference="cin7 webhook",
                    source=StockMovement.Source.WEBHOOK,
                )
                if not seen:  # no row: nothing available there any more
                    variants = self._variants_by_external_id([product_id])
                    apply_snapshots(
                        self.account,
                        [Snapshot(v, 0) for v in variants.values() if v.track_inventory],
                        ReadWindow(response.started_at, response.finished_at),
                        reference="cin7 webhook",
                        source=StockMovement.Source.WEBHOOK,
                    )

    def _apply_availability(
        self, rows: list[dict], window: ReadWindow, *, reference: str, source=StockMovement.Source.SYNC
    ) -> set[int]:
        """Sum each product's rows (one per bin and batch) at the location and apply them as snapshots."""
        available: dict[str, int] = {}
        for row in rows:
            if row.get("Location") != self.location:
                continue
            available[str(row["ID"])] = available.get(str(row["ID"]), 0) + int(Decimal(str(row.get("Available") or 0)))
        variants = self._variants_by_external_id(available)
        snapshots = [Snapshot(variants[pid], quantity) for pid, quantity in available.items() if pid in variants]
        apply_snapshots(
            self.account,
            [s for s in snapshots if s.variant.track_inventory],
            window,
            reference=reference,
            source=source,
        )
        return {variant.pk for variant in variants.values()}

    def _zero_absent(self, job: SyncJob, checkpoint: dict) -> None:
        """Linked products with stock here but no availability row have none left at the location."""
        linked = ExternalRef.objects.filter(
            account=self.account, content_type=ContentType.objects.get_for_model(Variant)
        ).values("object_id")
        absent = (
            StockLevel.objects.filter(warehouse=self.account.warehouse, variant_id__in=linked, on_hand__gt=0)
            .exclude(variant_id__in=checkpoint["seen"])
            .select_related("variant")
        )
        window = ReadWindow(
            datetime.fromisoformat(checkpoint["read_from"]), datetime.fromisoformat(checkpoint["read_until"])
        )
        with transaction.atomic():
            apply_snapshots(
                self.account,
                [Snapshot(level.variant, 0) for level in absent if level.variant.track_inventory],
                window,
                reference=f"cin7 sync job {job.pk}",
            )
            record_page(job, PageOutcome(), checkpoint={**checkpoint, "phase": "done"}, processed=0)

    def _variants_by_external_id(self, external_ids) -> dict[str, Variant]:
        refs = dict(
            ExternalRef.objects.filter(
                account=self.account,
                content_type=ContentType.objects.get_for_model(Variant),
                external_id__in=list(external_ids),
            ).values_list("object_id", "external_id")
        )
        return {refs[v.pk]: v for v in Variant.objects.filter(pk__in=refs)}

    # --- pushing -----------------------------------------------------------------------------
    #
    # Every document is created at most once whatever dies: before each create the message records that it
    # is about to send it (outbox.save_progress), and an attempt that finds that record looks for the earlier
    # copy by our own reference before creating anything (a sale by its ExternalID, our dedupe key; a stock
    # adjustment by its Reference, the same key; a credit note by its memo, which names it).

    def push(self, message: OutboundMessage) -> dict:
        if message.kind == OutboundMessage.Kind.PUSH_SALE:
            return self._push_sale(message)
        if message.kind == OutboundMessage.Kind.PUSH_ADJUSTMENT:
            return self._push_adjustment(message)
        if message.kind == OutboundMessage.Kind.PUSH_RETURN:
            return self._push_return(message)
        raise PartnerRequestError(f"Cin7 Core takes no {message.get_kind_display()} messages.")

    def _push_sale(self, message: OutboundMessage) -> dict:
        """A sale header, then its order lines AUTHORISED at the price and tax the channel charged. The sale id
        is saved between the two, so a retry after a failure in between neither creates a second sale nor
        re-posts an authorised order. The POS's sale id is the CustomerReference and the note names the invoice,
        so staff find the sale in Cin7 by either."""
        progress = message.response or {}
        if progress.get("sale_id"):
            sale, created = self.client.get("/sale", {"ID": progress["sale_id"]}).data, False
        elif progress.get("sending"):
            sale, created = self._existing_sale(message), False
        else:
            sale = None
        if sale is None:
            sale, created = self._create_sale(message), True
        sale_id = str(sale.get("ID") or sale.get("SaleID"))
        if sale_state(sale).status == PartnerDocument.Status.DRAFT:
            save_progress(message, sale_id=sale_id, sending="order")
            order = self.client.post("/sale/order", json=self._order(message, sale_id)).data
            sale = {"ID": sale_id, "Order": order}
        state = sale_state(sale)
        documents.record_pushed(message, state)
        return {
            "sale_id": sale_id,
            "number": state.number,
            "order": "AUTHORISED",
            **({} if created else {"found_existing": True}),
        }

    def _create_sale(self, message: OutboundMessage) -> dict:
        header = {
            "Customer": self.account.settings.get("customer", "Stockpool POS"),
            "Location": self.location,
            "SkipQuote": True,
            "CustomerReference": sale_reference(message)[:CUSTOMER_REFERENCE_LENGTH],
            "ExternalID": message.dedupe_key,
            "Note": sale_note(message),
            "SaleOrderDate": message.payload["date"],
        }
        save_progress(message, sending="sale")
        sale = self.client.post("/sale", json=header).data
        save_progress(message, sale_id=str(sale["ID"]))
        return sale

    def _existing_sale(self, message: OutboundMessage) -> dict | None:
        """The sale an earlier, unanswered attempt may have created: the first with our dedupe key as its
        ExternalID (saleList filters by it; should it not, by a search for the sale's reference)."""
        for params in ({"ExternalID": message.dedupe_key}, {"Search": sale_reference(message)}):
            rows = _list(self.client.get("/saleList", {**params, "Limit": PAGE_LIMIT}).data, "SaleList")
            ours = sorted(
                (row for row in rows if row.get("ExternalID") == message.dedupe_key),
                key=lambda row: str(row.get("OrderNumber")),
            )
            if ours:
                return ours[0]
        return None

    def _order(self, message: OutboundMessage, sale_id: str) -> dict:
        lines = [self._order_line(line) for line in message.payload["lines"]]
        return {
            "SaleID": sale_id,
            "Status": "AUTHORISED",
            "AutoPickPackShipMode": "NOPICK",
            "Lines": lines,
            **_totals(lines),
        }

    def _order_line(self, line: dict) -> dict:
        """One order line; Cin7's line Total is before tax (the sale is not tax-inclusive) and its Tax the
        line's tax amount, under the account's tax rule for taxed lines (``tax_rule``, default Cin7's
        "Tax on Sales") or its exempt rule (``tax_exempt_rule``, default "Tax Exempt")."""
        price, tax = Decimal(line["unit_price"]), Decimal(line.get("tax") or 0)
        rule = (
            self.account.settings.get("tax_rule", "Tax on Sales")
            if tax
            else self.account.settings.get("tax_exempt_rule", "Tax Exempt")
        )
        return {
            "ProductID": line["external_id"],
            "SKU": line["sku"],
            "Name": line["name"],
            "Quantity": line["quantity"],
            "Price": float(price),
            "Discount": 0,
            "Tax": float(tax),
            "TaxRule": rule,
            "Total": float((price * line["quantity"]).quantize(CENT)),
        }

    def _push_adjustment(self, message: OutboundMessage) -> dict:
        """A completed stock adjustment. Cin7's line Quantity is the new on-hand level, so the target is read
        once (their on hand plus our change) and saved: a retry sends the same level, never adds twice. Posting
        it again would still make a second document and undo a change made there in between, so an adjustment
        an earlier attempt may have posted is looked for by its Reference (our dedupe key) first."""
        progress = message.response or {}
        if progress.get("task_id"):
            return {**progress, "found_existing": True}
        if "targets" not in progress:
            targets = {
                line["sku"]: max(0, self._on_hand(line["sku"]) + _change(line)) for line in message.payload["lines"]
            }
            progress = save_progress(message, targets=targets)
        adjustment = self._existing_adjustment(message) if progress.get("sending") == "stock_adjustment" else None
        created = adjustment is None
        if created:
            save_progress(message, sending="stock_adjustment")
            adjustment = self.client.post("/stockadjustment", json=self._adjustment(message, progress["targets"])).data
        documents.record_pushed(message, adjustment_state(adjustment))
        return {
            **progress,
            "task_id": str(adjustment.get("TaskID", "")),
            **({} if created else {"found_existing": True}),
        }

    def _adjustment(self, message: OutboundMessage, targets: dict) -> dict:
        return {
            "EffectiveDate": message.payload["date"],
            "Status": "COMPLETED",
            "Reference": message.dedupe_key,
            "Lines": [
                {
                    "ProductID": line["external_id"],
                    "SKU": line["sku"],
                    "Quantity": targets[line["sku"]],
                    "UnitCost": 0,
                    "Location": self.location,
                }
                for line in message.payload["lines"]
            ],
        }

    def _existing_adjustment(self, message: OutboundMessage) -> dict | None:
        """The adjustment with our dedupe key as its Reference (the list filters by nothing else, so it is read
        whole)."""
        return next(
            (row for row in self._adjustment_rows() if row.get("Reference") == message.dedupe_key),
            None,
        )

    def _adjustment_rows(self):
        page = 1
        while True:
            body = self.client.get("/stockadjustmentList", {"Page": page, "Limit": PAGE_LIMIT}).data
            rows = _list(body, "StockAdjustmentList")
            yield from rows
            if not rows or page * PAGE_LIMIT >= int(body.get("Total") or 0):
                return
            page += 1

    def _on_hand(self, sku: str) -> int:
        rows = _list(
            self.client.get("/ref/productavailability", {"Sku": sku, "Location": self.location}).data,
            "ProductAvailabilityList",
        )
        return sum(int(Decimal(str(r.get("OnHand") or 0))) for r in rows if r.get("SKU") == sku)

    def _push_return(self, message: OutboundMessage) -> dict:
        """Units of a sale we pushed coming back: a credit note on that sale, restocking them at our location,
        as Cin7 records a return (partner-apis.md B.6; a credit note needs the sale invoiced, so a sale not
        invoiced yet is invoiced first at the figures it was sold for). A simple sale takes one credit note:
        once it has one (an earlier return of the same sale), or is voided, the units go back as a stock
        adjustment instead. The sale is read first on every attempt, so a credit note an earlier attempt made
        (its memo names our message) is found, not made again."""
        if (message.response or {}).get("route") == "adjustment":
            return self._push_adjustment(message)
        pushed = selectors.pushed_document(self.account, message.payload["sale"])
        if pushed is None:
            raise PartnerError(f"Cin7 Core: the return waits for its sale ({message.payload['sale']}) to reach Cin7.")
        sale = self.client.get("/sale", {"ID": pushed.partner_id}).data
        notes = sale.get("CreditNotes") or []
        credit = next((note for note in notes if message.dedupe_key in (note.get("Memo") or "")), None)
        created = credit is None
        if created:
            if sale.get("Status") == "VOIDED" or any(note.get("Status") == "AUTHORISED" for note in notes):
                save_progress(message, route="adjustment")
                return self._push_adjustment(message)
            if not any(invoice.get("Status") in ("AUTHORISED", "PAID") for invoice in sale.get("Invoices") or []):
                self.client.post("/sale/invoice", json=self._invoice(message, sale))
            save_progress(message, sending="credit_note")
            answer = self.client.post("/sale/creditnote", json=self._credit_note(message, pushed.partner_id)).data
            credit = next(note for note in answer["CreditNotes"] if message.dedupe_key in (note.get("Memo") or ""))
        documents.record_pushed(
            message,
            DocumentState(
                kind=PartnerDocument.Kind.CREDIT_NOTE,
                partner_id=str(credit["TaskID"]),
                number=str(credit.get("CreditNoteNumber") or ""),
                status=PartnerDocument.Status.CONFIRMED,
                partner_status=str(credit.get("Status") or ""),
            ),
        )
        return {
            "sale_id": pushed.partner_id,
            "credit_note": str(credit["TaskID"]),
            **({} if created else {"found_existing": True}),
        }

    def _invoice(self, message: OutboundMessage, sale: dict) -> dict:
        """The sale's invoice at its order's lines and figures, authorised the day of the return."""
        lines = [
            {key: line[key] for key in INVOICE_LINE_KEYS if key in line}
            for line in (sale.get("Order") or {}).get("Lines", [])
        ]
        return {
            "SaleID": str(sale["ID"]),
            "Status": "AUTHORISED",
            "InvoiceDate": message.payload["date"],
            "InvoiceDueDate": message.payload["date"],
            "Memo": f"Stockpool: invoiced to credit the return {message.dedupe_key}",
            "Lines": lines,
        }

    def _credit_note(self, message: OutboundMessage, sale_id: str) -> dict:
        lines = [self._order_line(line) for line in message.payload["lines"]]
        return {
            "SaleID": sale_id,
            "Status": "AUTHORISED",
            "CreditNoteDate": message.payload["date"],
            "Memo": f"Stockpool return {message.dedupe_key}: {message.payload['reference']}",
            "Lines": lines,
            "Restock": [
                {
                    "ProductID": line["ProductID"],
                    "SKU": line["SKU"],
                    "Name": line["Name"],
                    "Quantity": line["Quantity"],
                    "Location": self.location,
                }
                for line in lines
            ],
            **_totals(lines),
        }

    # --- what became of our documents ------------------------------------------------------------

    def _refresh_sales(self, since: str) -> None:
        """The status of our sales changed since ``since`` (a pull's backstop for the sale webhooks)."""
        page = 1
        while True:
            body = self.client.get("/saleList", {"UpdatedSince": since, "Page": page, "Limit": PAGE_LIMIT}).data
            rows = _list(body, "SaleList")
            documents.refresh(self.account, [sale_state(row) for row in rows])
            if not rows or page * PAGE_LIMIT >= int(body.get("Total") or 0):
                return
            page += 1

    def documents_since(self, since: datetime) -> tuple[dict[str, list[DocumentState]], list[str]]:
        """Our documents at Cin7 for messages made since ``since``, by dedupe key (a sale's ExternalID, a stock
        adjustment's Reference), and the kinds read whole."""
        found: dict[str, list[DocumentState]] = defaultdict(list)
        page = 1
        while True:
            params = {"CreatedSince": since.strftime(CIN7_TIME), "Page": page, "Limit": PAGE_LIMIT}
            body = self.client.get("/saleList", params).data
            rows = _list(body, "SaleList")
            for row in rows:
                if str(row.get("ExternalID") or "").startswith(DEDUPE_KEY_PREFIX):
                    found[row["ExternalID"]].append(sale_state(row))
            if not rows or page * PAGE_LIMIT >= int(body.get("Total") or 0):
                break
            page += 1
        day = since.date().isoformat()
        for row in self._adjustment_rows():
            reference = str(row.get("Reference") or "")
            if reference.startswith(DEDUPE_KEY_PREFIX) and str(row.get("EffectiveDate", ""))[:10] >= day:
                found[reference].append(adjustment_state(row))
        return dict(found), [PartnerDocument.Kind.SALE, PartnerDocument.Kind.ADJUSTMENT]


def sale_state(sale: dict) -> DocumentState:
    """A sale's state, from ``GET /sale`` or a saleList row: voided, shipped, authorised or draft."""
    order = sale.get("Order") or {}
    status = str(sale.get("Status") or "")
    order_status = str(sale.get("OrderStatus") or order.get("Status") or "")
    shipped = sale.get("FulFilmentStatus") == "FULFILLED" or sale.get("CombinedShippingStatus") == "SHIPPED"
    if "VOIDED" in (status, order_status):
        ours = PartnerDocument.Status.VOID
    elif shipped or status in ("SHIPPED", "COMPLETED"):
        ours = PartnerDocument.Status.FULFILLED
    elif order_status == "AUTHORISED":
        ours = PartnerDocument.Status.CONFIRMED
    else:
        ours = PartnerDocument.Status.DRAFT
    return DocumentState(
        kind=PartnerDocument.Kind.SALE,
        partner_id=str(sale.get("SaleID") or sale.get("ID")),
        number=str(sale.get("OrderNumber") or order.get("SaleOrderNumber") or ""),
        status=ours,
        partner_status=status or f"order {order_status}",
    )


def adjustment_state(adjustment: dict) -> DocumentState:
    return DocumentState(
        kind=PartnerDocument.Kind.ADJUSTMENT,
        partner_id=str(adjustment.get("TaskID", "")),
        number=str(adjustment.get("StocktakeNumber") or ""),
        status=PartnerDocument.Status.VOID
        if adjustment.get("Status") == "VOIDED"
        else PartnerDocument.Status.CONFIRMED,
        partner_status=str(adjustment.get("Status") or ""),
    )


def _change(line: dict) -> int:
    """A line's change of on hand: a local change's delta, or the units a return brings back."""
    return line["delta"] if "delta" in line else line["quantity"]


def _totals(lines: list[dict]) -> dict:
    before_tax = sum(Decimal(str(line["Total"])) for line in lines)
    tax = sum(Decimal(str(line["Tax"])) for line in lines)
    return {"TotalBeforeTax": float(before_tax), "Tax": float(tax), "Total": float(before_tax + tax)}


def _list(body, key: str) -> list:
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        raise PartnerMalformedResponse(f"Cin7 Core: a page without a {key!r} list.")
    return body[key]


def _remote_items(products: list[dict]) -> tuple[list[RemoteItem], PageOutcome]:
    outcome, items = PageOutcome(), []
    for raw in products:
        try:
            items.append(
                RemoteItem(
                    external_id=str(raw["ID"]),
                    sku=str(raw.get("SKU") or ""),
                    name=str(raw["Name"]),
                    product_name=str(raw["Name"]),
                    category=str(raw.get("Category") or ""),
                    brand=str(raw.get("Brand") or ""),
                    barcode=str(raw.get("Barcode") or ""),
                    price=money(raw.get("PriceTier1")),
                    cost_price=money(raw.get("AverageCost")),
                    active=raw.get("Status", "Active") == "Active",
                    track_inventory=raw.get("Type", "Stock") == "Stock",
                    reorder_point=int(raw["MinimumBeforeReorder"]) if raw.get("MinimumBeforeReorder") else None,
                )
            )
        except (KeyError, TypeError, ValueError, InvalidOperation) as error:
            outcome.failed += 1
            outcome.errors.append(
                f"Cin7 product {raw.get('ID', '?') if isinstance(raw, dict) else '?'}: "
                f"unreadable ({type(error).__name__}: {error})."
            )
    return items, outcome
