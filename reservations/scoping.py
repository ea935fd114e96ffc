"""Who sees reservations and channel records (see inventory/scoping.py).

A reservation, its lines and a refused request are the channel's organization's: its order
reference, customer, invoice and prices. The supplier whose stock another organization's channel
draws on sees only figures of them (``counted``): units held and sold on its stock, requests refused.
"""

from django.db.models import Q

from inventory.scoping import channels_of, register
from reservations.models import (
    ChannelActivity,
    ChannelApiKey,
    IdempotencyKey,
    Reservation,
    ReservationLine,
    StockRefusal,
)


def _own_channel(path: str):
    return lambda orgs, user: Q(**{f"{path}__organization__in": orgs})


register(
    Reservation,
    _own_channel("channel"),
    counted=lambda orgs, user: Q(channel__organization__in=orgs) | Q(lines__warehouse__organization__in=orgs),
)
register(
    ReservationLine,
    _own_channel("reservation__channel"),
    counted=lambda orgs, user: Q(reservation__channel__organization__in=orgs) | Q(warehouse__organization__in=orgs),
)
register(StockRefusal, _own_channel("channel"), counted=lambda orgs, user: Q(channel__in=channels_of(orgs)))
register(ChannelActivity, lambda orgs, user: Q(pk__in=channels_of(orgs)))
# A channel's keys and the requests it sent are its own organization's only.
register(ChannelApiKey, _own_channel("channel"))
register(IdempotencyKey, _own_channel("channel"))
