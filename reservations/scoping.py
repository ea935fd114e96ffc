"""Who sees reservations and channel records (see inventory/scoping.py)."""

from django.db.models import Q

from inventory.scoping import channels_of, register
from reservations.models import ChannelApiKey, IdempotencyKey, Reservation, ReservationLine, StockRefusal

# Holds and refusals: the channel's organization, and the suppliers whose stock it draws on.
register(Reservation, lambda orgs, user: Q(channel__in=channels_of(orgs)))
register(ReservationLine, lambda orgs, user: Q(reservation__channel__in=channels_of(orgs)))
register(StockRefusal, lambda orgs, user: Q(channel__in=channels_of(orgs)))
# A channel's keys and the requests it sent are its own organization's only.
register(ChannelApiKey, lambda orgs, user: Q(channel__organization__in=orgs))
register(IdempotencyKey, lambda orgs, user: Q(channel__organization__in=orgs))
