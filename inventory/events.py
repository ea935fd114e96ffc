"""Domain events: how other apps learn of stock changes without ``inventory`` importing them.

Most are sent once the transaction that caused it has committed, so a receiver never sees a
change that was rolled back. ``movements_booked`` is the exception: it is sent inside the
transaction, for receivers that must write in it (the connectors' outbox), and a receiver
that raises there refuses the stock change. Receivers connect in their AppConfig.ready().
"""

import logging
from functools import partial

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

#: Ledger rows were just written, inside the transaction. kwargs: ``movements`` (a list of
#: StockMovement with ``warehouse`` and ``variant`` loaded, each carrying ``sale``: the
#: ``SaleDetails`` of its change, or None) and ``source``.
movements_booked = Signal()

#: Listings' channel availability was just recomputed, inside the transaction (after a stock or rule
#: change). kwargs: ``listings``, a tuple of ``ListingAvailabilityChange`` (listing_id, channel_id,
#: variant_id, sku, available, was_sellable). For receivers that publish quantities through an outbox.
listings_recomputed = Signal()

#: ``load_demo`` built the demo world, inside its transaction: apps add their part of the demo.
demo_world_loaded = Signal()

#: Stock levels changed. kwargs: ``variant_ids`` and ``warehouse_ids`` (frozensets).
stock_changed = Signal()

#: Listings became sellable or unsellable. kwargs: ``changes``, a tuple of
#: ``ListingTransition`` (listing_id, channel_id, variant_id, sellable, available).
listing_sellability_changed = Signal()


def send_after_commit(signal: Signal, **kwargs) -> None:
    transaction.on_commit(partial(_send, signal, kwargs))


def _send(signal: Signal, kwargs: dict) -> None:
    for receiver, result in signal.send_robust(sender=None, **kwargs):
        if isinstance(result, Exception):
            logger.error("Receiver %r of a stock event failed", receiver, exc_info=result)
