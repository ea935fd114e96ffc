"""What is wrong right now: one detector per alert kind, each a handful of queries however many subjects.

A detector reads the current state under its kind's enabled rules and returns a Detection:
the findings (the subjects whose condition holds) and ``covers``, the active alerts of the kind
it looked at, so that those without a finding resolve themselves. Given ``variant_ids`` (a stock
event), the stock detectors look at those variants only.

Detectors run under the detecting rules only (``rules_by_kind``): the platform's, which decide what
is detected and the default thresholds (the first over everything is a stock kind's "general" rule,
and a swept kind's rule), and organizations' rules narrowed to one of their warehouses, channels or
SKUs, which refine detection there. An organization's rule over everything is a subscription to the
alerts its staff see and never reaches a detector, so it cannot change what is detected for others.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.db.models import Count, Max, Min, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from alerts.models import Alert, AlertRule, Kind
from connectors.models import (
    ConnectorAccount,
    OutboundMessage,
    PartnerDocument,
    SyncConflict,
    SyncJob,
    WebhookEvent,
)
from inventory import selectors as stock
from inventory.models import Channel, ChannelListing, Organization, StockLevel, StockMovement, Variant
from reservations.models import OversellIncident, Reservation, StockRefusal
from reservations.selectors import reserved_mismatches

Scope = AlertRule.Scope

#: Defaults when a rule leaves its threshold or window empty.
DEFAULT_STALE_MINUTES = 60
DEFAULT_CORRECTIONS = 10
DEFAULT_REFUSALS, DEFAULT_REFUSAL_WINDOW = 5, 15
DEFAULT_EXPIRY_PERCENT, DEFAULT_EXPIRY_WINDOW, EXPIRY_MIN_SAMPLE = 50, 60, 10
DEFAULT_PRICE_VARIANCE_PERCENT = 15
#: An informational "back in stock" alert resolves itself after this long.
BACK_IN_STOCK_FOR = timedelta(hours=24)


@dataclass
class Finding:
    subject: str
    label: str
    message: str
    rule: AlertRule
    variant_id: int | None = None
    warehouse_id: int | None = None
    channel_id: int | None = None
    account_id: int | None = None
    organization_id: int | None = None
    context: dict = field(default_factory=dict)
    count: int | None = None


def sku_subject(variant_id: int, organization_id: int | None) -> str:
    """A SKU's alert subject, for one organization's stock, channels or catalogue (none: the platform's)."""
    return f"variant:{variant_id}" + (f"@organization:{organization_id}" if organization_id else "")


#: "Every active alert of the kind" (an empty Q would vanish when OR-ed with another).
EVERYTHING = Q(pk__isnull=False)


@dataclass
class Detection:
    kind: str
    findings: list[Finding]
    covers: Q = EVERYTHING


def rules_by_kind() -> dict[str, list[AlertRule]]:
    """The enabled detecting rules per kind, oldest first (subscriptions left out: they detect nothing)."""
    rules: dict[str, list[AlertRule]] = {}
    for rule in (
        AlertRule.objects.detecting().filter(enabled=True).select_related("warehouse", "channel").order_by("id")
    ):
        rules.setdefault(rule.kind, []).append(rule)
    return rules


def _threshold(rule: AlertRule, default) -> Decimal:
    return rule.threshold if rule.threshold is not None else Decimal(default)


def _window(rule: AlertRule, default_minutes: int):
    return timezone.now() - timedelta(minutes=rule.window_minutes or default_minutes)


# --- stock ----------------------------------------------------------------------------------------


def _stock_condition(kind: str) -> Callable[[int, int, int | None, Decimal | None], str | None]:
    """(available, on_hand, variant's own threshold, rule's threshold) -> message, or None if fine."""

    def low(available, on_hand, own, threshold):
        limit = threshold if threshold is not None else own
        if limit is not None and 0 < available <= limit:
            return f"Only {available} available (threshold {limit:g})."
        return None

    def out(available, on_hand, own, threshold):
        return "None available." if available <= 0 else None

    def reorder(available, on_hand, own, threshold):
        point = threshold if threshold is not None else own
        if point is not None and on_hand <= point:
            return f"{on_hand} on hand, at or below the reorder point of {point:g}."
        return None

    return {Kind.LOW_STOCK: low, Kind.OUT_OF_STOCK: out, Kind.REORDER_POINT: reorder}[kind]


def detect_stock(kind: str, rules: list[AlertRule], variant_ids: Iterable[int] | None = None) -> Detection:
    """Per SKU over each organization's active warehouses (scope all or variant), per level (warehouse), per listing
    (channel).

    ``rules`` are detecting rules (``rules_by_kind``): the general one over everything is a platform rule.
    """
    condition = _stock_condition(kind)
    own_field = "reorder_point" if kind == Kind.REORDER_POINT else "low_stock_threshold"
    variant_ids = None if variant_ids is None else set(variant_ids)
    only = Q() if variant_ids is None else Q(variant_id__in=variant_ids)
    findings: list[Finding] = []
    covers = Q(pk__in=[])

    # A variant rule is its SKU's owner's (its own stock) or the platform's (everyone's stock of it).
    by_variant = {(rule.variant_id, rule.organization_id): rule for rule in rules if rule.scope == Scope.VARIANT}
    general = next((rule for rule in rules if rule.scope == Scope.ALL), None)
    if general or by_variant:
        variants = Variant.objects.filter(active=True, track_inventory=True, product__active=True)
        if variant_ids is not None:
            variants = variants.filter(pk__in=variant_ids)
        if general is None:
            variants = variants.filter(pk__in={variant_id for variant_id, _ in by_variant})
        totals = _stock_per_organization(variants, own_field)
        names = dict(Organization.objects.filter(pk__in={row[3] for row in totals}).values_list("pk", "name"))
        for variant_id, sku, own, organization_id, on_hand, reserved in totals:
            rule = by_variant.get((variant_id, organization_id)) or by_variant.get((variant_id, None)) or general
            message = rule and condition(on_hand - reserved, on_hand, own, rule.threshold)
            if message:
                findings.append(
                    Finding(
                        sku_subject(variant_id, organization_id),
                        f"SKU {sku}" + (f" at {names[organization_id]}" if organization_id else ""),
                        message,
                        rule,
                        variant_id=variant_id,
                        organization_id=organization_id,
                        context={"available": on_hand - reserved, "on_hand": on_hand},
                    )
                )
        covers |= Q(variant__isnull=False, warehouse__isnull=True, channel__isnull=True) & (
            Q() if variant_ids is None else Q(variant_id__in=variant_ids)
        )

    for rule in (rule for rule in rules if rule.scope == Scope.WAREHOUSE):
        levels = StockLevel.objects.filter(only, warehouse=rule.warehouse_id, variant__active=True).values_list(
            "variant_id", "variant__sku", f"variant__{own_field}", "on_hand", "reserved"
        )
        for variant_id, sku, own, on_hand, reserved in levels:
            message = condition(on_hand - reserved, on_hand, own, rule.threshold)
            if message:
                findings.append(
                    Finding(
                        f"variant:{variant_id}@warehouse:{rule.warehouse_id}",
                        f"SKU {sku} at {rule.warehouse.code}",
                        message,
                        rule,
                        variant_id=variant_id,
                        warehouse_id=rule.warehouse_id,
                        context={"available": on_hand - reserved, "on_hand": on_hand},
                    )
                )
        covers |= Q(warehouse_id=rule.warehouse_id, channel__isnull=True) & (
            Q() if variant_ids is None else Q(variant_id__in=variant_ids)
        )

    # The channel's own organization's rules last, so that theirs decide a listing's alert (and who hears of
    # it) where a supplier watches the same channel.
    channel_rules = [rule for rule in rules if rule.scope == Scope.CHANNEL]
    for rule in sorted(channel_rules, key=lambda rule: rule.organization_id == rule.channel.organization_id):
        listings = ChannelListing.objects.filter(only, channel=rule.channel_id)
        own = dict(listings.values_list("pk", f"variant__{own_field}"))
        rules_of = stock.listing_rules(listings)
        pools = stock.channel_pools((r.channel_id, r.variant_id) for r in rules_of)
        for listing in rules_of:
            available = stock.channel_available(listing, pools.get((listing.channel_id, listing.variant_id), 0))
            if available is None:
                continue
            message = condition(available, available, own[listing.listing_id], rule.threshold)
            if message:
                findings.append(
                    Finding(
                        f"listing:{listing.listing_id}",
                        f"SKU {listing.sku} on {rule.channel.code}",
                        message,
                        rule,
                        variant_id=listing.variant_id,
                        channel_id=listing.channel_id,
                        context={"available": available},
                    )
                )
        covers |= Q(channel_id=rule.channel_id) & (Q() if variant_ids is None else Q(variant_id__in=variant_ids))
    return Detection(kind, findings, covers)


def _stock_per_organization(variants, own_field: str) -> list[tuple]:
    """(variant id, SKU, its own threshold, organization id, on hand, reserved) over each organization's active
    warehouses; a SKU stocked in none counts as none at its catalogue owner's (two queries)."""
    in_active = StockLevel.objects.filter(variant__in=variants, warehouse__active=True).order_by()
    rows = list(
        in_active.values_list("variant_id", "variant__sku", f"variant__{own_field}", "warehouse__organization_id")
        .annotate(on_hand=Sum("on_hand"), reserved=Sum("reserved"))
        .order_by("variant_id", "warehouse__organization_id")
    )
    unstocked = variants.exclude(pk__in=in_active.values("variant_id")).values_list(
        "pk", "sku", own_field, "product__organization_id"
    )
    return rows + [(*row, 0, 0) for row in unstocked]


def detect_ledger_mismatch(rules: list[AlertRule], variant_ids: Iterable[int] | None = None) -> Detection:
    rule = rules[0]
    variant_ids = None if variant_ids is None else list(variant_ids)
    findings = {}
    for level in stock.ledger_mismatches(variant_ids):
        findings[level.pk] = Finding(
            f"level:{level.pk}",
            f"SKU {level.variant.sku} at {level.warehouse.code}",
            f"on_hand {level.on_hand} but the ledger adds up to {level.booked}.",
            rule,
            variant_id=level.variant_id,
            warehouse_id=level.warehouse_id,
            context={"on_hand": level.on_hand, "movements": level.booked},
        )
    for level in reserved_mismatches(variant_ids):
        text = f"reserved {level.reserved} but active reservations hold {level.held}."
        if level.pk in findings:
            findings[level.pk].message += " Also " + text
            findings[level.pk].context.update(reserved=level.reserved, held=level.held)
        else:
            findings[level.pk] = Finding(
                f"level:{level.pk}",
                f"SKU {level.variant.sku} at {level.warehouse.code}",
                text[0].upper() + text[1:],
                rule,
                variant_id=level.variant_id,
                warehouse_id=level.warehouse_id,
                context={"reserved": level.reserved, "held": level.held},
            )
    covers = EVERYTHING if variant_ids is None else Q(variant_id__in=variant_ids)
    return Detection(Kind.LEDGER_MISMATCH, list(findings.values()), covers)


def detect_oversell_attempts(rules: list[AlertRule]) -> Detection:
    """Refused orders per SKU, for its catalogue owner: the demand its stock could not meet, counted, not
    shown by channel to those who merely stock the SKU too."""
    rule = rules[0]
    threshold = _threshold(rule, DEFAULT_REFUSALS)
    window = rule.window_minutes or DEFAULT_REFUSAL_WINDOW
    refusals = (
        StockRefusal.objects.filter(created_at__gte=_window(rule, DEFAULT_REFUSAL_WINDOW))
        .values("variant_id", "variant__sku", "variant__product__organization_id")
        .annotate(refusals=Count("id"), channels=Count("channel", distinct=True))
        .filter(refusals__gte=threshold)
    )
    findings = [
        Finding(
            sku_subject(row["variant_id"], row["variant__product__organization_id"]),
            f"SKU {row['variant__sku']}",
            f"{row['refusals']} orders refused for lack of stock in {window} minutes "
            f"(from {row['channels']} channel(s)).",
            rule,
            variant_id=row["variant_id"],
            organization_id=row["variant__product__organization_id"],
            context={"refusals": row["refusals"], "window_minutes": window},
            count=row["refusals"],
        )
        for row in refusals
    ]
    return Detection(Kind.OVERSELL_ATTEMPTS, findings)


def detect_oversell_incidents(rules: list[AlertRule]) -> Detection:
    """Orders a channel took on its own side for units we no longer had, booked anyway: one alert per order,
    naming it and what is short, until the order is cancelled or a manager resolves the incident."""
    rule = rules[0]
    incidents = (
        OversellIncident.objects.filter(resolved_at__isnull=True)
        .select_related("reservation__channel", "variant")
        .order_by("reservation_id", "variant__sku")
    )
    by_order: dict = {}
    for incident in incidents:
        by_order.setdefault(incident.reservation, []).append(incident)
    findings = []
    for order, short in by_order.items():
        channel = order.channel
        what = ", ".join(f"{incident.quantity} x {incident.variant.sku}" for incident in short)
        findings.append(
            Finding(
                f"order:{order.pk}",
                f"Order {order.order_ref} on {channel.code}",
                f"{channel.name} sold {what} beyond our stock in order {order.order_ref}: source the units or "
                "cancel the order there.",
                rule,
                channel_id=channel.pk,
                organization_id=channel.organization_id,
                context={"order_ref": order.order_ref, "short": {i.variant.sku: i.quantity for i in short}},
                count=sum(incident.quantity for incident in short),
            )
        )
    return Detection(Kind.OVERSELL_INCIDENT, findings)


def detect_expiry_rate(rules: list[AlertRule]) -> Detection:
    rule = rules[0]
    threshold = _threshold(rule, DEFAULT_EXPIRY_PERCENT)
    rows = (
        Reservation.objects.filter(kind=Reservation.Kind.CHECKOUT, closed_at__gte=_window(rule, DEFAULT_EXPIRY_WINDOW))
        .values("channel_id", "channel__code")
        .annotate(closed=Count("pk"), expired=Count("pk", filter=Q(status=Reservation.Status.EXPIRED)))
        .filter(closed__gte=EXPIRY_MIN_SAMPLE)
    )
    findings = []
    for row in rows:
        percent = Decimal(row["expired"] * 100) / row["closed"]
        if percent >= threshold:
            findings.append(
                Finding(
                    f"channel:{row['channel_id']}",
                    f"Channel {row['channel__code']}",
                    f"{percent:.0f}% of checkouts expired ({row['expired']} of {row['closed']}); "
                    f"threshold {threshold:g}%.",
                    rule,
                    channel_id=row["channel_id"],
                    context={"expired": row["expired"], "closed": row["closed"], "percent": float(percent)},
                )
            )
    return Detection(Kind.EXPIRY_RATE, findings)


def detect_price_variance(rules: list[AlertRule]) -> Detection:
    """Retail prices of a SKU (storefronts, POS, marketplaces) too far apart across one organization's channels;
    wholesale price lists differ by design, and competing organizations' prices are each their own business."""
    rule = rules[0]
    tolerance = _threshold(rule, DEFAULT_PRICE_VARIANCE_PERCENT)
    price = Coalesce("price", "variant__price")
    rows = (
        ChannelListing.objects.filter(enabled=True, channel__active=True, variant__active=True)
        .exclude(channel__kind=Channel.Kind.WHOLESALE)
        .values("variant_id", "variant__sku", "channel__organization_id", "channel__organization__name")
        .annotate(low=Min(price), high=Max(price), channels=Count("channel_id"))
        .filter(channels__gte=2, low__gt=0)
    )
    findings = []
    for row in rows:
        spread = (row["high"] - row["low"]) * 100 / row["low"]
        if spread > tolerance:
            findings.append(
                Finding(
                    sku_subject(row["variant_id"], row["channel__organization_id"]),
                    f"SKU {row['variant__sku']} on {row['channel__organization__name']}'s channels",
                    f"Channel prices range from {row['low']} to {row['high']} "
                    f"({spread:.0f}%; tolerance {tolerance:g}%).",
                    rule,
                    variant_id=row["variant_id"],
                    organization_id=row["channel__organization_id"],
                    context={"low": str(row["low"]), "high": str(row["high"]), "percent": float(spread)},
                )
            )
    return Detection(Kind.PRICE_VARIANCE, findings)


# --- connectors -----------------------------------------------------------------------------------


def _account_finding(account, rule, message, **context) -> Finding:
    return Finding(f"account:{account.pk}", str(account), message, rule, account_id=account.pk, context=context)


def detect_sync_failed(rules: list[AlertRule]) -> Detection:
    rule = rules[0]
    last = SyncJob.objects.filter(
        account=OuterRef("pk"), status__in=[SyncJob.Status.SUCCEEDED, SyncJob.Status.FAILED]
    ).order_by("-finished_at", "-pk")
    accounts = ConnectorAccount.objects.filter(enabled=True).annotate(
        last_status=Subquery(last.values("status")[:1]), last_job=Subquery(last.values("pk")[:1])
    )
    findings = [
        _account_finding(
            account,
            rule,
            f"The last sync (job {account.last_job}) failed: {account.last_error[:200] or 'see the job'}.",
            job=account.last_job,
        )
        for account in accounts
        if account.last_status == SyncJob.Status.FAILED
    ]
    return Detection(Kind.SYNC_FAILED, findings)


def detect_sync_stale(rules: list[AlertRule]) -> Detection:
    rule = rules[0]
    minutes = int(_threshold(rule, DEFAULT_STALE_MINUTES))
    since = timezone.now() - timedelta(minutes=minutes)
    stale = ConnectorAccount.objects.filter(enabled=True, incremental_sync_minutes__gt=0, created_at__lt=since).filter(
        Q(last_success_at__lt=since) | Q(last_success_at__isnull=True)
    )
    findings = [
        _account_finding(
            account,
            rule,
            f"No successful sync for over {minutes} minutes"
            + (f" (last {account.last_success_at:%Y-%m-%d %H:%M} UTC)." if account.last_success_at else " (never)."),
            minutes=minutes,
        )
        for account in stale
    ]
    return Detection(Kind.SYNC_STALE, findings)


def detect_sync_conflicts(rules: list[AlertRule]) -> Detection:
    rule = rules[0]
    open_conflicts = ConnectorAccount.objects.annotate(
        open=Count("conflicts", filter=Q(conflicts__status=SyncConflict.Status.OPEN))
    ).filter(open__gt=0)
    findings = []
    for account in open_conflicts:
        finding = _account_finding(
            account, rule, f"{account.open} conflict(s) wait for a manager.", conflicts=account.open
        )
        finding.count = account.open
        findings.append(finding)
    return Detection(Kind.SYNC_CONFLICT, findings)


def detect_sync_corrections(rules: list[AlertRule]) -> Detection:
    """The last completed pull of each system of record booked more corrections than the threshold."""
    rule = rules[0]
    threshold = _threshold(rule, DEFAULT_CORRECTIONS)
    last = SyncJob.objects.filter(
        account=OuterRef("pk"), status=SyncJob.Status.SUCCEEDED, kind__in=[SyncJob.Kind.FULL, SyncJob.Kind.INCREMENTAL]
    ).order_by("-finished_at", "-pk")
    accounts = ConnectorAccount.objects.filter(enabled=True, warehouse__isnull=False).annotate(
        last_job=Subquery(last.values("pk")[:1]), last_started=Subquery(last.values("started_at")[:1])
    )
    findings = []
    for account in accounts:
        if account.last_job is None:
            continue
        corrections = StockMovement.objects.filter(
            reason=StockMovement.Reason.SYNC_CORRECTION,
            warehouse_id=account.warehouse_id,
            created_at__gte=account.last_started,
            reference__endswith=f"sync job {account.last_job}",
        ).count()
        if corrections > threshold:
            finding = _account_finding(
                account,
                rule,
                f"Sync job {account.last_job} booked {corrections} corrections (threshold {threshold:g}): "
                "stock changed outside Stockpool or a push was lost.",
                job=account.last_job,
                corrections=corrections,
            )
            finding.count = corrections
            findings.append(finding)
    return Detection(Kind.SYNC_CORRECTIONS, findings)


def detect_webhook_failures(rules: list[AlertRule]) -> Detection:
    rule = rules[0]
    threshold = _threshold(rule, 1)
    failing = ConnectorAccount.objects.annotate(
        failed=Count("webhook_events", filter=Q(webhook_events__status=WebhookEvent.Status.FAILED))
    ).filter(failed__gte=threshold)
    findings = []
    for account in failing:
        finding = _account_finding(
            account,
            rule,
            f"{account.failed} webhook event(s) failed; replay them from the admin.",
            failed=account.failed,
        )
        finding.count = account.failed
        findings.append(finding)
    return Detection(Kind.WEBHOOK_FAILURES, findings)


def detect_circuit_open(rules: list[AlertRule]) -> Detection:
    rule = rules[0]
    findings = [
        _account_finding(
            account,
            rule,
            f"Calls are suspended after repeated failures ({account.get_circuit_state_display()})"
            + (f": {account.last_error[:200]}" if account.last_error else "."),
            state=account.circuit_state,
        )
        for account in ConnectorAccount.objects.filter(enabled=True).exclude(
            circuit_state=ConnectorAccount.CircuitState.CLOSED
        )
    ]
    return Detection(Kind.CIRCUIT_OPEN, findings)


def detect_dead_letters(rules: list[AlertRule]) -> Detection:
    rule = rules[0]
    rows = (
        OutboundMessage.objects.filter(status=OutboundMessage.Status.DEAD)
        .values("account_id", "channel_webhook_id", "channel_webhook__channel__organization_id")
        .annotate(dead=Count("pk"), last_error=Max("last_error"))
    )
    names = {a.pk: str(a) for a in ConnectorAccount.objects.filter(pk__in={r["account_id"] for r in rows})}
    findings = []
    for row in rows:
        message = (
            f"{row['dead']} message(s) dead-lettered; retry them from the admin once fixed. {row['last_error'][:200]}"
        )
        if row["account_id"]:
            finding = Finding(
                f"account:{row['account_id']}", names[row["account_id"]], message, rule, account_id=row["account_id"]
            )
        else:
            # The webhook (its URL in the error) is its channel's organization's alone, not its supplier's.
            finding = Finding(
                f"webhook:{row['channel_webhook_id']}",
                f"Channel webhook {row['channel_webhook_id']}",
                message,
                rule,
                organization_id=row["channel_webhook__channel__organization_id"],
            )
        finding.count, finding.context = row["dead"], {"dead": row["dead"]}
        findings.append(finding)
    return Detection(Kind.DEAD_LETTER, findings)


def detect_duplicate_documents(rules: list[AlertRule]) -> Detection:
    """Copies of one of our documents a reconciliation found at a system of record (a re-send that made a
    second sales order, sale or adjustment): per account, until they are voided or deleted there."""
    rule = rules[0]
    copies = (
        PartnerDocument.objects.filter(duplicate=True)
        .exclude(status__in=PartnerDocument.GONE)
        .select_related("account", "message")
        .order_by("account_id", "created_at", "id")
    )
    by_account: dict = {}
    for copy in copies:
        by_account.setdefault(copy.account, []).append(copy)
    findings = []
    for account, found in by_account.items():
        named = ", ".join(f"{c.get_kind_display().lower()} {c.number or c.partner_id}" for c in found[:5])
        finding = _account_finding(
            account,
            rule,
            f"{len(found)} document(s) made twice for one message: {named}"
            + (" and more" if len(found) > 5 else "")
            + ". Void or delete the copies there; stock there may be off until then.",
            documents=[c.partner_id for c in found],
        )
        finding.count = len(found)
        findings.append(finding)
    return Detection(Kind.DUPLICATE_DOCUMENTS, findings)


def detect_sales_voided(rules: list[AlertRule]) -> Detection:
    """A sale made here that its system of record now shows voided: once per sale, until a manager resolves it
    (the void is final, so the alert would otherwise come back). Its stock comes back with the partner's next
    figure, through the double-count rule, not here."""
    rule = rules[0]
    settled = set(
        Alert.objects.filter(
            kind=Kind.SALE_VOIDED, status=Alert.Status.RESOLVED, resolved_by__isnull=False
        ).values_list("subject", flat=True)
    )
    voided = PartnerDocument.objects.filter(
        kind__in=PartnerDocument.SALE_KINDS, duplicate=False, status=PartnerDocument.Status.VOID
    ).select_related("account", "reservation__channel")
    findings = []
    for document in voided:
        if f"document:{document.pk}" in settled:
            continue
        sale = document.reservation
        what = f"sale {_sale_number(sale, document.account)} on {sale.channel.code}" if sale else "a sale made here"
        findings.append(
            Finding(
                f"document:{document.pk}",
                f"{document.get_kind_display()} {document.number or document.partner_id} at {document.account}",
                f"{document.account.get_kind_display()} shows {document.get_kind_display().lower()} "
                f"{document.number or document.partner_id} ({what}) voided there. Its stock comes back with "
                "the next figure from there; check the sale, and resolve this once it is settled.",
                rule,
                account_id=document.account_id,
                context={
                    "document": document.partner_id,
                    "reservation": str(sale.pk) if sale else None,
                    "voided_seen_at": document.status_changed_at.isoformat(),
                },
            )
        )
    return Detection(Kind.SALE_VOIDED, findings)


def _sale_number(sale: Reservation, account: ConnectorAccount) -> str:
    """The channel's own order number on its own organization's stock; on a supplier's, our id of the sale (a
    reseller's order numbers are not the supplier's to see)."""
    return sale.order_ref if sale.channel.organization_id == account.organization_id else str(sale.pk)


#: The detectors the minute sweep runs (ledger mismatches run on stock events and nightly).
SWEPT = {
    Kind.OVERSELL_ATTEMPTS: detect_oversell_attempts,
    Kind.OVERSELL_INCIDENT: detect_oversell_incidents,
    Kind.EXPIRY_RATE: detect_expiry_rate,
    Kind.PRICE_VARIANCE: detect_price_variance,
    Kind.SYNC_FAILED: detect_sync_failed,
    Kind.SYNC_STALE: detect_sync_stale,
    Kind.SYNC_CONFLICT: detect_sync_conflicts,
    Kind.SYNC_CORRECTIONS: detect_sync_corrections,
    Kind.WEBHOOK_FAILURES: detect_webhook_failures,
    Kind.CIRCUIT_OPEN: detect_circuit_open,
    Kind.DEAD_LETTER: detect_dead_letters,
    Kind.DUPLICATE_DOCUMENTS: detect_duplicate_documents,
    Kind.SALE_VOIDED: detect_sales_voided,
}


def alert_list():
    """Alerts with what their list shows, in one query."""
    return Alert.objects.select_related("variant", "warehouse", "channel", "account", "acknowledged_by", "resolved_by")


def open_counts_by_severity(alerts=None) -> dict[str, int]:
    """Active alerts per severity, of ``alerts`` (a queryset, e.g. what a user sees) or of all."""
    alerts = Alert.objects.all() if alerts is None else alerts
    return dict(alerts.active().order_by().values_list("severity").annotate(n=Count("pk")).values_list("severity", "n"))
