"""Medusa v2: a storefront channel we publish per-location stock to, and whose orders book their units here.

Medusa's sellable figure at a location is ``stocked_quantity - reserved_quantity`` (its own
reservations hold units for orders it has taken). We publish so that this equals our channel
availability: ``stocked_quantity = ours + Medusa's reserved``, set absolutely (a repeat is harmless).

Its orders reach us through the subscriber recipe we ship (``integrations/medusa``): each event carries the
order as Medusa's admin API shows it (and, for a received return, the return), signed with our scheme. Every
event books the order as a channel order, once however often and in whatever order the events arrive:

* ``order.placed``: sold, the channel has taken it, even when we are short (an oversell incident says so);
  held instead while Medusa says its payment is still outstanding, so that an order that may never be paid
  is not pushed to a system of record as a sale;
* ``order.fulfillment_created``: sold (the units have left); nothing moves for an order already sold;
* ``order.canceled``: whatever the order took comes back (its hold released, its sale returned to the shelf);
* ``order.return_received``: the units Medusa received back go on the shelf they were sold from as ``return``
  movements, damaged ones only recorded, exactly as far as Medusa's figures for that return say.

An event we can never honour (malformed, unknown SKU, a return of units not sold) raises a DomainError: the
webhook event is rejected with the reason instead of being retried.
"""

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Sum

from connectors.clients import client_for
from connectors.http import PartnerMalformedResponse, PartnerNotFound, PartnerRequestError
from connectors.models import ConnectorAccount, OutboundMessage, SyncJob
from connectors.publishing import settle_quantity_drift
from connectors.sync import PageOutcome, record_page
from inventory.exceptions import InvalidInput
from inventory.locking import stock_transaction
from inventory.selectors import variants_for_channel
from reservations import services as reservations
from reservations.exceptions import UnknownSku
from reservations.models import Reservation, ReturnLine

PAGE_LIMIT = 100
ORDER_PLACED = "order.placed"
ORDER_CANCELED = "order.canceled"
FULFILLMENT_CREATED = "order.fulfillment_created"
RETURN_RECEIVED = "order.return_received"
ORDER_EVENTS = frozenset({ORDER_PLACED, ORDER_CANCELED, FULFILLMENT_CREATED, RETURN_RECEIVED})
#: Medusa's payment states before the money is secured (authorized or captured).
UNPAID = frozenset({"not_paid", "awaiting", "requires_action"})
#: Medusa's fulfilment states once units have left its location.
FULFILLED = frozenset(
    {"partially_fulfilled", "fulfilled", "partially_shipped", "shipped", "partially_delivered", "delivered"}
)
#: Medusa's ids are a prefix and a ULID; anything much longer is not one of its ids.
MAX_ID_LENGTH = 64
#: The most units one line may carry; more is a broken event, not an order.
MAX_LINE_QUANTITY = 100_000
#: The largest unit price a sale line stores.
MAX_PRICE = Decimal("9999999999.99")


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
        """Our subscriber recipe's order events (see the module docstring); other events are not ours to act on."""
        if event_type not in ORDER_EVENTS:
            return
        if not isinstance(payload, dict):
            raise InvalidInput("A Medusa event must be a JSON object.")
        reservation = record_order(self.account, payload.get("data"), event_type)
        if event_type == RETURN_RECEIVED:
            record_return(self.account, reservation, payload["data"], payload.get("return"))

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


@dataclass(frozen=True)
class OrderLine:
    line_id: str | None
    sku: str
    quantity: int
    unit_price: Decimal | None


def order_state(event_type: str, order: dict) -> str:
    """What an event says became of a Medusa order: cancelled, sold (paid for, or units sent), or pending."""
    if event_type == ORDER_CANCELED or order.get("status") == "canceled":
        return reservations.CANCELLED
    if event_type in (FULFILLMENT_CREATED, RETURN_RECEIVED) or order.get("fulfillment_status") in FULFILLED:
        return reservations.SOLD
    return reservations.PENDING if order.get("payment_status") in UNPAID else reservations.SOLD


def order_ref(medusa_order_id: str) -> str:
    return f"medusa:{medusa_order_id}"


def record_order(account: ConnectorAccount, order, event_type: str = ORDER_PLACED) -> Reservation:
    """Book a Medusa order on the account's channel as ``event_type`` leaves it (see the module docstring).

    Raises InvalidInput (malformed order) or UnknownSku, having written nothing.
    """
    order_id = _medusa_id(order, "order")
    lines = order_lines(order)
    variants = _variants(account, lines)
    return reservations.record_channel_order(
        channel=account.channel,
        order_ref=order_ref(order_id),
        lines=[
            reservations.LineRequest(variants[line.sku], line.quantity, unit_price=line.unit_price) for line in lines
        ],
        state=order_state(event_type, order),
        customer_name=str(order.get("email") or "")[:200],
        invoice_number=str(order.get("display_id") or "")[:128],
    )


def record_return(account: ConnectorAccount, reservation: Reservation, order: dict, medusa_return) -> None:
    """Put back what Medusa received of one return: its received units restocked, its damaged ones recorded.

    Medusa's figures per return item are cumulative, so each event books only what goes beyond the units
    already booked for that return: repeats and older figures book nothing. Raises InvalidInput (malformed
    return) or ReturnExceedsSale (more back than the order sold here) with nothing written.
    """
    return_id = _medusa_id(medusa_return, "return")
    if medusa_return.get("order_id") not in (None, order["id"]):
        raise InvalidInput(f"Medusa return {return_id} belongs to another order than {order['id']}.")
    sku_of_line = {line.line_id: line.sku for line in order_lines(order) if line.line_id}
    items = medusa_return.get("items")
    if not isinstance(items, list) or not items:
        raise InvalidInput(f"Medusa return {return_id} has no items.")
    received, damaged = defaultdict(int), defaultdict(int)
    for index, item in enumerate(items, start=1):
        where = f"Medusa return {return_id}, item {index}"
        line_id = item.get("item_id") if isinstance(item, dict) else None
        sku = sku_of_line.get(line_id) if isinstance(line_id, str) else None
        if sku is None:
            raise InvalidInput(f"{where} names no line of order {order['id']}.")
        received[sku] += _units(item.get("received_quantity"), where, allow_zero=True)
        damaged[sku] += _units(item.get("damaged_quantity"), where, allow_zero=True)
    variants = variants_for_channel(account.channel, set(received) | set(damaged))
    _settle_return(
        account.channel,
        reservation.pk,
        return_id,
        {variants[sku]: units for sku, units in received.items() if units},
        {variants[sku]: units for sku, units in damaged.items() if units},
    )


@stock_transaction
def _settle_return(channel, reservation_id, return_id: str, received: dict, damaged: dict) -> None:
    """Under the order's lock, so that concurrent events of one return count each unit once."""
    Reservation.objects.select_for_update().filter(pk=reservation_id).first()
    booked = defaultdict(int)
    rows = (
        ReturnLine.objects.filter(
            sale_return__reservation_id=reservation_id, sale_return__return_ref__startswith=f"{return_id}:"
        )
        .order_by()
        .values_list("sale_return__restock", "sold_line__variant_id")
        .annotate(total=Sum("quantity"))
    )
    for restock, variant_id, total in rows:
        booked[restock, variant_id] = total
    for restock, cumulative, kind in ((True, received, "restocked"), (False, damaged, "damaged")):
        due = [
            reservations.ReturnRequest(variant, units - booked[restock, variant.pk])
            for variant, units in cumulative.items()
            if units > booked[restock, variant.pk]
        ]
        if due:
            reservations.record_return(
                channel=channel,
                reservation_id=reservation_id,
                return_ref=f"{return_id}:{kind}:{sum(cumulative.values())}",
                lines=due,
                restock=restock,
                reason=f"Medusa return {return_id}" + ("" if restock else " (damaged)"),
            )


def order_lines(order: dict) -> list[OrderLine]:
    """The order's lines with a product variant (a custom line holds no stock), checked: InvalidInput names the
    first bad one."""
    items = order.get("items")
    if not isinstance(items, list):
        raise InvalidInput(f"Medusa order {order['id']} has no list of items.")
    lines = []
    for index, item in enumerate(items, start=1):
        where = f"Medusa order {order['id']}, line {index}"
        if not isinstance(item, dict):
            raise InvalidInput(f"{where} is not an object.")
        sku = item.get("variant_sku")
        if sku is None and item.get("variant_id") is None:
            continue
        if not isinstance(sku, str) or not sku.strip():
            raise InvalidInput(f"{where} has a variant but no SKU.")
        line_id = item.get("id")
        lines.append(
            OrderLine(
                line_id=line_id if isinstance(line_id, str) else None,
                sku=sku,
                quantity=_units(item.get("quantity"), where),
                unit_price=_price(item.get("unit_price"), where),
            )
        )
    if not lines:
        raise InvalidInput(f"Medusa order {order['id']} has no line with a product variant: nothing to book.")
    return lines


def _variants(account: ConnectorAccount, lines: list[OrderLine]) -> dict:
    skus = {line.sku for line in lines}
    variants = variants_for_channel(account.channel, skus)
    unknown = sorted(skus - set(variants))
    if unknown:
        raise UnknownSku(unknown)
    return variants


def _medusa_id(entity, what: str) -> str:
    if not isinstance(entity, dict):
        raise InvalidInput(f"The Medusa event carries no {what}.")
    value = entity.get("id")
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID_LENGTH:
        raise InvalidInput(f"The Medusa {what} has no valid id ({str(value)[:80]!r}).")
    return value


def _units(value, where: str, *, allow_zero: bool = False) -> int:
    """A JSON integer count of units: strings, floats, NaN, booleans and out-of-range counts are refused."""
    if value is None and allow_zero:
        return 0
    if type(value) is not int or not (0 if allow_zero else 1) <= value <= MAX_LINE_QUANTITY:
        raise InvalidInput(f"{where}: {str(value)[:40]!r} is not a whole number of units.")
    return value


def _price(value, where: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidInput(f"{where}: the unit price {str(value)[:40]!r} is not a number.")
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        price = Decimal("NaN")
    if not price.is_finite() or price < 0 or price > MAX_PRICE:
        raise InvalidInput(f"{where}: the unit price {str(value)[:40]!r} is not a price.")
    return price.quantize(Decimal("0.01"))
