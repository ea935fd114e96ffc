"""Reservations: hold stock for a channel's order, confirm, release, expire; POS sales.

Each public function is one transaction (retried on a lost lock race by ``stock_transaction``).
Lock order everywhere: the reservation row first, then stock rows through
``inventory.locking`` in primary-key order. Stock itself only changes through
``inventory.services``; availability is only computed by ``inventory``.
"""

from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError
from django.db.models import Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from inventory import services as stock
from inventory.exceptions import InsufficientStock, InvalidQuantity
from inventory.locking import stock_transaction
from inventory.models import Channel, StockMovement, Variant
from reservations.exceptions import (
    OrderRefConflict,
    ReservationExpired,
    ReservationNotActive,
    ReservationNotFound,
    ReturnExceedsSale,
    ReturnRefConflict,
    SaleIdConflict,
)
from reservations.models import (
    ChannelApiKey,
    IdempotencyKey,
    OversellIncident,
    Reservation,
    ReservationLine,
    Return,
    ReturnLine,
    StockRefusal,
)

Status = Reservation.Status

#: How many overdue reservations one expiry transaction closes.
EXPIRY_BATCH_SIZE = 1000
CENT = Decimal("0.01")
#: Bounds on a caller's own TTL for a hold.
MIN_TTL_SECONDS, MAX_TTL_SECONDS = 30, 24 * 3600
#: What a channel says became of one of its own orders.
PENDING, SOLD, CANCELLED = "pending", "sold", "cancelled"
CANCELLED_BY_CHANNEL = "cancelled by the channel"
#: How long a channel's own pending order holds its units without news. The channel settles its orders
#: itself (a marketplace cancels what it cannot charge); this only ends a hold nobody reports on again.
CHANNEL_ORDER_HOLD = timedelta(days=14)


@dataclass(frozen=True)
class LineRequest:
    variant: Variant
    quantity: int
    unit_price: Decimal | None = None
    tax: Decimal | None = None


def reserve(
    *, channel: Channel, order_ref: str, lines: list[LineRequest], ttl_seconds: int | None = None
) -> tuple[Reservation, bool]:
    """Hold stock for an order, all or nothing; returns (reservation, created).

    Repeating an order reference with the same items returns the first reservation; with
    other items it is an OrderRefConflict. Raises InsufficientStock naming every short SKU.
    """
    ttl = channel.reservation_ttl_seconds if ttl_seconds is None else ttl_seconds
    if not MIN_TTL_SECONDS <= ttl <= MAX_TTL_SECONDS:
        raise InvalidQuantity(f"ttl_seconds must be between {MIN_TTL_SECONDS} and {MAX_TTL_SECONDS}.")
    try:
        return _reserve(channel, order_ref, lines, ttl)
    except IntegrityError as race:
        return _repeat(_race_winner(channel, order_ref, race), lines), False
    except InsufficientStock as refused:
        _record_refusal(channel, order_ref, lines, refused)
        raise


@stock_transaction
def _reserve(channel, order_ref, lines, ttl) -> tuple[Reservation, bool]:
    existing = Reservation.objects.filter(channel=channel, order_ref=order_ref).first()
    if existing:
        return _repeat(existing, lines), False
    reservation = Reservation.objects.create(
        channel=channel, order_ref=order_ref, expires_at=timezone.now() + timedelta(seconds=ttl)
    )
    holds = _hold(channel, lines)
    _create_lines(reservation, lines, holds)
    return reservation, True


def confirm(*, channel: Channel, reservation_id) -> Reservation:
    """Turn the held units into a sale (one ``sale`` movement per line).

    Confirming again is harmless; after its expiry it is refused with ReservationExpired
    (the overdue hold is expired on the spot, so its stock returns to the pool).
    """
    reservation, expired = _confirm(channel, reservation_id)
    if expired:
        raise ReservationExpired(
            f"Reservation {reservation.pk} expired at {reservation.expires_at.isoformat()}; its stock was released.",
            details={"id": str(reservation.pk), "expires_at": reservation.expires_at.isoformat()},
        )
    return reservation


@stock_transaction
def _confirm(channel, reservation_id) -> tuple[Reservation, bool]:
    reservation = _locked(channel, reservation_id)
    if reservation.status == Status.CONSUMED:
        return reservation, False
    if reservation.status == Status.EXPIRED:
        return reservation, True
    if reservation.status == Status.RELEASED:
        raise ReservationNotActive(
            f"Reservation {reservation.pk} was released and cannot be confirmed.", details={"status": "released"}
        )
    if reservation.expires_at <= timezone.now():
        _close([reservation.pk], Status.EXPIRED)
        reservation.refresh_from_db()
        return reservation, True
    _consume(reservation)
    return reservation, False


@stock_transaction
def release(*, channel: Channel, reservation_id, reason: str = "") -> Reservation:
    """Give the held units back; releasing a released or expired reservation changes nothing."""
    reservation = _locked(channel, reservation_id)
    if reservation.status == Status.CONSUMED:
        raise ReservationNotActive(
            f"Reservation {reservation.pk} was already confirmed; record a return instead.",
            details={"status": "consumed"},
        )
    if reservation.status == Status.ACTIVE:
        _close([reservation.pk], Status.RELEASED, reason=reason)
        reservation.refresh_from_db()
    return reservation


def record_pos_sale(
    *, channel: Channel, sale_id: str, lines: list[LineRequest], invoice_number: str = "", customer_name: str = ""
) -> tuple[Reservation, bool]:
    """Reserve and confirm in one transaction; a repeated ``sale_id`` returns the first sale unchanged."""
    try:
        return _record_pos_sale(channel, sale_id, lines, invoice_number, customer_name)
    except IntegrityError as race:
        return _first_sale(_race_winner(channel, sale_id, race), lines), False
    except InsufficientStock as refused:
        _record_refusal(channel, sale_id, lines, refused)
        raise


@stock_transaction
def _record_pos_sale(channel, sale_id, lines, invoice_number, customer_name) -> tuple[Reservation, bool]:
    existing = Reservation.objects.filter(channel=channel, order_ref=sale_id).first()
    if existing:
        return _first_sale(existing, lines), False
    reservation = Reservation.objects.create(
        channel=channel,
        order_ref=sale_id,
        kind=Reservation.Kind.POS_SALE,
        expires_at=timezone.now(),
        invoice_number=invoice_number,
        customer_name=customer_name,
    )
    _create_lines(reservation, lines, _hold(channel, lines))
    _consume(reservation)
    return reservation, True


@dataclass(frozen=True)
class ReturnRequest:
    variant: Variant
    quantity: int


def record_return(
    *,
    channel: Channel,
    reservation_id,
    return_ref: str,
    lines: list[ReturnRequest],
    restock: bool,
    reason: str = "",
) -> tuple[Return, bool]:
    """Units of a confirmed sale come back, exactly once per ``return_ref``; returns (return, created).

    Restocked units go back to the warehouse each was sold from, one ``return`` movement per line; without
    ``restock`` the return is only recorded. More than the sale sold, over all its returns, is
    ReturnExceedsSale; the same ``return_ref`` again with the same sale and items is the first return, with
    anything else ReturnRefConflict. Nothing is written on a refusal.
    """
    try:
        return _record_return(channel, reservation_id, return_ref, lines, restock, reason)
    except IntegrityError:  # the same return_ref, sent for another sale at the same moment
        existing = Return.objects.filter(channel=channel, return_ref=return_ref).first()
        if existing is None:
            raise
        return _repeat_return(existing, reservation_id, lines, restock), False


@stock_transaction
def _record_return(channel, reservation_id, return_ref, lines, restock, reason) -> tuple[Return, bool]:
    reservation = _locked(channel, reservation_id)
    existing = Return.objects.filter(channel=channel, return_ref=return_ref).first()
    if existing:
        return _repeat_return(existing, reservation.pk, lines, restock), False
    if reservation.status != Status.CONSUMED:
        raise ReservationNotActive(
            f"Reservation {reservation.pk} is {reservation.status}: only a confirmed sale takes returns "
            "(release a hold instead).",
            details={"status": reservation.status},
        )
    demand = _demand(lines)
    return _book_return(reservation, return_ref, {v.pk: q for v, q in demand.items()}, restock, reason), True


def _book_return(reservation: Reservation, return_ref: str, demand: dict[int, int], restock: bool, reason: str):
    """Record the return of ``demand`` (units per variant id) against the sale's lines, in line order."""
    sold = list(
        reservation.lines.select_related("variant", "warehouse")
        .annotate(returned=Coalesce(Sum("return_lines__quantity"), 0))
        .order_by("id")
    )
    returnable = defaultdict(int)
    for line in sold:
        returnable[line.variant_id] += line.quantity - line.returned
    excess = [
        {"sku": _sku(sold, variant_id), "requested": quantity, "returnable": returnable[variant_id]}
        for variant_id, quantity in demand.items()
        if quantity > returnable[variant_id]
    ]
    if excess:
        raise ReturnExceedsSale(
            "More units would come back than the sale sold: "
            + ", ".join(f"{e['sku']} ({e['requested']} asked, {e['returnable']} returnable)" for e in excess)
            + ".",
            details=excess,
        )
    sale_return = Return.objects.create(
        reservation=reservation, channel=reservation.channel, return_ref=return_ref, restock=restock, reason=reason
    )
    rows = []
    for line in sold:
        take = min(demand.get(line.variant_id, 0), line.quantity - line.returned)
        if take:
            rows.append(ReturnLine(sale_return=sale_return, sold_line=line, quantity=take))
            demand[line.variant_id] -= take
    ReturnLine.objects.bulk_create(rows)
    if restock:
        stock.apply_stock_changes(
            [
                stock.StockChange(
                    warehouse=row.sold_line.warehouse,
                    variant=row.sold_line.variant,
                    reason=StockMovement.Reason.RETURN,
                    delta=row.quantity,
                    reference=_return_reference(reservation, sale_return, row.sold_line.warehouse),
                    note=reason,
                )
                for row in rows
                if row.sold_line.warehouse_id is not None
            ],
            source=StockMovement.Source.API,
        )
    return sale_return


def _sku(sold: list[ReservationLine], variant_id: int) -> str:
    found = next((line.variant.sku for line in sold if line.variant_id == variant_id), None)
    return found or Variant.objects.values_list("sku", flat=True).get(pk=variant_id)


def _return_reference(reservation: Reservation, sale_return: Return, warehouse) -> str:
    """As the sale's reference: the channel's own numbers on its own stock, our ids on another organization's."""
    if _own_stock(reservation, warehouse):
        return f"{reservation.channel.code}:{reservation.order_ref} return {sale_return.return_ref}"
    return f"{reservation.channel.code}:{reservation.pk} return {sale_return.pk}"


def _repeat_return(existing: Return, reservation_id, lines: list[ReturnRequest], restock: bool) -> Return:
    asked = {variant.pk: quantity for variant, quantity in _demand(lines).items()}
    recorded = defaultdict(int)
    for row in existing.lines.select_related("sold_line"):
        recorded[row.sold_line.variant_id] += row.quantity
    if str(existing.reservation_id) != str(reservation_id) or asked != dict(recorded) or existing.restock != restock:
        raise ReturnRefConflict(
            f"Return reference {existing.return_ref!r} is already used on this channel for another return.",
            details={"return_ref": existing.return_ref, "return_id": str(existing.pk)},
        )
    return existing


def record_channel_order(
    *,
    channel: Channel,
    order_ref: str,
    lines: list[LineRequest],
    state: str,
    customer_name: str = "",
    invoice_number: str = "",
) -> Reservation:
    """An order taken on the channel's own side (a marketplace's), as the channel reports it: any number of
    times, in any order, it moves the pool once. ``pending`` holds its units, ``sold`` sells them and
    ``cancelled`` gives back whatever the order took (its hold released, its sale returned to the shelf); a
    cancelled order stays cancelled. The channel has already sold the units, so they are held from everything
    its warehouses have whatever its exposure rules, and units we no longer have are booked anyway: the line
    holds what there is and an OversellIncident records the rest for a manager.
    """
    if state not in (PENDING, SOLD, CANCELLED):
        raise ValueError(f"Unknown order state {state!r}")
    try:
        return _record_channel_order(channel, order_ref, lines, state, customer_name, invoice_number)
    except IntegrityError as race:  # another report of the same order created it first: apply this one to it
        _race_winner(channel, order_ref, race)
        return _record_channel_order(channel, order_ref, lines, state, customer_name, invoice_number)


@stock_transaction
def _record_channel_order(channel, order_ref, lines, state, customer_name, invoice_number) -> Reservation:
    reservation = (
        Reservation.objects.select_for_update(of=("self",))
        .select_related("channel")
        .filter(channel=channel, order_ref=order_ref)
        .first()
    )
    if reservation is None:
        reservation = Reservation.objects.create(
            channel=channel,
            order_ref=order_ref,
            kind=Reservation.Kind.CHANNEL_ORDER,
            status=Status.RELEASED if state == CANCELLED else Status.ACTIVE,
            release_reason=CANCELLED_BY_CHANNEL if state == CANCELLED else "",
            closed_at=timezone.now() if state == CANCELLED else None,
            expires_at=timezone.now() + CHANNEL_ORDER_HOLD,
            customer_name=customer_name,
            invoice_number=invoice_number,
        )
        if state != CANCELLED:
            _hold_sold(reservation, lines)
    elif reservation.kind != Reservation.Kind.CHANNEL_ORDER:
        raise OrderRefConflict(
            f"Order reference {order_ref!r} is already used on this channel by a {reservation.get_kind_display()}.",
            details={"order_ref": order_ref, "reservation_id": str(reservation.pk)},
        )
    elif state == CANCELLED:
        _cancel_channel_order(reservation)
        return reservation
    elif reservation.status == Status.EXPIRED:  # its hold lapsed before the channel said more: hold again
        reservation.lines.all().delete()
        Reservation.objects.filter(pk=reservation.pk).update(
            status=Status.ACTIVE, closed_at=None, expires_at=timezone.now() + CHANNEL_ORDER_HOLD
        )
        reservation.refresh_from_db()
        _hold_sold(reservation, lines)
    if state == SOLD and reservation.status == Status.ACTIVE:
        _consume(reservation)
    return reservation


def _hold_sold(reservation: Reservation, lines: list[LineRequest]) -> None:
    holds, shortfalls = stock.hold_sold_stock(reservation.channel, _demand(lines))
    _create_lines(reservation, lines, holds)
    for variant, short in shortfalls.items():
        OversellIncident.objects.update_or_create(
            reservation=reservation, variant=variant, defaults={"quantity": short, "resolved_at": None}
        )


def _cancel_channel_order(reservation: Reservation) -> None:
    """Give back what the order took: its hold, or the units it sold (back to their warehouses)."""
    if reservation.status == Status.ACTIVE:
        _close([reservation.pk], Status.RELEASED, reason=CANCELLED_BY_CHANNEL)
    elif reservation.status == Status.EXPIRED:
        Reservation.objects.filter(pk=reservation.pk).update(
            status=Status.RELEASED, release_reason=CANCELLED_BY_CHANNEL
        )
    elif (
        reservation.status == Status.CONSUMED
        and not reservation.returns.filter(return_ref=_cancellation_ref(reservation)).exists()
    ):
        unreturned = (
            reservation.lines.annotate(returned=Coalesce(Sum("return_lines__quantity"), 0))
            .order_by()
            .values_list("variant_id", "quantity", "returned")
        )
        demand = defaultdict(int)
        for variant_id, quantity, returned in unreturned:
            demand[variant_id] += quantity - returned
        if any(demand.values()):
            _book_return(
                reservation,
                _cancellation_ref(reservation),
                {v: q for v, q in demand.items() if q},
                True,
                CANCELLED_BY_CHANNEL,
            )
    reservation.oversell_incidents.filter(resolved_at__isnull=True).update(resolved_at=timezone.now())
    reservation.refresh_from_db()


def resolve_oversell_incidents(incidents) -> int:
    """A manager has settled these (units sourced, or the order cancelled at the channel): the alert clears."""
    return incidents.filter(resolved_at__isnull=True).update(resolved_at=timezone.now())


def _cancellation_ref(reservation: Reservation) -> str:
    """The return a cancellation of a sold channel order books: one per order (return refs are per channel)."""
    return f"cancellation:{reservation.pk}"


def expire_overdue(*, batch_size: int = EXPIRY_BATCH_SIZE) -> int:
    """Expire every overdue hold, in batches that skip rows another transaction has locked."""
    expired = 0
    while True:
        closed = _expire_batch(batch_size=batch_size)
        expired += closed
        if closed < batch_size:
            return expired


@stock_transaction
def _expire_batch(*, batch_size: int, variant_ids=None) -> int:
    overdue = Reservation.objects.filter(status=Status.ACTIVE, expires_at__lte=timezone.now())
    if variant_ids is not None:
        overdue = overdue.filter(
            pk__in=ReservationLine.objects.filter(variant_id__in=variant_ids).values("reservation_id")
        )
    ids = list(
        overdue.select_for_update(skip_locked=True).order_by("expires_at").values_list("pk", flat=True)[:batch_size]
    )
    _close(ids, Status.EXPIRED)
    return len(ids)


def purge_idempotency_keys(*, older_than: timedelta = timedelta(hours=24)) -> int:
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - older_than).delete()
    return deleted


def _hold(channel: Channel, lines: list[LineRequest]) -> list[stock.Hold]:
    """Hold the demand (added up per SKU first); before refusing, expire overdue holds of the short SKUs."""
    demand = _demand(lines)
    try:
        return stock.hold_stock(channel, demand)
    except InsufficientStock as shortage:
        short = [variant.pk for variant in demand if variant.sku in shortage.skus]
        if not _expire_batch(batch_size=EXPIRY_BATCH_SIZE, variant_ids=short):
            raise
        return stock.hold_stock(channel, demand)


def _record_refusal(channel: Channel, order_ref: str, lines: list[LineRequest], refused: InsufficientStock) -> None:
    """Kept after the refused transaction rolled back, for the oversell-attempts alert and the dashboard."""
    variants = {line.variant.sku: line.variant for line in lines}
    StockRefusal.objects.bulk_create(
        StockRefusal(
            channel=channel,
            variant=variants[shortage["sku"]],
            order_ref=order_ref[:128],
            requested=shortage["requested"],
            available=shortage["available"],
        )
        for shortage in refused.details
        if shortage["sku"] in variants
    )


def _demand(lines: list[LineRequest]) -> dict[Variant, int]:
    demand: dict[Variant, int] = defaultdict(int)
    for line in lines:
        demand[line.variant] += line.quantity
    return dict(demand)


def _create_lines(reservation: Reservation, lines: list[LineRequest], holds: list[stock.Hold]) -> None:
    """One line per requested line and warehouse it was drawn from, keeping each line's price; a line's
    tax is shared between its warehouses by quantity, so the parts add up to what the channel charged.
    Units drawn from no warehouse (an untracked variant, or a channel's own order beyond our stock) make a
    line without one: sold, held nowhere."""
    drawn = defaultdict(deque)
    for hold in holds:
        drawn[hold.variant_id].append([hold.warehouse_id, hold.quantity])
    rows = []
    for line in lines:
        sources = drawn[line.variant.pk]
        remaining, tax_left = line.quantity, line.tax
        while remaining:
            if sources:
                warehouse_id, take = sources[0][0], min(remaining, sources[0][1])
                sources[0][1] -= take
                if not sources[0][1]:
                    sources.popleft()
            else:
                warehouse_id, take = None, remaining
            remaining -= take
            tax = tax_left if tax_left is None or not remaining else _share(line.tax, take, line.quantity)
            rows.append((line, warehouse_id, take, tax))
            if tax_left is not None:
                tax_left -= tax
    ReservationLine.objects.bulk_create(
        ReservationLine(
            reservation=reservation,
            variant=line.variant,
            warehouse_id=warehouse_id,
            quantity=quantity,
            unit_price=line.unit_price,
            tax=tax,
        )
        for line, warehouse_id, quantity, tax in rows
    )


def _share(amount: Decimal, part: int, whole: int) -> Decimal:
    return (amount * part / whole).quantize(CENT, rounding=ROUND_HALF_UP)


def _sale_reference(reservation: Reservation, warehouse) -> str:
    """The channel and its order reference on its own organization's stock; on another organization's
    (a reseller selling a supplier's stock), the reservation's id: the supplier's ledger, and the sales
    order pushed to its system of record, do not carry the reseller's order numbers."""
    channel = reservation.channel
    if _own_stock(reservation, warehouse):
        return f"{channel.code}:{reservation.order_ref}"
    return f"{channel.code}:{reservation.pk}"


def _sale_details(reservation: Reservation, line: ReservationLine) -> stock.SaleDetails:
    """The channel's own figures and numbers for the system of record of its own stock; for another
    organization's stock only the channel's name (its prices, orders and invoices are not the supplier's)."""
    if not _own_stock(reservation, line.warehouse):
        return stock.SaleDetails(channel=reservation.channel.name)
    return stock.SaleDetails(
        channel=reservation.channel.name,
        order_ref=reservation.order_ref,
        invoice_number=reservation.invoice_number,
        unit_price=line.unit_price,
        tax=line.tax,
    )


def _own_stock(reservation: Reservation, warehouse) -> bool:
    return warehouse.organization_id == reservation.channel.organization_id


def _consume(reservation: Reservation) -> None:
    lines = reservation.lines.select_related("variant", "warehouse")
    stock.apply_stock_changes(
        [
            stock.StockChange(
                warehouse=line.warehouse,
                variant=line.variant,
                reason=StockMovement.Reason.SALE,
                delta=-line.quantity,
                unreserve=line.quantity,
                reference=_sale_reference(reservation, line.warehouse),
                sale=_sale_details(reservation, line),
            )
            for line in lines
            if line.warehouse_id is not None
        ],
        source=StockMovement.Source.API,
    )
    now = timezone.now()
    Reservation.objects.filter(pk=reservation.pk).update(status=Status.CONSUMED, closed_at=now, updated_at=now)
    reservation.refresh_from_db()


def _close(reservation_ids: list, status: str, *, reason: str = "") -> None:
    """Release the holds of active reservations (locked by the caller) and mark them ``status``."""
    if not reservation_ids:
        return
    held = (
        ReservationLine.objects.filter(reservation_id__in=reservation_ids, warehouse__isnull=False)
        .order_by()
        .values_list("warehouse_id", "variant_id")
        .annotate(quantity=Sum("quantity"))
    )
    stock.release_holds(stock.Hold(warehouse_id, variant_id, quantity) for warehouse_id, variant_id, quantity in held)
    now = timezone.now()
    Reservation.objects.filter(pk__in=reservation_ids).update(
        status=status, release_reason=reason, closed_at=now, updated_at=now
    )


def _locked(channel: Channel, reservation_id) -> Reservation:
    reservation = (
        Reservation.objects.select_for_update(of=("self",))
        .select_related("channel")
        .filter(channel=channel, pk=reservation_id)
        .first()
    )
    if reservation is None:
        raise ReservationNotFound(f"No reservation {reservation_id} on channel {channel.code}.")
    return reservation


def _race_winner(channel: Channel, order_ref: str, error: IntegrityError) -> Reservation:
    """The reservation a concurrent request created for ``order_ref``; without one, ``error`` was another fault."""
    existing = Reservation.objects.filter(channel=channel, order_ref=order_ref).first()
    if existing is None:
        raise error
    return existing


def _repeat(existing: Reservation, lines: list[LineRequest]) -> Reservation:
    asked = {variant.pk: quantity for variant, quantity in _demand(lines).items()}
    held = {
        row["variant_id"]: row["quantity"]
        for row in existing.lines.order_by().values("variant_id").annotate(quantity=Sum("quantity"))
    }
    if existing.kind != Reservation.Kind.CHECKOUT or asked != held:
        raise OrderRefConflict(
            f"Order reference {existing.order_ref!r} is already used on this channel for other items.",
            details={"order_ref": existing.order_ref, "reservation_id": str(existing.pk)},
        )
    return existing


def _first_sale(existing: Reservation, lines: list[LineRequest]) -> Reservation:
    """A repeat of the first sale (a POS retrying) is that sale; anything else under its id is a conflict."""
    if existing.kind != Reservation.Kind.POS_SALE:
        raise SaleIdConflict(
            f"Sale id {existing.order_ref!r} is already used on this channel by a checkout reservation.",
            details={"sale_id": existing.order_ref, "reservation_id": str(existing.pk)},
        )
    if _sold(lines) != _sold(existing.lines.all()):
        raise SaleIdConflict(
            f"Sale id {existing.order_ref!r} is already recorded on this channel with other items, prices or tax.",
            details={"sale_id": existing.order_ref, "reservation_id": str(existing.pk)},
        )
    return existing


def _sold(lines) -> dict[tuple[int, Decimal | None], tuple[int, Decimal | None]]:
    """Units and tax per SKU and unit price, however the lines were split between warehouses."""
    sold: dict[tuple[int, Decimal | None], tuple[int, Decimal | None]] = {}
    for line in lines:
        key = (line.variant_id if isinstance(line, ReservationLine) else line.variant.pk, line.unit_price)
        quantity, tax = sold.get(key, (0, None))
        if line.tax is not None:
            tax = (tax or Decimal(0)) + line.tax
        sold[key] = (quantity + line.quantity, tax)
    return sold


def create_api_key(*, channel: Channel, name: str, created_by=None) -> tuple[ChannelApiKey, str]:
    """Make a key for ``channel``; the key itself is returned this once and never stored."""
    record = ChannelApiKey(channel=channel, name=name, created_by=created_by)
    return record, issue_api_key(record)


def issue_api_key(record: ChannelApiKey) -> str:
    """Give a new, unsaved ``record`` its secret and save it; returns the key, which is not kept."""
    key, record.prefix, record.key_hash = ChannelApiKey.generate()
    record.save()
    return key


def revoke_api_keys(keys) -> int:
    return keys.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
