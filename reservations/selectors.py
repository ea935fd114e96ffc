from django.db.models import F, Prefetch

from inventory.models import Channel
from reservations.exceptions import ReservationNotFound
from reservations.models import Reservation, ReservationLine


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
