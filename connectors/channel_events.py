"""Channel events: a POS or storefront hears of its own stock the moment it changes.

A channel registers a URL (ChannelWebhook). Each recomputation of a listing's availability
(``inventory.events.listings_recomputed``, inside the stock transaction) leaves, through the
outbox, at most one ``stock.changed`` and one ``listing.enabled``/``listing.disabled`` event
per listing, carrying the latest state, so a flurry of sales costs the receiver one call and
a sell-out elsewhere greys the product out on the POS within a second. Every event carries the
listing's whole state (``available``, ``sellable``) and the time it was computed, so a
receiver keeps the newest per SKU and never needs the events in order.
"""

import json
import logging
import uuid

import pybreaker
import requests
from django.utils import timezone

from connectors import outbox
from connectors.http import (
    CircuitOpen,
    PartnerAuthError,
    PartnerError,
    PartnerNotFound,
    PartnerRateLimited,
    PartnerRequestError,
    PartnerUnavailable,
    circuit_breaker,
)
from connectors.models import ChannelWebhook, OutboundMessage
from connectors.signing import HEADER, sign
from inventory.models import Channel

logger = logging.getLogger(__name__)

Event = ChannelWebhook.Event
TIMEOUT = (3.0, 10.0)


def record_channel_events(sender, listings, **kwargs) -> None:
    webhooks: dict[int, list[ChannelWebhook]] = {}
    for webhook in ChannelWebhook.objects.filter(
        channel_id__in={change.channel_id for change in listings}, enabled=True
    ).select_related("channel"):
        webhooks.setdefault(webhook.channel_id, []).append(webhook)
    if not webhooks:
        return
    now = timezone.now()
    latest = []
    for change in listings:
        for webhook in webhooks.get(change.channel_id, ()):
            sellable = change.available is None or change.available > 0
            if Event.STOCK_CHANGED in webhook.events:
                latest.append(
                    (webhook, f"stock-{change.listing_id}", _event(Event.STOCK_CHANGED, webhook.channel, change, now))
                )
            kind = Event.LISTING_ENABLED if sellable else Event.LISTING_DISABLED
            if sellable != change.was_sellable and kind in webhook.events:
                latest.append((webhook, f"sellability-{change.listing_id}", _event(kind, webhook.channel, change, now)))
    outbox.queue_latest(OutboundMessage.Kind.CHANNEL_EVENT, latest, same=_same_state)


def _event(kind: str, channel: Channel, change, now) -> dict:
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": str(kind),
        "created": now.isoformat().replace("+00:00", "Z"),
        "channel": channel.code,
        "data": {
            "sku": change.sku,
            "available": change.available,
            "sellable": change.available is None or change.available > 0,
        },
    }


def _same_state(old: dict, new: dict) -> bool:
    return old.get("type") == new["type"] and old.get("data") == new["data"]


class ChannelEventSender:
    """Delivers channel events to one webhook URL: signed at each attempt, a breaker per URL."""

    def __init__(self, webhook: ChannelWebhook, session: requests.Session | None = None):
        self.webhook = webhook
        self.session = session or requests.Session()
        self.breaker = circuit_breaker(f"channel-webhook:{webhook.pk}", fail_max=5, reset_timeout=60)

    def push(self, message: OutboundMessage) -> dict:
        body = json.dumps(message.payload, separators=(",", ":")).encode()
        try:
            status = self.breaker.call(self._post, body, message.payload)
        except pybreaker.CircuitBreakerError as error:
            raise CircuitOpen(f"Events to {self.webhook.url} are suspended after repeated failures.") from error
        except PartnerError as error:
            ChannelWebhook.objects.filter(pk=self.webhook.pk).update(
                last_failure_at=timezone.now(), last_error=str(error)[:2000]
            )
            raise
        ChannelWebhook.objects.filter(pk=self.webhook.pk).update(last_success_at=timezone.now())
        return {"status": status, "event_id": message.payload["id"]}

    def _post(self, body: bytes, event: dict) -> int:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Stockpool-Webhooks/1.0",
            HEADER: sign(self.webhook.secret, body),
            "Stockpool-Event-Id": event["id"],
            "Stockpool-Event-Type": event["type"],
        }
        who = f"Channel webhook {self.webhook.url}"
        try:
            response = self.session.post(
                self.webhook.url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False
            )
        except requests.ConnectionError as error:
            raise PartnerUnavailable(f"{who}: cannot connect ({type(error).__name__}).") from error
        except requests.Timeout as error:
            raise PartnerUnavailable(f"{who}: no answer within {TIMEOUT[1]:.0f} s.") from error
        status = response.status_code
        if status < 300:
            return status
        text = f"{who} answered {status}: {response.text[:200]}"
        if status == 429:
            raise PartnerRateLimited(text, status=status)
        if status >= 500:
            raise PartnerUnavailable(text, status=status)
        if status in (401, 403):
            raise PartnerAuthError(text, status=status)
        if status == 404:
            raise PartnerNotFound(text, status=status)
        raise PartnerRequestError(text, status=status)
