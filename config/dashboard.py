"""The dashboard on the admin index: what a manager looks at first.

A presentation composed from several apps' reads (DESIGN: "open alerts by severity, ... sync
health, oversell attempts, trends"). Each figure is one function below, each a fixed number of
queries however much data there is: counts and sums are aggregated in SQL, series are grouped by
day (``TruncDate``) over the last ``WINDOW_DAYS`` days. ``dashboard()`` puts together what the user
may see (model view permissions; nothing is queried for a panel they may not see; every figure
counts only the rows of the user's organizations, ``inventory.scoping``) and draws the
charts (``config.charts``, server-rendered SVG). The ``stockpool_dashboard`` template tag puts it
on templates/admin/index.html; settings register this module as the ``stockpool_dashboard`` library.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django import template
from django.db.models import (
    Avg,
    Case,
    Count,
    DateField,
    DurationField,
    ExpressionWrapper,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncDate
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from alerts.admin import SEVERITY_COLOURS
from alerts.models import SEVERITY_RANK, Alert
from alerts.selectors import open_counts_by_severity
from config import charts
from connectors.admin import live_figure, sync_progress_widget
from connectors.models import ConnectorAccount, Kind, OutboundMessage, SyncJob
from inventory.models import Channel, ChannelListing, StockLevel, StockMovement, Variant, Warehouse
from inventory.scoping import counted_for, organization_ids, view_permission, visible_to
from inventory.selectors import listing_availability
from reservations.models import Reservation, ReservationLine, StockRefusal

register = template.Library()

WINDOW_DAYS = 30
#: How many of the most moved variants the on-hand chart offers to pick from.
VARIANT_CHOICES = 20

SEVERITIES = sorted(SEVERITY_RANK, key=SEVERITY_RANK.get)
OK, WARN, BAD = "ok", "warn", "bad"


def _seen(queryset, user):
    """The rows ``user`` sees where their role may view the model (a clerk at one organization sees no
    partner accounts there, whatever their role at another)."""
    return visible_to(queryset, user, view_permission(queryset.model))


@dataclass(frozen=True)
class Window:
    """The last ``WINDOW_DAYS`` days, today included, in the current time zone."""

    days: tuple[date, ...]
    start: datetime  # midnight that begins the first day
    today_start: datetime

    @classmethod
    def ending_today(cls, length: int = WINDOW_DAYS) -> "Window":
        today = timezone.localdate()
        days = tuple(today - timedelta(days=n) for n in reversed(range(length)))
        return cls(days, _midnight(days[0]), _midnight(today))

    def series(self, by_day: dict[date, float], default=0) -> list:
        return [by_day.get(day, default) for day in self.days]

    @property
    def labels(self) -> list[str]:
        return [day.isoformat() for day in self.days]

    @property
    def tick_labels(self) -> list[str]:
        return [f"{day:%b} {day.day}" for day in self.days]


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


# --- stock ----------------------------------------------------------------------------------------


def stock_counts(user) -> dict[str, int]:
    """Tracked variants (active, of an active product) with nothing available, and with few (one query).

    Per SKU over the active warehouses the user sees, as the stock alerts see it: out of stock is
    ``available <= 0``, below threshold is ``0 < available <= low_stock_threshold``. A member of an
    organization counts only the SKUs stocked in its warehouses; a superuser, every tracked SKU.
    """
    levels = _seen(StockLevel.objects.filter(warehouse__active=True), user)
    available = (
        levels.filter(variant=OuterRef("pk"))
        .order_by()
        .values("variant")
        .annotate(units=Sum(F("on_hand") - F("reserved")))
        .values("units")
    )
    variants = Variant.objects.filter(active=True, track_inventory=True, product__active=True)
    if organization_ids(user) is not None:
        variants = variants.filter(pk__in=_seen(StockLevel.objects.all(), user).values("variant_id"))
    variants = variants.annotate(available=Coalesce(Subquery(available), 0))
    return variants.aggregate(
        tracked=Count("pk"),
        out_of_stock=Count("pk", filter=Q(available__lte=0)),
        below_threshold=Count("pk", filter=Q(available__gt=0, available__lte=F("low_stock_threshold"))),
    )


def stock_by_warehouse(user) -> list[dict]:
    """Units on hand and reserved per warehouse the user sees (one query)."""
    return list(
        _seen(Warehouse.objects.order_by("code"), user)
        .annotate(
            on_hand=Coalesce(Sum("stock_levels__on_hand"), 0), reserved=Coalesce(Sum("stock_levels__reserved"), 0)
        )
        .values("code", "name", "active", "on_hand", "reserved")
    )


def stock_by_channel(user) -> list[dict]:
    """Units each channel may sell (its listings' availability, by the one formula) and its sellable listings.

    Three queries however many listings; the availability of untracked variants without a cap is
    unlimited and left out of the units.
    """
    rows = {
        channel["pk"]: {**channel, "units": 0, "listings": 0, "sellable": 0}
        for channel in _seen(Channel.objects.order_by("code"), user).values("pk", "code", "name", "active")
    }
    for entry in listing_availability(_seen(ChannelListing.objects.all(), user)):
        row = rows[entry.rules.channel_id]
        row["listings"] += 1
        row["sellable"] += entry.sellable
        row["units"] += entry.available or 0
    return list(rows.values())


def most_moved_variants(user, window: Window, limit: int = VARIANT_CHOICES) -> list[tuple[int, str]]:
    """(id, SKU) of the variants with the most movements in the window, most first (one query)."""
    return list(
        _seen(StockMovement.objects.filter(created_at__gte=window.start), user)
        .values("variant_id", "variant__sku")
        .annotate(movements=Count("pk"))
        .order_by("-movements", "variant__sku")
        .values_list("variant_id", "variant__sku")[:limit]
    )


def on_hand_by_day(user, variant_id: int, window: Window) -> dict[str, list[int]]:
    """End-of-day ``on_hand`` of a variant per warehouse code over the window, from the ledger (one query).

    Movements before the window add up to the level it starts from; each day adds its own.
    """
    day = Case(
        When(created_at__gte=window.start, then=TruncDate("created_at")), default=Value(None), output_field=DateField()
    )
    rows = (
        _seen(StockMovement.objects.filter(variant_id=variant_id), user)
        .annotate(day=day)
        .values_list("warehouse__code", "day")
        .annotate(change=Sum("quantity"))
        .order_by()
    )
    changes: dict[str, dict[date | None, int]] = {}
    for code, moved_on, change in rows:
        changes.setdefault(code, {})[moved_on] = change
    levels = {}
    for code in sorted(changes):
        level, series = changes[code].get(None, 0), []
        for each in window.days:
            level += changes[code].get(each, 0)
            series.append(level)
        levels[code] = series
    return levels


# --- reservations ---------------------------------------------------------------------------------


def reservation_counts(user) -> dict[str, int]:
    """Active reservations and the units they hold (one query): on the user's channels, and for a supplier,
    other organizations' holds on its stock too (counted, never listed)."""
    lines = ReservationLine.objects.filter(reservation__status=Reservation.Status.ACTIVE)
    return counted_for(lines, user, "reservations.view_reservation").aggregate(
        active=Count("reservation", distinct=True), units_held=Coalesce(Sum("quantity"), 0)
    )


def refusals_since(user, start: datetime) -> dict[str, int]:
    """Oversell attempts refused since ``start``: requests, SKUs and units asked for (one query), on the
    user's channels and those drawing on their stock."""
    refusals = StockRefusal.objects.filter(created_at__gte=start)
    return counted_for(refusals, user, "reservations.view_stockrefusal").aggregate(
        attempts=Count("pk"), skus=Count("variant", distinct=True), units=Coalesce(Sum("requested"), 0)
    )


# --- alerts ---------------------------------------------------------------------------------------


def alerts_by_day(user, window: Window) -> dict[str, list[int]]:
    """Alerts raised per day (by ``first_seen``) per severity over the window (one query)."""
    rows = (
        _seen(Alert.objects.filter(first_seen__gte=window.start), user)
        .annotate(day=TruncDate("first_seen"))
        .values_list("day", "severity")
        .annotate(raised=Count("pk"))
        .order_by()
    )
    by_severity: dict[str, dict[date, int]] = {severity: {} for severity in SEVERITIES}
    for day, severity, raised in rows:
        by_severity.setdefault(severity, {})[day] = raised
    return {severity: window.series(days) for severity, days in by_severity.items()}


# --- connectors -----------------------------------------------------------------------------------

DURATION = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())


def sync_accounts(user, window: Window) -> list[dict]:
    """Each connector account's health, its live job if any, and its jobs finished and failed in the window.

    One query: the live job and the counts are correlated subqueries.
    """
    live = SyncJob.objects.filter(
        account=OuterRef("pk"), status__in=[SyncJob.Status.QUEUED, SyncJob.Status.RUNNING]
    ).order_by("-created_at")
    finished = (
        SyncJob.objects.filter(account=OuterRef("pk"), finished_at__gte=window.start)
        .order_by()
        .values("account")
        .annotate(finished=Count("pk"), failed=Count("pk", filter=Q(status=SyncJob.Status.FAILED)))
    )
    return list(
        _seen(ConnectorAccount.objects.order_by("name"), user)
        .annotate(
            live_job_id=Subquery(live.values("pk")[:1]),
            live_status=Subquery(live.values("status")[:1]),
            live_processed=Subquery(live.values("processed")[:1]),
            live_total=Subquery(live.values("total")[:1]),
            jobs_finished=Coalesce(Subquery(finished.values("finished")), 0),
            jobs_failed=Coalesce(Subquery(finished.values("failed")), 0),
        )
        .values(
            "pk",
            "name",
            "kind",
            "enabled",
            "circuit_state",
            "last_success_at",
            "last_failure_at",
            "last_error",
            "live_job_id",
            "live_status",
            "live_processed",
            "live_total",
            "jobs_finished",
            "jobs_failed",
        )
    )


def sync_jobs_by_day(user, window: Window) -> dict[str, list]:
    """Per day over the window: jobs succeeded and failed, mean and longest duration in seconds (one query)."""
    ended = [SyncJob.Status.SUCCEEDED, SyncJob.Status.FAILED]
    rows = (
        _seen(SyncJob.objects.filter(finished_at__gte=window.start, status__in=ended), user)
        .annotate(day=TruncDate("finished_at"))
        .values("day")
        .annotate(
            succeeded=Count("pk", filter=Q(status=SyncJob.Status.SUCCEEDED)),
            failed=Count("pk", filter=Q(status=SyncJob.Status.FAILED)),
            mean=Avg(DURATION),
            longest=Max(DURATION),
        )
        .order_by()
    )
    by_day = {row["day"]: row for row in rows}

    def seconds(day, field):
        duration = by_day[day][field] if day in by_day else None
        return None if duration is None else round(duration.total_seconds(), 1)

    return {
        "succeeded": [by_day[day]["succeeded"] if day in by_day else 0 for day in window.days],
        "failed": [by_day[day]["failed"] if day in by_day else 0 for day in window.days],
        "mean_seconds": [seconds(day, "mean") for day in window.days],
        "longest_seconds": [seconds(day, "longest") for day in window.days],
    }


def outbox_backlog(user) -> dict:
    """Outbound messages waiting (pending or being sent), dead-lettered, and the oldest waiting (one query)."""
    waiting = Q(status__in=[OutboundMessage.Status.PENDING, OutboundMessage.Status.SENDING])
    return _seen(
        OutboundMessage.objects.filter(
            status__in=[OutboundMessage.Status.PENDING, OutboundMessage.Status.SENDING, OutboundMessage.Status.DEAD]
        ),
        user,
    ).aggregate(
        waiting=Count("pk", filter=waiting),
        dead=Count("pk", filter=Q(status=OutboundMessage.Status.DEAD)),
        oldest_waiting=Min("created_at", filter=waiting),
    )


# --- composition ----------------------------------------------------------------------------------


def _admin_url(name: str, query: str = "") -> str:
    return reverse(f"admin:{name}") + (f"?{query}" if query else "")


def _kpi(key, label, value, *, note="", url="", tone=OK) -> dict:
    return {"key": key, "label": label, "value": charts.fmt(value), "note": note, "url": url, "tone": tone}


def _account_health(row: dict) -> tuple[str, str]:
    """(tone, words) for an account: disabled, circuit open, failing, never synced, recovering, ok."""
    success, failure = row["last_success_at"], row["last_failure_at"]
    if not row["enabled"]:
        return WARN, "disabled"
    if row["circuit_state"] == ConnectorAccount.CircuitState.OPEN:
        return BAD, "circuit open"
    if failure and (success is None or failure > success):
        return BAD, "failing"
    if success is None:
        return WARN, "never synced"
    if row["circuit_state"] == ConnectorAccount.CircuitState.HALF_OPEN:
        return WARN, "recovering"
    return OK, "ok"


def _stock_panel(user) -> list[dict]:
    kpis = []
    if user.has_perm("inventory.view_stocklevel"):
        counts = stock_counts(user)
        low_levels = _admin_url("inventory_stocklevel_changelist", "below_threshold=yes")
        kpis += [
            _kpi(
                "out_of_stock",
                "Out of stock",
                counts["out_of_stock"],
                note=f"of {charts.fmt(counts['tracked'])} tracked variants",
                url=low_levels,
                tone=BAD if counts["out_of_stock"] else OK,
            ),
            _kpi(
                "below_threshold",
                "Below threshold",
                counts["below_threshold"],
                note="variants with a few units left",
                url=low_levels,
                tone=WARN if counts["below_threshold"] else OK,
            ),
        ]
    if user.has_perm("reservations.view_reservation"):
        held = reservation_counts(user)
        kpis.append(
            _kpi(
                "active_reservations",
                "Active reservations",
                held["active"],
                note=f"holding {charts.fmt(held['units_held'])} unit{'s' if held['units_held'] != 1 else ''}",
                url=_admin_url("reservations_channelactivity_changelist"),
            )
        )
    return kpis


def _activity_panel(user, window: Window) -> list[dict]:
    kpis = []
    if user.has_perm("reservations.view_stockrefusal"):
        refused = refusals_since(user, window.today_start)
        kpis.append(
            _kpi(
                "refusals_today",
                "Oversell attempts today",
                refused["attempts"],
                note=f"refused, on {charts.fmt(refused['skus'])} SKU{'s' if refused['skus'] != 1 else ''}",
                tone=WARN if refused["attempts"] else OK,
            )
        )
    if user.has_perm("connectors.view_outboundmessage"):
        backlog = outbox_backlog(user)
        oldest = backlog["oldest_waiting"]
        note = f"{charts.fmt(backlog['dead'])} dead-lettered"
        if oldest:
            note += f"; oldest waiting since {timezone.localtime(oldest):%b %d %H:%M}"
        kpis.append(
            _kpi(
                "outbox_backlog",
                "Outbox backlog",
                backlog["waiting"],
                note=note,
                url=_admin_url("connectors_outboundmessage_changelist", "status__exact=pending"),
                tone=BAD if backlog["dead"] else (WARN if backlog["waiting"] else OK),
            )
        )
    return kpis


def _alerts_panel(user) -> dict | None:
    if not user.has_perm("alerts.view_alert"):
        return None
    counts = open_counts_by_severity(_seen(Alert.objects.all(), user))
    url = _admin_url("alerts_alert_changelist")
    return {
        "total": sum(counts.values()),
        "severities": [
            {
                "key": severity,
                "label": severity.label,
                "count": counts.get(severity, 0),
                "colour": SEVERITY_COLOURS[severity],
                "url": f"{url}?status__in=open,acknowledged&severity__exact={severity}",
            }
            for severity in SEVERITIES
        ],
    }


def _sync_panel(user, window: Window) -> dict | None:
    if not user.has_perm("connectors.view_syncjob"):
        return None
    may_open = user.has_perm("connectors.view_connectoraccount")
    accounts = []
    for row in sync_accounts(user, window):
        tone, state = _account_health(row)
        live = live_url = live_counts = None
        if row["live_job_id"]:
            job = SyncJob(
                pk=row["live_job_id"],
                status=row["live_status"],
                processed=row["live_processed"],
                total=row["live_total"],
            )
            live = sync_progress_widget(job)
            live_url = reverse("admin:connectors_syncjob_change", args=[job.pk])
            processed = live_figure(job, "processed", job.processed)
            live_counts = (
                format_html("{} of {} processed", processed, live_figure(job, "total", job.total))
                if job.total
                else format_html("{} processed", processed)
            )
        accounts.append(
            {
                **row,
                "tone": tone,
                "state": state,
                "kind_label": Kind(row["kind"]).label,
                "url": reverse("admin:connectors_connectoraccount_change", args=[row["pk"]]) if may_open else "",
                "live": live,
                "live_url": live_url,
                "live_counts": live_counts,
            }
        )
    return {
        "accounts": accounts,
        "live": any(account["live"] for account in accounts),
    }


def _on_hand_chart(user, window: Window, wanted_sku: str) -> dict:
    choices = most_moved_variants(user, window)
    chosen, note = None, ""
    if wanted_sku:
        chosen = next(((pk, sku) for pk, sku in choices if sku == wanted_sku), None)
        chosen = chosen or _seen(Variant.objects.filter(sku=wanted_sku), user).values_list("pk", "sku").first()
        if chosen is None:
            note = f"No variant has the SKU “{wanted_sku}”; showing the most moved one."
    chosen = chosen or (choices[0] if choices else None)
    title = "On hand over time"
    if chosen is None:
        svg = charts.line_chart("chart-on-hand", title, [], [])
    else:
        levels = on_hand_by_day(user, chosen[0], window)
        series = [charts.Series(code, values) for code, values in levels.items()]
        if len(series) > 1:
            total = [sum(values) for values in zip(*(one.values for one in series), strict=True)]
            series.insert(0, charts.Series("All warehouses", total, "#111827"))
        title = f"On hand of {chosen[1]}, end of day"
        svg = charts.line_chart(
            "chart-on-hand",
            title,
            window.labels,
            series,
            tick_labels=window.tick_labels,
            label_name="Day",
            y_label="units on hand",
        )
    return {
        "key": "on_hand",
        "title": title,
        "svg": svg,
        "note": note,
        "variant_form": {"sku": chosen[1] if chosen else wanted_sku, "choices": [sku for _, sku in choices]},
    }


def _charts(user, window: Window, wanted_sku: str) -> list[dict]:
    found = []
    if user.has_perm("inventory.view_stockmovement"):
        found.append(_on_hand_chart(user, window, wanted_sku))
    if user.has_perm("alerts.view_alert"):
        raised = alerts_by_day(user, window)
        found.append(
            {
                "key": "alerts_per_day",
                "title": "Alerts raised per day, by severity",
                "svg": charts.stacked_bar_chart(
                    "chart-alerts",
                    "Alerts raised per day, by severity",
                    window.labels,
                    [charts.Series(s.label, raised[s], SEVERITY_COLOURS[s]) for s in SEVERITIES],
                    tick_labels=window.tick_labels,
                    label_name="Day",
                    y_label="alerts",
                ),
            }
        )
    if user.has_perm("connectors.view_syncjob"):
        jobs = sync_jobs_by_day(user, window)
        succeeded, failed = sum(jobs["succeeded"]), sum(jobs["failed"])
        rate = f"{failed * 100 / (succeeded + failed):.0f}%" if succeeded + failed else "no jobs"
        found += [
            {
                "key": "sync_jobs",
                "title": f"Sync jobs per day · failure rate {rate}",
                "note": f"{charts.fmt(failed)} of {charts.fmt(succeeded + failed)} finished jobs failed "
                f"in {WINDOW_DAYS} days.",
                "svg": charts.stacked_bar_chart(
                    "chart-sync-jobs",
                    f"Sync jobs finished per day; failure rate {rate}",
                    window.labels,
                    [
                        charts.Series("Succeeded", jobs["succeeded"], "#16a34a"),
                        charts.Series("Failed", jobs["failed"], SEVERITY_COLOURS["critical"]),
                    ],
                    tick_labels=window.tick_labels,
                    label_name="Day",
                    y_label="jobs",
                ),
            },
            {
                "key": "sync_durations",
                "title": "Sync job durations",
                "svg": charts.line_chart(
                    "chart-sync-durations",
                    "Sync job durations per day, mean and longest",
                    window.labels,
                    [
                        charts.Series("Mean", jobs["mean_seconds"], "#2563eb"),
                        charts.Series("Longest", jobs["longest_seconds"], "#9333ea"),
                    ],
                    tick_labels=window.tick_labels,
                    label_name="Day",
                    y_label="seconds",
                    integer=False,
                ),
            },
        ]
    if user.has_perm("inventory.view_stocklevel"):
        rows = stock_by_warehouse(user)
        labels = [f"{row['name']}{'' if row['active'] else ' (inactive)'}" for row in rows]
        found.append(
            {
                "key": "by_warehouse",
                "title": "Stock by warehouse",
                "svg": charts.horizontal_bar_chart(
                    "chart-by-warehouse",
                    "Units on hand by warehouse, available and reserved",
                    labels,
                    [
                        charts.Series("Available", [row["on_hand"] - row["reserved"] for row in rows], "#2563eb"),
                        charts.Series("Reserved", [row["reserved"] for row in rows], "#ea580c"),
                    ],
                    x_label="units on hand",
                    label_name="Warehouse",
                ),
            }
        )
    if user.has_perm("inventory.view_channellisting"):
        rows = stock_by_channel(user)
        found.append(
            {
                "key": "by_channel",
                "title": "What each channel may sell",
                "note": "Sellable listings: "
                + ", ".join(f"{row['code']} {row['sellable']}/{row['listings']}" for row in rows),
                "svg": charts.horizontal_bar_chart(
                    "chart-by-channel",
                    "Units each channel may sell",
                    [f"{row['name']}{'' if row['active'] else ' (inactive)'}" for row in rows],
                    [charts.Series("Sellable units", [row["units"] for row in rows], "#16a34a")],
                    x_label="units the channel may sell",
                    label_name="Channel",
                ),
            }
        )
    return found


def dashboard(request) -> dict:
    """Everything the dashboard shows to ``request.user``; the on-hand chart follows ``?variant=<sku>``."""
    user, window = request.user, Window.ending_today()
    wanted_sku = request.GET.get("variant", "").strip()[:64]
    kpis = _stock_panel(user) + _activity_panel(user, window)
    return {
        "window_days": WINDOW_DAYS,
        "kpis": kpis,
        "alerts": _alerts_panel(user),
        "sync": _sync_panel(user, window),
        "charts": _charts(user, window, wanted_sku),
    }


@register.inclusion_tag("admin/dashboard/dashboard.html", takes_context=True)
def stockpool_dashboard(context):
    return dashboard(context["request"])
