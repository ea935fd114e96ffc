"""Domain events: how other apps learn of stock changes without ``inventory`` importing them.

Each is sent once the transaction that caused it has committed, so a receiver never sees
a change that was rolled back. Receivers connect in their AppConfig.ready().
"""

import logging
from functools import partial

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

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
