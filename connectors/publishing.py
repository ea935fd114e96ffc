"""Publishing channel availability to the marketplaces and storefronts a channel feeds.

Every recomputation of a listing's availability (``inventory.events.listings_recomputed``,
inside the stock transaction) leaves at most one publication per listing in the outbox,
carrying the latest value (``outbox.queue_latest``): a hundred changes to one listing cost
one call, and the partner never receives an older figure after a newer.
A listing that reaches 0 is published as 0 (disabled on its channel) and, on restock, again.
"""

from django.db import transaction
from django.utils import timezone

from connectors import outbox
from connectors.models import ConnectorAccount, Kind, OutboundMessage, SyncConflict
from inventory.models import ChannelListing

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
    outbox.queue_latest(
        OutboundMessage.Kind.PUBLISH_QUANTITY,
        [
            (
                accounts[change.channel_id],
                dedupe_key(change.listing_id),
                {
                    "listing_id": change.listing_id,
                    "variant_id": change.variant_id,
                    "sku": change.sku,
                    "quantity": change.available,
                },
            )
            for change in listings
            if change.channel_id in accounts and change.available is not None
        ],
        same=lambda old, new: old.get("quantity") == new["quantity"],
    )


def republish(account: ConnectorAccount, listing_id: int) -> None:
    """Send our current figure for a listing again (after a partner changed it behind our back)."""
    OutboundMessage.objects.filter(account=account, dedupe_key=dedupe_key(listing_id)).exclude(
        status=OutboundMessage.Status.SENDING
    ).update(status=OutboundMessage.Status.PENDING, next_attempt_at=timezone.now(), attempts=0)
    transaction.on_commit(outbox.kick_relay)


def latest_publication(account: ConnectorAccount, sku: str) -> tuple[ChannelListing | None, OutboundMessage | None]:
    """The channel's listing of ``sku`` and the publication carrying its latest figure (either may be None)."""
    listing = ChannelListing.objects.filter(channel=account.channel, variant__sku=sku).select_related("variant").first()
    message = (
        OutboundMessage.objects.filter(account=account, dedupe_key=dedupe_key(listing.pk)).first() if listing else None
    )
    return listing, message


@transaction.atomic
def settle_quantity_drift(account: ConnectorAccount, sku: str, remote: int) -> SyncConflict | None:
    """A channel's partner reports a quantity that differs from what we last published: decide by strategy.

    ``hub_wins`` (and ``highest``/``lowest`` when ours is the one kept) publishes ours again;
    ``source_wins`` leaves the partner's figure until our availability next changes; ``manual``
    opens a conflict for a manager. Every disagreement is recorded.

    The partner's figure may be lower because of its own orders: the caller books those first (the channel's
    orders, as the double-count rule counts our unacknowledged sales), so that ours already leaves them out and
    a sale made there is never published back (Amazon's connector catches up on its orders before settling).
    """
    listing, message = latest_publication(account, sku)
    ours = message.payload.get("quantity") if message else None
    if ours is None or ours == remote:
        return None
    Strategy = ConnectorAccount.ConflictStrategy
    strategy = account.conflict_strategy
    fields = {
        "account": account,
        "variant": listing.variant,
        "field": SyncConflict.Field.QUANTITY,
        "local_value": str(ours),
        "remote_value": str(remote),
        "strategy": strategy,
    }
    if strategy == Strategy.MANUAL:
        conflict, _ = SyncConflict.objects.update_or_create(
            account=account,
            variant=listing.variant,
            field=SyncConflict.Field.QUANTITY,
            status=SyncConflict.Status.OPEN,
            defaults=fields,
        )
        return conflict
    keep_ours = {
        Strategy.HUB_WINS: True,
        Strategy.SOURCE_WINS: False,
        Strategy.HIGHEST: ours >= remote,
        Strategy.LOWEST: ours <= remote,
    }[strategy]
    if keep_ours:
        republish(account, listing.pk)
    return SyncConflict.objects.create(
        **fields,
        status=SyncConflict.Status.RESOLVED,
        resolution="published ours again" if keep_ours else "kept the partner's figure",
        resolved_at=timezone.now(),
    )
