"""Reads of the stock model: channel availability, stock lists and the ledger check.

Channel availability is computed in SQL, in one place (``annotate_listing_availability``),
so the API, the admin and the sellable-state refresh all read the same formula:

    available = min(cap, floor(max(0, pool - buffer) * percent / 100))

where ``pool`` is the sum of ``on_hand - reserved`` over the channel's active warehouses.
"""

from dataclasses import dataclass

from django.db.models import (
    BooleanField,
    Case,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest, Least

from inventory.models import Channel, ChannelListing, StockLevel, StockMovement, Variant, Warehouse


def _channel_pool():
    """Units available to the listing's channel: on_hand - reserved over its active warehouses."""
    per_variant = (
        StockLevel.objects.filter(
            variant_id=OuterRef("variant_id"),
            warehouse__active=True,
            warehouse__channel_links__channel_id=OuterRef("channel_id"),
        )
        .order_by()
        .values("variant_id")
        .annotate(total=Sum(F("on_hand") - F("reserved")))
        .values("total")
    )
    return Coalesce(Subquery(per_variant, output_field=IntegerField()), Value(0))


def annotate_listing_availability(listings: QuerySet) -> QuerySet:
    """Add ``pool``, ``channel_available`` (None when untracked and uncapped) and ``sellable_now``."""
    after_rules = (Greatest(F("pool") - F("buffer"), Value(0)) * F("allocation_percent")) / Value(100)
    capped = Case(
        When(max_quantity__isnull=False, then=Least(F("max_quantity"), after_rules)),
        default=after_rules,
        output_field=IntegerField(),
    )
    blocked = Q(enabled=False) | Q(variant__active=False) | Q(variant__product__active=False) | Q(channel__active=False)
    return (
        listings.annotate(pool=_channel_pool())
        .annotate(
            channel_available=Case(
                When(blocked, then=Value(0)),
                When(variant__track_inventory=False, then=F("max_quantity")),
                default=capped,
                output_field=IntegerField(),
            ),
        )
        .annotate(
            sellable_now=Case(
                When(Q(channel_available__gt=0) | Q(channel_available__isnull=True), then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            )
        )
    )


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


def channel_availability(channel: Channel, skus: list[str]) -> ChannelAvailability:
    """What ``channel`` may sell of each SKU, in two queries however many SKUs are asked for.

    A known SKU without a listing on the channel is reported unlisted with nothing to sell.
    """
    wanted = list(dict.fromkeys(skus))
    listings = (
        ChannelListing.objects.filter(channel=channel, variant__sku__in=wanted)
        .with_availability()
        .values_list("variant__sku", "variant_id", "channel_available", "sellable_now")
    )
    found = {
        sku: SkuAvailability(sku=sku, variant_id=vid, listed=True, available=avail, sellable=sellable)
        for sku, vid, avail, sellable in listings
    }
    missing = [sku for sku in wanted if sku not in found]
    if missing:
        for sku, vid in Variant.objects.filter(sku__in=missing).values_list("sku", "id"):
            found[sku] = SkuAvailability(sku=sku, variant_id=vid, listed=False, available=0, sellable=False)
    return ChannelAvailability(
        items=[found[sku] for sku in wanted if sku in found],
        unknown_skus=[sku for sku in wanted if sku not in found],
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


def ledger_mismatches() -> QuerySet:
    """Levels whose on_hand differs from the sum of their movements (should always be empty)."""
    booked = (
        StockMovement.objects.filter(warehouse_id=OuterRef("warehouse_id"), variant_id=OuterRef("variant_id"))
        .order_by()
        .values("variant_id")
        .annotate(total=Sum("quantity"))
        .values("total")
    )
    return (
        StockLevel.objects.annotate(booked=Coalesce(Subquery(booked, output_field=IntegerField()), Value(0)))
        .exclude(on_hand=F("booked"))
        .select_related("warehouse", "variant")
    )


def variants_by_sku(skus) -> dict[str, Variant]:
    return {variant.sku: variant for variant in Variant.objects.filter(sku__in=set(skus))}


def warehouses_by_code(codes) -> dict[str, Warehouse]:
    return {warehouse.code: warehouse for warehouse in Warehouse.objects.filter(code__in=set(codes))}
