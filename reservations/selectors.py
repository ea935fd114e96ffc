from django.db.models import Prefetch

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
