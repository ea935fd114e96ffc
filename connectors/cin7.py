"""Cin7 Core: the system of record of a mirrored warehouse (BookBarber's shop).

Pulls products (incremental by ``ModifiedSince``) and the availability of the mirrored
location (``ref/productavailability`` ignores ``ModifiedSince``, so it is always read whole;
a product missing from it has nothing available there); pushes POS sales as a sale with an
authorised order, and local stock changes as completed stock adjustments.
"""

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from connectors.clients import client_for
from connectors.http import PartnerMalformedResponse, PartnerRequestError
from connectors.models import ConnectorAccount, ExternalRef, OutboundMessage, SyncJob
from connectors.outbox import sale_note, sale_reference
from connectors.snapshots import ReadWindow, Snapshot, apply_snapshots
from connectors.sync import PageOutcome, RemoteItem, money, record_page, upsert_items
from inventory.models import StockLevel, StockMovement, Variant

PAGE_LIMIT = 1000
CENT = Decimal("0.01")
#: Cin7 keeps at most this many characters of a sale's CustomerReference.
CUSTOMER_REFERENCE_LENGTH = 256
INCREMENTAL_OVERLAP = timedelta(minutes=2)
CIN7_TIME = "%Y-%m-%dT%H:%M:%S.000"


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
        ConnectorAccount.objects.filter(pk=self.account.pk).update(sync_cursor={"modified_since": checkpoint["cursor"]})

    def _begin(self, job: SyncJob) -> dict:
        since = None
        if job.kind == SyncJob.Kind.INCREMENTAL:
            since = self.account.sync_cursor.get("modified_since")
        started = (job.started_at or job.created_at) - INCREMENTAL_OVERLAP
        return {"phase": "products", "page": 1, "since": since, "cursor": started.strftime(CIN7_TIME), "seen": []}

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
        applied by the double-count rule (a delivered row may predate our own pushes)."""
        if event_type == "Stock/AvailableStockLevelChanged" and isinstance(payload, list):
            products = {
                str(row["ID"]) for row in payload if isinstance(row, dict) and row.get("Location") == self.location
            }
        elif event_type.startswith("Sale/") and isinstance(payload, dict) and payload.get("SaleID"):
            sale = self.client.get("/sale", {"ID": payload["SaleID"]}).data
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

    def push(self, message: OutboundMessage) -> dict:
        if message.kind == OutboundMessage.Kind.PUSH_SALE:
            return self._push_sale(message)
        if message.kind == OutboundMessage.Kind.PUSH_ADJUSTMENT:
            return self._push_adjustment(message)
        raise PartnerRequestError(f"Cin7 Core takes no {message.get_kind_display()} messages.")

    def _push_sale(self, message: OutboundMessage) -> dict:
        """A sale header, then its order lines AUTHORISED at the price and tax the channel charged. The sale id
        is saved between the two, so a retry after a failure in between neither creates a second sale nor
        re-posts an authorised order. The POS's sale id is the CustomerReference and the note names the invoice,
        so staff find the sale in Cin7 by either."""
        progress = dict(message.response or {})
        if progress.get("sale_id"):
            sale = self.client.get("/sale", {"ID": progress["sale_id"]}).data
            if (sale.get("Order") or {}).get("Status") == "AUTHORISED":
                return {**progress, "order": "AUTHORISED"}
        else:
            header = {
                "Customer": self.account.settings.get("customer", "Stockpool POS"),
                "Location": self.location,
                "SkipQuote": True,
                "CustomerReference": sale_reference(message)[:CUSTOMER_REFERENCE_LENGTH],
                "ExternalID": message.dedupe_key,
                "Note": sale_note(message),
                "SaleOrderDate": message.payload["date"],
            }
            progress["sale_id"] = str(self.client.post("/sale", json=header).data["ID"])
            _save_progress(message, progress)
        lines = [self._order_line(line) for line in message.payload["lines"]]
        before_tax = sum(Decimal(str(line["Total"])) for line in lines)
        tax = sum(Decimal(str(line["Tax"])) for line in lines)
        order = {
            "SaleID": progress["sale_id"],
            "Status": "AUTHORISED",
            "AutoPickPackShipMode": "NOPICK",
            "Lines": lines,
            "TotalBeforeTax": float(before_tax),
            "Tax": float(tax),
            "Total": float(before_tax + tax),
        }
        self.client.post("/sale/order", json=order)
        return {**progress, "order": "AUTHORISED"}

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
        """A completed stock adjustment. Cin7's line Quantity is the new on-hand level, so the target is
        read once (their on hand plus our change) and saved: a retry sends the same level, never adds twice."""
        progress = dict(message.response or {})
        if "targets" not in progress:
            progress["targets"] = {
                line["sku"]: max(0, self._on_hand(line["sku"]) + line["delta"]) for line in message.payload["lines"]
            }
            _save_progress(message, progress)
        body = {
            "EffectiveDate": message.payload["date"],
            "Status": "COMPLETED",
            "Reference": message.dedupe_key,
            "Lines": [
                {
                    "ProductID": line["external_id"],
                    "SKU": line["sku"],
                    "Quantity": progress["targets"][line["sku"]],
                    "UnitCost": 0,
                    "Location": self.location,
                }
                for line in message.payload["lines"]
            ],
        }
        task = self.client.post("/stockadjustment", json=body, idempotent=True).data.get("TaskID", "")
        return {**progress, "task_id": str(task)}

    def _on_hand(self, sku: str) -> int:
        rows = _list(
            self.client.get("/ref/productavailability", {"Sku": sku, "Location": self.location}).data,
            "ProductAvailabilityList",
        )
        return sum(int(Decimal(str(r.get("OnHand") or 0))) for r in rows if r.get("SKU") == sku)


def _save_progress(message: OutboundMessage, progress: dict) -> None:
    OutboundMessage.objects.filter(pk=message.pk).update(response=progress)


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
