"""The outbox: messages to partners, written with the stock change that causes them, delivered after.

``record_movements`` runs inside the stock transaction (``inventory.events.movements_booked``):
a sale or a local change at a mirrored warehouse becomes an OutboundMessage in the same commit,
so it can be neither lost nor sent for a change that was rolled back. The relay takes due
messages with ``SKIP LOCKED``, so any number of workers share the work without sending one twice.
"""

import json
import logging
import random
import uuid
from collections import defaultdict
from collections.abc import Callable
from contextlib import suppress
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from connectors.http import CircuitOpen, PartnerError, PartnerRequestError
from connectors.models import ChannelWebhook, ConnectorAccount, ExternalRef, Kind, OutboundMessage
from inventory.models import StockMovement, Variant
from reservations.models import Reservation

logger = logging.getLogger(__name__)

SYSTEMS_OF_RECORD = (Kind.ZOHO_INVENTORY, Kind.CIN7_CORE)
#: Partners whose connector publishes many quantities in one request (``push_batch``).
BATCHING_KINDS = (Kind.AMAZON_SP_API,)
#: Changes people and channels make are pushed; partner-sourced and system bookings (demo loads) are not.
PUSHED_SOURCES = (StockMovement.Source.ADMIN, StockMovement.Source.API)
MAX_ATTEMPTS = 8
BATCH_SIZE = 50
#: A message left "sending" this long, without its worker reporting progress, belongs to a worker that died;
#: it is tried again (and its connector looks for what that worker may have sent before sending anything).
SENDING_TIMEOUT = timedelta(minutes=5)
CENT = Decimal("0.01")

#: Our messages' dedupe keys begin so (``stockpool-sale-<operation id>``): how our documents are told from others.
DEDUPE_KEY_PREFIX = "stockpool-"
DEDUPE_PREFIXES = {
    OutboundMessage.Kind.PUSH_SALE: "sale",
    OutboundMessage.Kind.PUSH_RETURN: "return",
    OutboundMessage.Kind.PUSH_ADJUSTMENT: "adj",
}
#: Between a sale's reference and a return's own in the return's ledger reference (reservations.services).
RETURN_SEPARATOR = " return "


def record_movements(sender, movements: list[StockMovement], source: str, **kwargs) -> None:
    """Turn our ledger rows at mirrored warehouses into messages for their systems of record: a sale as the
    sale it is, units of a sale we pushed coming back as a return of that sale, anything else as an
    adjustment."""
    if source not in PUSHED_SOURCES:
        return
    mirrored = {m.warehouse_id for m in movements if m.warehouse.is_mirrored}
    if not mirrored:
        return
    accounts = {
        account.warehouse_id: account
        for account in ConnectorAccount.objects.filter(
            warehouse_id__in=mirrored, enabled=True, kind__in=SYSTEMS_OF_RECORD
        )
    }
    booked = [m for m in movements if m.warehouse_id in accounts]
    if not booked:
        return
    sold = _sales_returned(accounts.values(), [m for m in booked if m.reason == StockMovement.Reason.RETURN])
    groups = defaultdict(list)
    for movement in booked:
        account = accounts[movement.warehouse_id]
        if movement.reason == StockMovement.Reason.SALE:
            kind = OutboundMessage.Kind.PUSH_SALE
        elif (account.pk, movement.reference) in sold:
            kind = OutboundMessage.Kind.PUSH_RETURN
        else:
            kind = OutboundMessage.Kind.PUSH_ADJUSTMENT
        groups[(account, kind, movement.operation_id)].append(movement)
    external_ids = _external_ids(accounts.values(), {m.variant_id for m in booked})
    reservations = _reservations_sold(m for m in booked if m.reason == StockMovement.Reason.SALE)
    now = timezone.now()
    messages = []
    for (account, kind, operation_id), lines in groups.items():
        first = lines[0]
        sale = sold.get((account.pk, first.reference))
        if kind == OutboundMessage.Kind.PUSH_SALE:
            header = {**_sale_header(first), "reservation_id": reservations.get(first.reference)}
        elif kind == OutboundMessage.Kind.PUSH_RETURN:
            header = {"sale": sale.dedupe_key, "reservation_id": sale.payload.get("reservation_id")}
        else:
            header = {}
        messages.append(
            OutboundMessage(
                account=account,
                kind=kind,
                payload={
                    "date": now.date().isoformat(),
                    "reference": first.reference,
                    "reason": f"Stockpool {first.get_reason_display().lower()}"
                    + (f": {first.note}" if first.note else ""),
                    **header,
                    "lines": [_line(m, kind, external_ids.get((account.pk, m.variant_id), ""), sale) for m in lines],
                },
                stock_effects=[
                    {"warehouse_id": m.warehouse_id, "variant_id": m.variant_id, "quantity": m.quantity} for m in lines
                ],
                dedupe_key=_dedupe_key(kind, operation_id),
                next_attempt_at=now,
            )
        )
    OutboundMessage.objects.bulk_create(messages)
    transaction.on_commit(kick_relay)


def _dedupe_key(kind: str, operation_id) -> str:
    """One message per kind and stock operation (the movements one service call booked)."""
    return f"{DEDUPE_KEY_PREFIX}{DEDUPE_PREFIXES[kind]}-{operation_id}"


def _line(movement: StockMovement, kind: str, external_id: str, sale: OutboundMessage | None) -> dict:
    line = {
        "variant_id": movement.variant_id,
        "sku": movement.variant.sku,
        "name": str(movement.variant.product.name if movement.variant.product_id else movement.variant.sku),
        "external_id": external_id,
    }
    if kind == OutboundMessage.Kind.PUSH_SALE:
        return {**line, **_sale_line(movement)}
    if kind == OutboundMessage.Kind.PUSH_RETURN:
        return {**line, **_returned_line(movement, sale)}
    return {**line, "delta": movement.quantity}


def _reservations_sold(sales) -> dict[str, str]:
    """The reservation each sale movement's reference names: ``<channel code>:<order ref>`` on the channel's
    own stock, ``<channel code>:<reservation id>`` on another organization's (reservations.services)."""
    wanted = {}
    for movement in sales:
        code, _, rest = movement.reference.partition(":")
        if getattr(movement, "sale", None) is not None and rest:
            wanted[movement.reference] = (code, rest)
    if not wanted:
        return {}
    rests = {rest for _, rest in wanted.values()}
    ids = set()
    for rest in rests:
        with suppress(ValueError):
            ids.add(uuid.UUID(rest))
    candidates = Reservation.objects.filter(channel__code__in={code for code, _ in wanted.values()}).filter(
        Q(order_ref__in=rests) | Q(pk__in=ids)
    )
    found = {}
    for reservation_id, code, order_ref in candidates.values_list("pk", "channel__code", "order_ref"):
        for rest in (order_ref, str(reservation_id)):
            found.setdefault(f"{code}:{rest}", str(reservation_id))
    return {reference: found[reference] for reference in wanted if reference in found}


def _sales_returned(accounts, returns: list[StockMovement]) -> dict[tuple[int, str], OutboundMessage]:
    """The sale message each return movement gives units back to, by (account, reference): a return's
    reference is its sale's followed by `` return <its own reference>``, and the sale's movements at the same
    warehouse name the operation its message's dedupe key was made from (indexed reads: this runs under the
    stock transaction's locks)."""
    candidates = defaultdict(set)
    for movement in returns:
        parts = movement.reference.split(RETURN_SEPARATOR)
        for end in range(1, len(parts)):
            candidates[(movement.warehouse_id, RETURN_SEPARATOR.join(parts[:end]))].add(movement.reference)
    if not candidates:
        return {}
    sold = StockMovement.objects.filter(
        reason=StockMovement.Reason.SALE,
        reference__in={reference for _, reference in candidates},
        warehouse_id__in={warehouse_id for warehouse_id, _ in candidates},
    ).values_list("warehouse_id", "reference", "operation_id")
    account_of = {account.warehouse_id: account for account in accounts}
    keys = {}
    for warehouse_id, reference, operation_id in sold:
        if (warehouse_id, reference) in candidates:
            key = _dedupe_key(OutboundMessage.Kind.PUSH_SALE, operation_id)
            keys[(account_of[warehouse_id].pk, key)] = candidates[(warehouse_id, reference)]
    sales = OutboundMessage.objects.filter(
        account__in=list(account_of.values()), dedupe_key__in={key for _, key in keys}
    )
    found = {}
    for sale in sales:
        for reference in keys.get((sale.account_id, sale.dedupe_key), ()):
            found[(sale.account_id, reference)] = sale
    return found


def _returned_line(movement: StockMovement, sale: OutboundMessage) -> dict:
    """Units back at the price they were sold for, with their share of the tax charged."""
    sold = [line for line in sale.payload["lines"] if line["variant_id"] == movement.variant_id]
    units, tax = sum(line["quantity"] for line in sold), sum(Decimal(line["tax"]) for line in sold)
    share = (tax * movement.quantity / units).quantize(CENT, rounding=ROUND_HALF_UP)
    return {"quantity": movement.quantity, "unit_price": sold[0]["unit_price"], "tax": str(share)}


def _sale_line(movement: StockMovement) -> dict:
    """Units sold at the price and tax the channel charged; the catalogue price where it told none (a
    checkout hold) or where they are not the stock owner's to see (another organization's channel)."""
    sale = getattr(movement, "sale", None)
    unit_price = sale.unit_price if sale is not None and sale.unit_price is not None else movement.variant.price
    tax = sale.tax if sale is not None and sale.tax is not None else Decimal(0)
    return {"quantity": -movement.quantity, "unit_price": str(unit_price), "tax": str(tax)}


def _sale_header(movement: StockMovement) -> dict:
    """The numbers people know the sale by, for the partner document where they will search for them."""
    sale = getattr(movement, "sale", None)
    if sale is None:
        return {"channel": "", "order_ref": "", "invoice_number": ""}
    return {"channel": sale.channel, "order_ref": sale.order_ref, "invoice_number": sale.invoice_number}


def sale_note(message: OutboundMessage) -> str:
    """A partner document's note naming the sale and the message that made it (how an earlier attempt that
    was never answered is recognised)."""
    payload = message.payload
    parts = [f"Stockpool sale {message.dedupe_key}"]
    if payload.get("channel"):
        parts.append(f"channel {payload['channel']}")
    if payload.get("order_ref"):
        parts.append(f"order/sale id {payload['order_ref']}")
    if payload.get("invoice_number"):
        parts.append(f"invoice {payload['invoice_number']}")
    return "; ".join(parts)


def sale_reference(message: OutboundMessage) -> str:
    """What a person searching the partner for the sale types: the channel's order or POS sale id and its
    invoice number (``POS-12345 / INV-001``); without them, the reference of our ledger's sale movements."""
    payload = message.payload
    if not payload.get("order_ref"):
        return payload["reference"]
    return " / ".join(part for part in (payload["order_ref"], payload.get("invoice_number")) if part)


def _external_ids(accounts, variant_ids) -> dict[tuple[int, int], str]:
    refs = ExternalRef.objects.filter(
        account__in=list(accounts), content_type=ContentType.objects.get_for_model(Variant), object_id__in=variant_ids
    ).values_list("account_id", "object_id", "external_id")
    return {(account_id, variant_id): external_id for account_id, variant_id, external_id in refs}


def queue_latest(
    kind: str,
    latest: list[tuple[ConnectorAccount | ChannelWebhook, str, dict]],
    *,
    same: Callable[[dict, dict], bool],
) -> None:
    """Leave one message per (destination, dedupe key) in the outbox, carrying the latest payload.

    A waiting message is rewritten rather than joined by another, so a hundred changes cost one
    call. One being sent keeps its status and gets the new payload: the relay sees the payload
    changed under it and sends it again, so the receiver ends with the latest and never gets an
    older one after a newer. ``same(old, new)`` says the receiver already has (or will get) it.
    """
    if not latest:
        return
    accounts = {d.pk for d, _, _ in latest if isinstance(d, ConnectorAccount)}
    webhooks = {d.pk for d, _, _ in latest if isinstance(d, ChannelWebhook)}
    queued = {
        _destination_key(m.account_id, m.channel_webhook_id, m.dedupe_key): m
        for m in OutboundMessage.objects.filter(
            Q(account__in=accounts) | Q(channel_webhook__in=webhooks), dedupe_key__in={k for _, k, _ in latest}
        ).only("account_id", "channel_webhook_id", "dedupe_key", "payload", "status")
    }
    now = timezone.now()
    new = []
    for destination, key, payload in latest:
        is_webhook = isinstance(destination, ChannelWebhook)
        message = queued.get(
            _destination_key(None if is_webhook else destination.pk, destination.pk if is_webhook else None, key)
        )
        if message is None:
            new.append(
                OutboundMessage(
                    **{"channel_webhook" if is_webhook else "account": destination},
                    kind=kind,
                    payload=payload,
                    dedupe_key=key,
                    next_attempt_at=now,
                )
            )
        elif not same(message.payload, payload) or message.status == OutboundMessage.Status.DEAD:
            OutboundMessage.objects.filter(pk=message.pk).update(
                payload=payload,
                status=Case(
                    When(status=OutboundMessage.Status.SENDING, then=Value(OutboundMessage.Status.SENDING)),
                    default=Value(OutboundMessage.Status.PENDING),
                ),
                attempts=0,
                next_attempt_at=now,
                last_error="",
            )
    OutboundMessage.objects.bulk_create(new)
    transaction.on_commit(kick_relay)


def _destination_key(account_id, webhook_id, dedupe_key) -> tuple:
    return ("webhook", webhook_id, dedupe_key) if webhook_id else ("account", account_id, dedupe_key)


def kick_relay() -> None:
    from connectors.tasks import deliver_outbox_task

    try:
        deliver_outbox_task.delay()
    except Exception:  # the periodic relay delivers it anyway; a broker hiccup must not fail the sale
        logger.warning("Could not queue an outbox delivery; the periodic relay will deliver.", exc_info=True)


def claim_due(batch_size: int = BATCH_SIZE, *, account=None, kind=None) -> list[OutboundMessage]:
    """Take due messages for this worker: ``SKIP LOCKED``, marked sending, committed before any call."""
    now = timezone.now()
    due = Q(status=OutboundMessage.Status.PENDING, next_attempt_at__lte=now) & (
        Q(account__enabled=True) | Q(channel_webhook__enabled=True)
    )
    if account is not None:
        due &= Q(account=account)
    if kind is not None:
        due &= Q(kind=kind)
    OutboundMessage.objects.filter(status=OutboundMessage.Status.SENDING, sent_at__lt=now - SENDING_TIMEOUT).update(
        status=OutboundMessage.Status.PENDING
    )
    with transaction.atomic():
        due = list(
            OutboundMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(due)
            .select_related("account", "account__warehouse", "channel_webhook", "channel_webhook__channel")
            .order_by("next_attempt_at", "id")[:batch_size]
        )
        OutboundMessage.objects.filter(pk__in=[m.pk for m in due]).update(
            status=OutboundMessage.Status.SENDING,
            sent_at=now,
            first_sent_at=Coalesce("first_sent_at", Value(now)),
            attempts=F("attempts") + 1,
        )
    for message in due:
        message.status, message.sent_at, message.attempts = OutboundMessage.Status.SENDING, now, message.attempts + 1
        message.first_sent_at = message.first_sent_at or now
    return due


class LeaseLost(Exception):
    """Another worker took the message over (this one reported no progress for ``SENDING_TIMEOUT``)."""


def save_progress(message: OutboundMessage, **progress) -> dict:
    """Record how far a push got before its next call to the partner (a document's id once known; that a
    document is about to be created, so that a later attempt looks for it before creating another) and renew
    the sending lease. Raises LeaseLost, sending nothing more, if another worker has taken the message over."""
    now = timezone.now()
    merged = {**(message.response or {}), **progress}
    renewed = OutboundMessage.objects.filter(
        pk=message.pk, status=OutboundMessage.Status.SENDING, sent_at=message.sent_at
    ).update(response=merged, sent_at=now)
    if not renewed:
        raise LeaseLost(f"Outbound message {message.pk} was taken over by another worker.")
    message.response, message.sent_at = merged, now
    return merged


def deliver(message: OutboundMessage, connector=None) -> None:
    """Send one claimed message; on failure schedule the next attempt, or dead-letter it."""
    from connectors.registry import sender_for

    try:
        response = (connector or sender_for(message)).push(message)
    except PartnerError as error:
        _failed(message, error)
        return
    except LeaseLost:
        logger.warning("Outbound message %s: another worker took it over; this one stops.", message.pk)
        return
    _delivered(message, response)


def _delivered(message: OutboundMessage, response: dict) -> None:
    """Mark delivered, unless a newer value was written while it was being sent: then send that next."""
    now = timezone.now()
    done = OutboundMessage.objects.filter(pk=message.pk, payload=message.payload).update(
        status=OutboundMessage.Status.DELIVERED, delivered_at=now, response=response, last_error=""
    )
    if not done:
        OutboundMessage.objects.filter(pk=message.pk, status=OutboundMessage.Status.SENDING).update(
            status=OutboundMessage.Status.PENDING, next_attempt_at=now, response=response
        )


def _failed(message: OutboundMessage, error: PartnerError) -> None:
    permanent = isinstance(error, PartnerRequestError) and not isinstance(error, CircuitOpen)
    if message.attempts >= MAX_ATTEMPTS or (permanent and message.attempts >= 3):
        status, next_attempt = OutboundMessage.Status.DEAD, message.next_attempt_at
        logger.error("Outbound message %s dead-lettered after %s attempts: %s", message.pk, message.attempts, error)
    else:
        delay = min(3600, 2**message.attempts * 5) * random.uniform(0.8, 1.2)  # noqa: S311 (jitter)
        status, next_attempt = OutboundMessage.Status.PENDING, timezone.now() + timedelta(seconds=delay)
    # Only while it is still ours: a worker whose lease ran out must not reschedule another's attempt.
    OutboundMessage.objects.filter(pk=message.pk, sent_at=message.sent_at).update(
        status=status, next_attempt_at=next_attempt, last_error=str(error)[:2000]
    )


def deliver_due(batch_size: int = BATCH_SIZE) -> int:
    """Deliver every due message, reusing one connector (and its HTTP session) per account.

    Publications to a partner that takes them in bulk (an Amazon listings feed) go together,
    thousands at a time, once there are enough of them; everything else goes one by one.
    """
    from connectors.registry import connector_for, sender_for

    senders, delivered = {}, 0

    def sender(message):
        key = _destination_key(message.account_id, message.channel_webhook_id, "")
        if key not in senders:
            senders[key] = sender_for(message)
        return senders[key]

    for account in ConnectorAccount.objects.filter(
        enabled=True, kind__in=BATCHING_KINDS, outbound_messages__status=OutboundMessage.Status.PENDING
    ).distinct():
        bulk = connector_for(account)
        while len(
            batch := claim_due(bulk.feed_max_messages, account=account, kind=OutboundMessage.Kind.PUBLISH_QUANTITY)
        ):
            if len(batch) >= bulk.feed_threshold:
                _deliver_together(bulk, batch)
            else:
                for message in batch:
                    deliver(message, bulk)
            delivered += len(batch)
            if len(batch) < bulk.feed_max_messages:
                break
    while batch := claim_due(batch_size):
        for message in batch:
            deliver(message, sender(message))
            delivered += 1
        if len(batch) < batch_size:
            break
    return delivered


def _deliver_together(connector, messages: list[OutboundMessage]) -> None:
    try:
        outcomes = connector.push_batch(messages)
    except PartnerError as error:
        for message in messages:
            _failed(message, error)
        return
    delivered = {}
    for message in messages:
        outcome = outcomes[message.pk]
        if isinstance(outcome, PartnerError):
            _failed(message, outcome)
        else:
            delivered[message.pk] = (message, outcome)
    _delivered_many(delivered)


def _delivered_many(delivered: dict[int, tuple[OutboundMessage, dict]]) -> None:
    """``_delivered`` for a feed's thousands of messages, in a few statements rather than one each."""
    current = dict(OutboundMessage.objects.filter(pk__in=list(delivered)).values_list("pk", "payload"))
    rewritten = {pk for pk, (message, _) in delivered.items() if current.get(pk) != message.payload}
    now = timezone.now()
    by_response: dict[str, list[int]] = {}
    for pk, (_, response) in delivered.items():
        if pk not in rewritten:
            by_response.setdefault(json.dumps(response, sort_keys=True), []).append(pk)
    for response, pks in by_response.items():
        OutboundMessage.objects.filter(pk__in=pks).update(
            status=OutboundMessage.Status.DELIVERED, delivered_at=now, response=json.loads(response), last_error=""
        )
    OutboundMessage.objects.filter(pk__in=rewritten, status=OutboundMessage.Status.SENDING).update(
        status=OutboundMessage.Status.PENDING, next_attempt_at=now
    )


def retry(messages) -> int:
    """Send dead or waiting messages again now (the admin's retry)."""
    return messages.exclude(status=OutboundMessage.Status.DELIVERED).update(
        status=OutboundMessage.Status.PENDING, next_attempt_at=timezone.now(), attempts=0
    )
