"""Reads of the stock model: channel availability, stock lists and the ledger check.

Channel availability has one formula, ``channel_available`` below:

    available = min(cap, floor(max(0, pool - buffer) * percent / 100))

where ``pool`` is the sum of ``on_hand - reserved`` over the channel's active warehouses. The
rules come from one query and the pools from one grouped query (or, under a lock, from the
locked rows themselves), so it costs the same two queries for one SKU or a thousand.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Exists, F, IntegerField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from inventory.models import Channel, ChannelListing, StockLevel, StockMovement, Variant, Warehouse
from inventory.scoping import visible_to_organizations


@dataclass(frozen=True)
class ListingRules:
    """What decides a listing's availability, besides the pool."""

    listing_id: int
    channel_id: int
    variant_id: int
    sku: str
    buffer: int
    allocation_percent: int
    max_quantity: int | None
    enabled: bool
    variant_active: bool
    product_active: bool
    channel_active: bool
    track_inventory: bool
    is_sellable: bool  # as last recorded


_RULE_FIELDS = (
    "pk",
    "channel_id",
    "variant_id",
    "variant__sku",
    "buffer",
    "allocation_percent",
    "max_quantity",
    "enabled",
    "variant__active",
    "variant__product__active",
    "channel__active",
    "variant__track_inventory",
    "is_sellable",
)


def listing_rules(listings: QuerySet) -> list[ListingRules]:
    """The rules of ``listings`` in one query (a locking queryset locks the listing rows only)."""
    return [ListingRules(*row) for row in listings.order_by("pk").values_list(*_RULE_FIELDS)]


def channel_available(rules: ListingRules, pool: int) -> int | None:
    """What the channel may sell; None for an untracked variant without a cap (no limit)."""
    if not (rules.enabled and rules.variant_active and rules.product_active and rules.channel_active):
        return 0
    if not rules.track_inventory:
        return rules.max_quantity
    after_rules = max(0, pool - rules.buffer) * rules.allocation_percent // 100
    return after_rules if rules.max_quantity is None else min(rules.max_quantity, after_rules)


def is_sellable(available: int | None) -> bool:
    return available is None or available > 0


def channel_pools(pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """Units available per (channel_id, variant_id) over each channel's active warehouses, in one query."""
    pairs = set(pairs)
    if not pairs:
        return {}
    rows = (
        StockLevel.objects.filter(
            variant_id__in={variant for _, variant in pairs},
            warehouse__active=True,
            warehouse__channel_links__channel_id__in={channel for channel, _ in pairs},
        )
        .order_by()
        .values_list("warehouse__channel_links__channel_id", "variant_id")
        .annotate(pool=Sum(F("on_hand") - F("reserved")))
    )
    return {(channel, variant): pool for channel, variant, pool in rows if (channel, variant) in pairs}


@dataclass(frozen=True)
class ListingAvailability:
    rules: ListingRules
    pool: int
    available: int | None

    @property
    def sellable(self) -> bool:
        return is_sellable(self.available)


def listing_availability(listings: QuerySet) -> list[ListingAvailability]:
    """Each listing's pool and availability, in two queries however many listings."""
    rules = listing_rules(listings)
    pools = channel_pools((r.channel_id, r.variant_id) for r in rules)
    return [
        ListingAvailability(rule, pool, channel_available(rule, pool))
        for rule in rules
        for pool in [pools.get((rule.channel_id, rule.variant_id), 0)]
    ]


@dataclass(frozen=True)
class SkuAvailability:
    sku: str
    variant_id: int
    listed: bool
    available: int | None  # None: not tracked, no cap
    sellable: bool


@dataclass(frozen=True)
class ChannelAvailability:
    items: list[SkuAvailability]
    unknown_skus: list[str]


def _catalogue_of_channel(channel: Channel, skus) -> QuerySet:
    """The variants of ``skus`` the channel's organization knows of (owns, stocks, lists or could list):
    to a channel, another organization's SKU is as unknown as one that does not exist."""
    return visible_to_organizations(Variant.objects.filter(sku__in=set(skus)), [channel.organization_id])


def variants_for_channel(channel: Channel, skus) -> dict[str, Variant]:
    """The variants a channel's request names, by SKU: those it lists (one query, as the reserve path's
    lookup always was), and those its organization knows of (one more, only for SKUs it does not list)."""
    listed = Exists(ChannelListing.objects.filter(channel=channel, variant=OuterRef("pk")))
    found = {variant.sku: variant for variant in Variant.objects.filter(sku__in=set(skus)).annotate(listed=listed)}
    unlisted = [sku for sku, variant in found.items() if not variant.listed]
    if unlisted:
        known = set(_catalogue_of_channel(channel, unlisted).values_list("sku", flat=True))
        found = {sku: variant for sku, variant in found.items() if variant.listed or sku in known}
    return found


def channel_availability(channel: Channel, skus: list[str]) -> ChannelAvailability:
    """What ``channel`` may sell of each SKU, in a constant number of queries however many SKUs.

    A SKU its organization knows of but the channel does not list is reported unlisted with nothing to
    sell; any other is unknown.
    """
    wanted = list(dict.fromkeys(skus))
    found = {
        entry.rules.sku: SkuAvailability(
            sku=entry.rules.sku,
            variant_id=entry.rules.variant_id,
            listed=True,
            available=entry.available,
            sellable=entry.sellable,
        )
        for entry in listing_availability(ChannelListing.objects.filter(channel=channel, variant__sku__in=wanted))
    }
    missing = [sku for sku in wanted if sku not in found]
    if missing:
        for sku, vid in _catalogue_of_channel(channel, missing).values_list("sku", "id"):
            found[sku] = SkuAvailability(sku=sku, variant_id=vid, listed=False, available=0, sellable=False)
    return ChannelAvailability(
        items=[found[sku] for sku in wanted if sku in found],
        unknown_skus=[sku for sku in wanted if sku not in found],
    )


def sells_other_organizations_stock(channel: Channel, variant: Variant) -> bool:
    """Whether a warehouse of another organization than the channel's, feeding it, holds the SKU."""
    return (
        StockLevel.objects.filter(variant=variant, warehouse__channel_links__channel=channel)
        .exclude(warehouse__organization=channel.organization_id)
        .exists()
    )


def stock_levels() -> QuerySet:
    """Stock levels with ``available_qty`` annotated and what lists show joined in, in a stable order."""
    return (
        StockLevel.objects.with_available()
        .select_related("warehouse", "variant", "variant__product")
        .order_by("warehouse__code", "variant__sku")
    )


def stock_movements() -> QuerySet:
    """The ledger, newest first, with what lists show joined in."""
    return StockMovement.objects.select_related("warehouse", "variant", "actor").order_by("-created_at", "-id")


def ledger_mismatches(variant_ids=None) -> QuerySet:
    """Levels whose on_hand differs from the sum of their movements (should always be empty)."""
    booked = (
        StockMovement.objects.filter(warehouse_id=OuterRef("warehouse_id"), variant_id=OuterRef("variant_id"))
        .order_by()
        .values("variant_id")
        .annotate(total=Sum("quantity"))
        .values("total")
    )
    levels = StockLevel.objects.all() if variant_ids is None else StockLevel.objects.filter(variant_id__in=variant_ids)
    return (
        levels.annotate(booked=Coalesce(Subquery(booked, output_field=IntegerField()), Value(0)))
        .exclude(on_hand=F("booked"))
        .select_related("warehouse", "variant")
    )


def variants_by_sku(skus) -> dict[str, Variant]:
    return {variant.sku: variant for variant in Variant.objects.filter(sku__in=set(skus))}


def warehouses_by_code(codes) -> dict[str, Warehouse]:
    return {warehouse.code: warehouse for warehouse in Warehouse.objects.filter(code__in=set(codes))}
