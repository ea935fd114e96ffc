"""Publishing channel availability to the marketplaces and storefronts a channel feeds.

Every recomputation of a listing's availability (``inventory.events.listings_recomputed``,
inside the stock transaction) leaves at most one publication per listing in the outbox,
carrying the latest value: a waiting publication is rewritten, not joined by another, so a
hundred changes to one listing cost one call. One already being sent keeps its status and
gets the new value; the relay sees the value changed under it and queues it again, so the
partner always ends with the latest figure and never receives an older one after a newer.
A listing that reaches 0 is published as 0 (disabled on its channel) and, on restock, again.
"""

from django.db import transaction
from django.db.models import Case, Value, When
from django.utils import timezone

from connectors.models import ConnectorAccount, Kind, OutboundMessage

PUBLISHING_KINDS = (Kind.AMAZON_SP_API, Kind.MEDUSA)


def dedupe_key(listing_id: int) -> str:
    return f"publish-listing-{listing_id}"


def record_publications(sender, listings, **kwargs) -> None:
    accounts = {
        account.channel_id: account
        for account in ConnectorAccount.objects.filter(
            channel_id__in={change.channel_id for change in listings}, enabled=True, kind__in=PUBLISHING_KINDS
        )
    }
    wanted = {
        dedupe_key(change.listing_id): (accounts[change.channel_id], change)
        for change in listings
        if change.channel_id in accounts and change.available is not None
    }
    if not wanted:
        return
    queued = {
        message.dedupe_key: message
        for message in OutboundMessage.objects.filter(
            account__in={account for account, _ in wanted.values()}, dedupe_key__in=wanted
        ).only("dedupe_key", "payload", "status")
    }
    now = timezone.now()
    new = []
    for key, (account, change) in wanted.items():
        payload = {
            "listing_id": change.listing_id,
            "variant_id": change.variant_id,
            "sku": change.sku,
            "quantity": change.available,
        }
        message = queued.get(key)
        if message is None:
            new.append(
                OutboundMessage(
                    account=account,
                    kind=OutboundMessage.Kind.PUBLISH_QUANTITY,
                    payload=payload,
                    dedupe_key=key,
                    next_attempt_at=now,
                )
            )
        elif message.payload.get("quantity") != change.available or message.status == OutboundMessage.Status.DEAD:
            OutboundMessage.objects.filter(pk=message.pk).update(
                payload=payload,
                status=Case(
                    When(status=OutboundMessage.Status.SENDING, then=Value(OutboundMessage.Status.SENDING)),
                    default=Value(OutboundMessage.Status.PENDING),
                ),
                attempts=0,
                next_attempt_at=now,
                last_error="",
            )
    OutboundMessage.objects.bulk_create(new)
    from connectors.outbox import kick_relay

    transaction.on_commit(kick_relay)
