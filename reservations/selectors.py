from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, F, Prefetch, Sum
from django.utils import timezone

from inventory.models import Channel
from inventory.scoping import counted_for
from reservations.exceptions import ReservationNotFound
from reservations.models import Reservation, ReservationLine, Return, ReturnLine, StockRefusal


def reservation_for_channel(channel: Channel, reservation_id) -> Reservation:
    """A channel's own reservation with its lines; another channel's is as good as absent (404)."""
    reservation = (
        Reservation.objects.filter(channel=channel, pk=reservation_id)
        .prefetch_related(Prefetch("lines", ReservationLine.objects.select_related("variant", "warehouse")))
        .first()
    )
    if reservation is None:
        raise ReservationNotFound(f"No reservation {reservation_id} on channel {channel.code}.")
    return reservation


def return_for_channel(channel: Channel, return_id) -> Return:
    return (
        Return.objects.filter(channel=channel, pk=return_id)
        .prefetch_related(
            Prefetch("lines", ReturnLine.objects.select_related("sold_line__variant", "sold_line__warehouse"))
        )
        .get()
    )


def reserved_mismatches(variant_ids=None):
    """Levels whose ``reserved`` differs from the units their active reservation lines hold (should be none)."""
    from django.db.models import IntegerField, OuterRef, Subquery, Sum, Value
    from django.db.models.functions import Coalesce

    from inventory.models import StockLevel

    held = (
        ReservationLine.objects.filter(
            reservation__status=Reservation.Status.ACTIVE,
            warehouse_id=OuterRef("warehouse_id"),
            variant_id=OuterRef("variant_id"),
        )
        .order_by()
        .values("variant_id")
        .annotate(total=Sum("quantity"))
        .values("total")
    )
    levels = StockLevel.objects.all() if variant_ids is None else StockLevel.objects.filter(variant_id__in=variant_ids)
    return (
        levels.annotate(held=Coalesce(Subquery(held, output_field=IntegerField()), Value(0)))
        .exclude(reserved=F("held"))
        .select_related("warehouse", "variant")
    )


@dataclass(frozen=True)
class ChannelFigures:
    """What a channel holds, sold and was refused: figures only, never the orders behind them."""

    holds: int = 0
    units_held: int = 0
    units_sold: int = 0
    refused: int = 0


#: The periods the figures cover.
SOLD_OVER = timedelta(days=30)
REFUSED_OVER = timedelta(hours=24)


def channel_figures(channel_ids, user) -> dict[int, ChannelFigures]:
    """Per channel: active holds and their units, units sold in 30 days, requests refused in 24 hours (three
    queries), counted as ``user`` may: all of their own channels, and of another organization's channel,
    what it holds and sold on their stock and what it was refused."""
    now = timezone.now()
    channel_ids = list(channel_ids)
    lines = counted_for(ReservationLine.objects.filter(reservation__channel__in=channel_ids), user).order_by()
    held = (
        lines.filter(reservation__status=Reservation.Status.ACTIVE)
        .values_list("reservation__channel")
        .annotate(holds=Count("reservation", distinct=True), units=Sum("quantity"))
    )
    sold = (
        lines.filter(reservation__status=Reservation.Status.CONSUMED, reservation__closed_at__gte=now - SOLD_OVER)
        .values_list("reservation__channel")
        .annotate(units=Sum("quantity"))
    )
    refused = (
        counted_for(StockRefusal.objects.filter(channel__in=channel_ids, created_at__gte=now - REFUSED_OVER), user)
        .order_by()
        .values_list("channel")
        .annotate(requests=Count("pk"))
    )
    figures = {channel_id: {} for channel_id in channel_ids}
    for channel_id, holds, units in held:
        figures[channel_id].update(holds=holds, units_held=units)
    for channel_id, units in sold:
        figures[channel_id]["units_sold"] = units
    for channel_id, requests in refused:
        figures[channel_id]["refused"] = requests
    return {channel_id: ChannelFigures(**values) for channel_id, values in figures.items()}
