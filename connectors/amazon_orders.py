"""Amazon's own orders (Orders API v0 and ``ORDER_CHANGE``), booked as the Amazon channel's orders.

An MFN order holds its units as soon as Amazon reports it, sells them once Amazon reports it paid for or
shipped, and gives them back when it is cancelled: ``reservations.services.record_channel_order`` moves the pool
once per order however often and in whatever order the notifications and the pull report it. Lines come from
the order's items, SellerSKU being our SKU on the channel; an item whose SKU is not ours is left out and named
in an error (the event is rejected, the pull counts it failed), never retried forever. AFN orders ship from
Amazon's centres and reach our stock only through the FBA warehouse's own pull, so they book nothing here.

The pull reads ``getOrders`` by ``LastUpdatedAfter`` (from where the last complete read ended, less an overlap
for orders Amazon lists late) and ``getOrderItems`` only for orders not yet booked; the bound Amazon says its
answer is complete to (``LastUpdatedBefore``) is kept as the account's watermark. The drift check catches up to
a quantity notification's event time the same way before it settles, so a quantity Amazon lowered for an order
we have not booked yet is never published back up.
"""

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.cache import cache
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from connectors.http import PartnerMalformedResponse, PartnerUnavailable
from connectors.models import ConnectorAccount, OutboundMessage, SyncJob, WebhookEvent
from connectors.sync import PageOutcome, record_page
from inventory.exceptions import DomainError
from inventory.selectors import variants_for_channel
from reservations import services as reservations
from reservations.models import Reservation, ReservationLine

logger = logging.getLogger(__name__)

ORDERS = "/orders/v0/orders"
ORDER_CHANGE = "ORDER_CHANGE"
#: What an order's Amazon status makes of it here. Unfulfillable concerns Multi-Channel Fulfilment (AFN) only.
STATES = {
    "PendingAvailability": reservations.PENDING,
    "Pending": reservations.PENDING,
    "Unshipped": reservations.SOLD,
    "PartiallyShipped": reservations.SOLD,
    "Shipped": reservations.SOLD,
    "InvoiceUnconfirmed": reservations.SOLD,
    "Canceled": reservations.CANCELLED,
}
#: Where each state leaves a booked order: a report of that state finds nothing left to do.
SETTLED = {
    reservations.PENDING: {Reservation.Status.ACTIVE, Reservation.Status.CONSUMED, Reservation.Status.RELEASED},
    reservations.SOLD: {Reservation.Status.CONSUMED, Reservation.Status.RELEASED},
    reservations.CANCELLED: {Reservation.Status.RELEASED},
}
#: Each read starts this far before where the last one ended: Amazon may list an order a little late.
OVERLAP = timedelta(minutes=5)
WATERMARK = "orders_read_until"
#: How long a drift check waits for another worker's read of the same orders before reading itself.
CATCH_UP_LOCK_SECONDS = 120


class UnlistedAmazonSkus(DomainError):
    """An Amazon order sold SKUs the channel does not sell: its other lines are booked, these are named."""

    code = "unlisted_amazon_skus"


class MalformedAmazonData(DomainError):
    """A notification or an order we cannot read: rejected with the reason, never retried."""

    code = "malformed_amazon_data"


@dataclass(frozen=True)
class ItemReport:
    sku: str
    quantity: int
    unit_price: Decimal | None = None
    tax: Decimal | None = None


@dataclass(frozen=True)
class OrderReport:
    """What Amazon says of an order, from a notification or the API; ``items`` None when it did not say."""

    order_id: str
    status: str
    fulfillment: str
    items: tuple[ItemReport, ...] | None = None


def order_state(status: str) -> str | None:
    """Our state for Amazon's order status: pending, sold or cancelled; None for a status that moves nothing."""
    return STATES.get(status)


def report_from_notification(notification: dict) -> OrderReport:
    """An ORDER_CHANGE's order; its items when it lists the whole order (OrderLevel), else left to be read."""
    try:
        change = notification["Payload"]["OrderChangeNotification"]
        summary = change["Summary"]
        items = None
        if change.get("NotificationLevel") == "OrderLevel":
            items = tuple(_item(item["SellerSKU"], item["Quantity"]) for item in summary["OrderItems"])
        return OrderReport(
            str(change["AmazonOrderId"]), str(summary["OrderStatus"]), str(summary["FulfillmentType"]), items
        )
    except (KeyError, TypeError, ValueError) as error:
        raise MalformedAmazonData(
            f"Amazon ORDER_CHANGE without a readable order ({type(error).__name__}: {error})."
        ) from error


def report_from_order(order: dict) -> OrderReport:
    try:
        return OrderReport(str(order["AmazonOrderId"]), str(order["OrderStatus"]), str(order["FulfillmentChannel"]))
    except (KeyError, TypeError) as error:
        raise MalformedAmazonData(f"Amazon order without its id, status or fulfilment channel: {error}.") from error


def _item(sku, quantity, price=None, tax=None) -> ItemReport:
    """One order item; a quantity that is not a whole number >= 0 makes the order unreadable."""
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0 or not isinstance(sku, str):
        raise ValueError(f"item {sku!r} with quantity {quantity!r}")
    per_unit = _money(price) / quantity if price and quantity else None
    return ItemReport(sku, quantity, per_unit.quantize(Decimal("0.01")) if per_unit is not None else None, _money(tax))


def _money(money) -> Decimal | None:
    """Amazon's Money (``{"CurrencyCode", "Amount": "12.50"}``) as Decimal; None when absent."""
    if not isinstance(money, dict) or money.get("Amount") in (None, ""):
        return None
    return Decimal(str(money["Amount"]))


class AmazonOrders:
    """Reads the account's orders through its connector's client and books them on its channel."""

    def __init__(self, connector):
        self.connector = connector
        self.account: ConnectorAccount = connector.account
        self.channel = self.account.channel

    # --- booking ------------------------------------------------------------------------------------------

    def book(self, report: OrderReport) -> str:
        """Book what Amazon says of one order; returns "created", "updated" or "unchanged".

        Raises UnlistedAmazonSkus (after booking the rest) for items the channel does not sell."""
        state = order_state(report.status)
        if report.fulfillment != "MFN" or state is None or self.channel is None:
            return "unchanged"  # Amazon ships AFN orders from its own stock: the FBA pull sees them
        booked = (
            Reservation.objects.filter(channel=self.channel, order_ref=report.order_id).values_list("status", flat=True)
        ).first()
        if booked in SETTLED[state]:
            return "unchanged"
        needs_lines = state != reservations.CANCELLED and booked in (None, Reservation.Status.EXPIRED)
        items = (report.items if report.items is not None else self._read_items(report.order_id)) if needs_lines else ()
        variants = variants_for_channel(self.channel, [item.sku for item in items])
        reservations.record_channel_order(
            channel=self.channel,
            order_ref=report.order_id,
            lines=[
                reservations.LineRequest(variants[i.sku], i.quantity, unit_price=i.unit_price, tax=i.tax)
                for i in items
                if i.sku in variants and i.quantity
            ],
            state=state,
        )
        unlisted = sorted({item.sku for item in items if item.sku not in variants})
        if unlisted:
            raise UnlistedAmazonSkus(
                f"Amazon order {report.order_id} sold {', '.join(unlisted)}, which {self.channel.code} does not sell; "
                "its other lines are booked.",
                details={"order": report.order_id, "skus": unlisted},
            )
        return "created" if booked is None else "updated"

    def _read_items(self, order_id: str) -> tuple[ItemReport, ...]:
        items, token = [], None
        while True:
            params = {"NextToken": token} if token else None
            body = self.connector.client.get(
                f"{ORDERS}/{order_id}/orderItems", params, limiter=self.connector.limiter("getOrderItems")
            ).data
            page = (body or {}).get("payload") if isinstance(body, dict) else None
            if not isinstance(page, dict) or not isinstance(page.get("OrderItems"), list):
                raise PartnerMalformedResponse(f"Amazon: the items of order {order_id} without OrderItems.")
            try:
                items += [
                    _item(i.get("SellerSKU"), i.get("QuantityOrdered"), i.get("ItemPrice"), i.get("ItemTax"))
                    for i in page["OrderItems"]
                ]
            except (AttributeError, ValueError) as error:
                raise MalformedAmazonData(f"Amazon order {order_id}: an item we cannot read ({error}).") from error
            token = page.get("NextToken")
            if not token:
                return tuple(items)

    def book_waiting_notifications(self) -> None:
        """Book the ORDER_CHANGE events received but not yet processed (their own processing then finds them done)."""
        waiting = WebhookEvent.objects.filter(
            account=self.account,
            event_type=ORDER_CHANGE,
            status__in=[WebhookEvent.Status.RECEIVED, WebhookEvent.Status.FAILED],
        ).order_by("received_at")
        for body in waiting.values_list("body", flat=True)[:500]:
            payload = json.loads(body)
            try:
                self.book(report_from_notification(payload.get("detail", payload) if isinstance(payload, dict) else {}))
            except DomainError:
                continue  # its own processing rejects it, saying why

    # --- reading Amazon's list ----------------------------------------------------------------------------

    def pull(self, job: SyncJob) -> None:
        """The scheduled safety net: every MFN order Amazon changed since the last complete read."""
        self._read(job)

    def catch_up(self, as_of: datetime) -> None:
        """Book every order Amazon changed up to ``as_of`` that is not booked yet, unless a read already went that
        far. One worker reads at a time; the others wait for its read, which usually covers them too."""
        until = self._read_until()
        if until is not None and until >= as_of:
            return
        key, deadline = f"stockpool:amazon-orders-read:{self.account.pk}", time.monotonic() + CATCH_UP_LOCK_SECONDS
        while not cache.add(key, 1, timeout=CATCH_UP_LOCK_SECONDS):
            if time.monotonic() > deadline:
                raise PartnerUnavailable("Another worker has been reading Amazon's orders for too long.")
            time.sleep(0.05)
        try:
            until = self._read_until()
            if until is None or until < as_of:
                self._read(None)
        finally:
            cache.delete(key)

    def _read_until(self) -> datetime | None:
        cursor = ConnectorAccount.objects.filter(pk=self.account.pk).values_list("sync_cursor", flat=True).first()
        value = (cursor or {}).get(WATERMARK)
        return datetime.fromisoformat(value) if value else None

    def _read(self, job: SyncJob | None) -> None:
        since = (self._read_until() or self.account.created_at) - OVERLAP
        params = {
            "MarketplaceIds": self.connector.marketplace_id,
            "LastUpdatedAfter": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "FulfillmentChannels": "MFN",
            "MaxResultsPerPage": 100,
        }
        bound = None
        while True:
            body = self.connector.client.get(ORDERS, params, limiter=self.connector.limiter("getOrders")).data
            page = (body or {}).get("payload") if isinstance(body, dict) else None
            if not isinstance(page, dict) or not isinstance(page.get("Orders"), list):
                raise PartnerMalformedResponse("Amazon: a getOrders page without Orders.")
            bound = bound or page.get("LastUpdatedBefore")
            outcome = PageOutcome()
            for order in page["Orders"]:
                self._book_listed(order, outcome)
            if job is not None:
                with transaction.atomic():
                    record_page(
                        job, outcome, checkpoint={"since": params["LastUpdatedAfter"]}, processed=len(page["Orders"])
                    )
            if not page.get("NextToken"):
                break
            params = {"MarketplaceIds": self.connector.marketplace_id, "NextToken": page["NextToken"]}
        if bound:
            self._advance_watermark(datetime.fromisoformat(bound.replace("Z", "+00:00")))

    def _book_listed(self, order: dict, outcome: PageOutcome) -> None:
        try:
            result = self.book(report_from_order(order))
        except DomainError as error:
            outcome.failed += 1
            outcome.errors.append(error.message)
            logger.warning("%s: %s", self.account, error.message)
            return
        setattr(outcome, result, getattr(outcome, result) + 1)

    @transaction.atomic
    def _advance_watermark(self, until: datetime) -> None:
        account = ConnectorAccount.objects.select_for_update().get(pk=self.account.pk)
        current = account.sync_cursor.get(WATERMARK)
        if current is None or datetime.fromisoformat(current) < until:
            account.sync_cursor = {**account.sync_cursor, WATERMARK: until.isoformat()}
            account.save(update_fields=["sync_cursor"])

    # --- the drift check's question --------------------------------------------------------------------------

    def explains(self, message: OutboundMessage, variant_id: int, remote: int) -> bool:
        """Whether Amazon's ``remote`` MFN quantity is accounted for by the orders booked here since our figure
        reached Amazon: what we delivered, less the units of the channel's own orders booked after it."""
        if message.status != OutboundMessage.Status.DELIVERED or message.delivered_at is None:
            return remote >= message.payload["quantity"]
        since = ReservationLine.objects.filter(
            reservation__channel=self.channel,
            reservation__kind=Reservation.Kind.CHANNEL_ORDER,
            reservation__status__in=[Reservation.Status.ACTIVE, Reservation.Status.CONSUMED],
            reservation__created_at__gte=message.delivered_at,
            variant_id=variant_id,
        ).aggregate(units=Sum("quantity"))["units"]
        return remote >= message.payload["quantity"] - (since or 0)


def pull_due_accounts() -> int:
    """Start an orders pull for every enabled Amazon account that publishes a channel (beat's schedule)."""
    from connectors.models import Kind
    from connectors.sync import start_sync

    started = 0
    for account in ConnectorAccount.objects.filter(kind=Kind.AMAZON_SP_API, enabled=True, channel__isnull=False):
        started += start_sync(account, SyncJob.Kind.ORDERS)[1]
    return started


def event_time(notification: dict, default: datetime | None = None) -> datetime:
    """A notification's EventTime (when Amazon's figure was true), else ``default`` or now."""
    text = notification.get("EventTime") if isinstance(notification, dict) else None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")) if text else default or timezone.now()
    except ValueError:
        return default or timezone.now()
