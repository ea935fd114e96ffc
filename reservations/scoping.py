"""Who sees reservations and channel records (see inventory/scoping.py).

A reservation, its lines and a refused request are the channel's organization's: its order
reference, customer, invoice and prices. The supplier whose stock another organization's channel
draws on sees only figures of them (``counted``): units held and sold on its stock, requests refused.
"""

from django.db.models import Q

from inventory.scoping import channels_of, listings_of, register
from reservations.models import (
    ChannelActivity,
    ChannelApiKey,
    IdempotencyKey,
    OversellIncident,
    Reservation,
    ReservationLine,
    Return,
    ReturnLine,
    StockRefusal,
)


def _own_channel(path: str):
    return lambda orgs, user: Q(**{f"{path}__organization__in": orgs})


register(Reservation, _own_channel("channel"))
register(
    ReservationLine,
    _own_channel("reservation__channel"),
    counted=lambda orgs, user: Q(reservation__channel__organization__in=orgs) | Q(warehouse__organization__in=orgs),
)

register(Return, _own_channel("channel"))
register(ReturnLine, _own_channel("sale_return__channel"))
# An oversold order is its channel's organization's to settle (the alert tells its suppliers, by channel).
register(OversellIncident, _own_channel("reservation__channel"))


# A refusal counts for its channel's organization and for those whose stock is behind the SKU the channel
# asked for (a reseller's request for its own product is not its supplier's figure).
register(StockRefusal, _own_channel("channel"), counted=lambda orgs, user: listings_of(orgs))
register(ChannelActivity, lambda orgs, user: Q(pk__in=channels_of(orgs)))
# A channel's keys and the requests it sent are its own organization's only.
register(ChannelApiKey, _own_channel("channel"))
register(IdempotencyKey, _own_channel("channel"))
