"""Who sees reservations and channel records (see inventory/scoping.py).

A reservation, its lines and a refused request are the channel's organization's: its order
reference, customer, invoice and prices. The supplier whose stock another organization's channel
draws on sees only figures of them (``counted``): units held and sold on its stock, requests refused.
"""

from django.db.models import Exists, OuterRef, Q

from inventory.models import StockLevel
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


def _refused_on_stock_of(orgs, user) -> Q:
    """A refusal counts for its channel's organization, and for those whose warehouses feeding that channel
    hold the SKU asked for (a reseller's request for its own product is not its supplier's figure)."""
    stocked = StockLevel.objects.filter(
        variant=OuterRef("variant_id"),
        warehouse__channel_links__channel=OuterRef("channel_id"),
        warehouse__organization__in=orgs,
    )
    return Q(channel__organization__in=orgs) | Exists(stocked)


register(StockRefusal, _own_channel("channel"), counted=_refused_on_stock_of)
register(ChannelActivity, lambda orgs, user: Q(pk__in=channels_of(orgs)))
# A channel's keys and the requests it sent are its own organization's only.
register(ChannelApiKey, _own_channel("channel"))
register(IdempotencyKey, _own_channel("channel"))
