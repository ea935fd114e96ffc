"""Medusa v2: a storefront channel we publish per-location stock to, and whose orders become sales here.

Medusa's sellable figure at a location is ``stocked_quantity - reserved_quantity`` (its own
reservations hold units for orders it has taken). We publish so that this equals our channel
availability: ``stocked_quantity = ours + Medusa's reserved``, set absolutely (a repeat is harmless).
"""

from decimal import Decimal

from django.db import transaction

from connectors.clients import client_for
from connectors.http import PartnerMalformedResponse, PartnerNotFound, PartnerRequestError
from connectors.models import ConnectorAccount, OutboundMessage, SyncJob
from connectors.publishing import settle_quantity_drift
from connectors.sync import PageOutcome, record_page

PAGE_LIMIT = 100


class MedusaConnector:
    def __init__(self, account: ConnectorAccount):
        self.account = account
        self.client = client_for(account)
        self.location_id = account.settings["location_id"]

    def test_connection(self) -> str:
        locations = self.client.get("/admin/stock-locations", {"limit": 100}).data.get("stock_locations", [])
        location = next((loc for loc in locations if loc.get("id") == self.location_id), None)
        if location is None:
            raise PartnerNotFound(f"Connected, but Medusa has no stock location {self.location_id}.")
        return f"Connected to Medusa; publishing to stock location {location.get('name')}."

    def push(self, message: OutboundMessage) -> dict:
        if message.kind != OutboundMessage.Kind.PUBLISH_QUANTITY:
            raise PartnerRequestError(f"Medusa takes no {message.get_kind_display()} messages.")
        sku, quantity = message.payload["sku"], message.payload["quantity"]
        item = self._inventory_item(sku)
        level = self._level(item)
        stocked = quantity + int(level.get("reserved_quantity") or 0) if level else quantity
        path = f"/admin/inventory-items/{item['id']}/location-levels"
        if level:
            self.client.post(f"{path}/{self.location_id}", json={"stocked_quantity": stocked}, idempotent=True)
        else:
            self.client.post(path, json={"location_id": self.location_id, "stocked_quantity": stocked})
        return {"inventory_item_id": item["id"], "stocked_quantity": stocked}

    def _inventory_item(self, sku: str) -> dict:
        # Medusa's default fields include ``sku`` and ``*location_levels``; naming fields would replace them.
        items = self.client.get("/admin/inventory-items", {"sku": sku, "limit": 1}).data.get("inventory_items", [])
        if not items:
            raise PartnerNotFound(f"Medusa has no inventory item with SKU {sku!r}.")
        return items[0]

    def _level(self, item: dict) -> dict | None:
        return next(
            (lvl for lvl in item.get("location_levels") or [] if lvl.get("location_id") == self.location_id), None
        )

    def handle_webhook(self, event_type: str, payload, received_at) -> None:
        """Our subscriber recipe's events: an ``order.placed`` is a sale here."""
        if event_type == "order.placed" and isinstance(payload, dict):
            record_order(self.account, payload.get("data") or {})

    def pull(self, job: SyncJob) -> None:
        """A drift check: what Medusa would sell at our location, against what we last published."""
        offset = int(job.checkpoint.get("offset", 0))
        while True:
            body = self.client.get("/admin/inventory-items", {"limit": PAGE_LIMIT, "offset": offset}).data
            items = body.get("inventory_items") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise PartnerMalformedResponse("Medusa: an inventory-items page without 'inventory_items'.")
            with transaction.atomic():
                outcome = PageOutcome()
                for item in items:
                    level = self._level(item)
                    if not item.get("sku") or level is None:
                        outcome.unchanged += 1
                        continue
                    sellable = int(level.get("stocked_quantity") or 0) - int(level.get("reserved_quantity") or 0)
                    if settle_quantity_drift(self.account, item["sku"], sellable):
                        outcome.updated += 1
                    else:
                        outcome.unchanged += 1
                offset += len(items)
                record_page(job, outcome, checkpoint={"offset": offset}, processed=len(items), total=body.get("count"))
            if not items or offset >= int(body.get("count") or 0):
                return


def record_order(account: ConnectorAccount, order: dict):
    """A Medusa ``order.placed`` becomes a sale on the account's channel, exactly once per Medusa order id.

    Raises UnknownSku or InsufficientStock (nothing written) when the order cannot be honoured here.
    """
    from inventory.selectors import variants_for_channel
    from reservations import services as reservations
    from reservations.exceptions import UnknownSku

    items = order.get("items") or []
    variants = variants_for_channel(account.channel, [item.get("variant_sku") for item in items])
    unknown = sorted({item.get("variant_sku") or "?" for item in items if item.get("variant_sku") not in variants})
    if unknown:
        raise UnknownSku(unknown)
    lines = [
        reservations.LineRequest(
            variant=variants[item["variant_sku"]],
            quantity=int(item["quantity"]),
            unit_price=Decimal(str(item.get("unit_price", 0))).quantize(Decimal("0.01")),
        )
        for item in items
    ]
    return reservations.record_pos_sale(
        channel=account.channel,
        sale_id=f"medusa:{order['id']}",
        lines=lines,
        invoice_number=str(order.get("display_id", "")),
        customer_name=str(order.get("email", "")),
    )
