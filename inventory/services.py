"""Every write to stock. Each public function is one transaction.

A stock change locks its levels through ``inventory.locking``, decides from the values read
under the lock, writes one ledger movement per level change, refreshes the sellable state
of the affected listings and, after commit, emits ``inventory.events.stock_changed``.
"""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.utils import timezone

from inventory import events, scoping, selectors
from inventory.exceptions import InsufficientStock, InvalidQuantity, StockRuleViolation
from inventory.locking import lock_stock_levels, stock_transaction
from inventory.models import (
    Channel,
    ChannelListing,
    ListingStateChange,
    Membership,
    Organization,
    StockLevel,
    StockMovement,
    Variant,
    Warehouse,
)

#: The most units one level may hold, and so the largest quantity any single operation may move.
MAX_ON_HAND = 1_000_000_000

#: The listing fields ``update_listing_rules`` changes.
EXPOSURE_RULES = ("buffer", "allocation_percent", "max_quantity", "enabled", "price")

Reason = StockMovement.Reason
Source = StockMovement.Source

#: Reasons staff may book by hand; sales, transfers and sync corrections are booked by the system.
MANUAL_REASONS = (Reason.RECEIPT, Reason.COUNT, Reason.ADJUSTMENT, Reason.DAMAGE, Reason.RETURN)


@dataclass(frozen=True)
class SaleDetails:
    """What the seller charged for a sale line and the numbers it knows the sale by, for the warehouse's
    system of record. Empty where the stock's owner may not see them (another organization's channel):
    then the owner's own catalogue price stands."""

    channel: str = ""
    order_ref: str = ""
    invoice_number: str = ""
    unit_price: Decimal | None = None
    tax: Decimal | None = None


@dataclass(frozen=True)
class StockChange:
    """One requested change of one level: exactly one of ``delta`` or ``set_on_hand``.

    ``unreserve`` units of the change were held for it and leave ``reserved`` too (a sale
    consuming its reservation). ``sale`` travels with the movement to ``movements_booked``
    receivers; the ledger does not keep it.
    """

    warehouse: Warehouse
    variant: Variant
    reason: str
    delta: int | None = None
    set_on_hand: int | None = None
    reference: str = ""
    note: str = ""
    unreserve: int = 0
    sale: SaleDetails | None = None


@dataclass(frozen=True)
class Hold:
    """Units of one level held for a channel."""

    warehouse_id: int
    variant_id: int
    quantity: int


@dataclass(frozen=True)
class ListingAvailabilityChange:
    listing_id: int
    channel_id: int
    variant_id: int
    sku: str
    available: int | None
    was_sellable: bool


@dataclass(frozen=True)
class ListingTransition:
    listing_id: int
    channel_id: int
    variant_id: int
    sellable: bool
    available: int | None


def _check_quantity(value, *, name: str, allow_zero: bool = False, allow_negative: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidQuantity(f"{name} must be a whole number.", details={"field": name, "value": repr(value)})
    if not allow_negative and value < 0:
        raise InvalidQuantity(f"{name} must not be negative.", details={"field": name, "value": value})
    if not allow_zero and value == 0:
        raise InvalidQuantity(f"{name} must not be zero.", details={"field": name, "value": value})
    if abs(value) > MAX_ON_HAND:
        raise InvalidQuantity(f"{name} must be at most {MAX_ON_HAND}.", details={"field": name, "value": value})
    return value


def _validate_change(change: StockChange) -> None:
    if (change.delta is None) == (change.set_on_hand is None):
        raise InvalidQuantity("Give exactly one of delta or set_on_hand.")
    if change.reason not in Reason.values:
        raise InvalidQuantity(f"Unknown reason {change.reason!r}.", details={"field": "reason", "value": change.reason})
    if change.delta is not None:
        _check_quantity(change.delta, name="delta", allow_negative=True)
    else:
        _check_quantity(change.set_on_hand, name="set_on_hand", allow_zero=True)
    _check_quantity(change.unreserve, name="unreserve", allow_zero=True)


@stock_transaction
def apply_stock_changes(
    changes: Sequence[StockChange], *, source: str, actor=None, operation_id: uuid.UUID | None = None
) -> list[StockMovement]:
    """Apply ``changes`` all or nothing; any level left below its reserved units refuses them all.

    Changes to the same level apply in order. A count that matches the level writes no movement.
    Raises StockRuleViolation listing every offending change (``index`` into ``changes``).
    """
    if not changes:
        return []
    for change in changes:
        _validate_change(change)
    levels = lock_stock_levels(((c.warehouse.pk, c.variant.pk) for c in changes), create_missing=True)
    operation_id = operation_id or uuid.uuid4()
    movements, violations, touched = [], [], {}
    for index, change in enumerate(changes):
        level = levels[(change.warehouse.pk, change.variant.pk)]
        new_on_hand = change.set_on_hand if change.set_on_hand is not None else level.on_hand + change.delta
        new_reserved = level.reserved - change.unreserve
        problem = _violation(level, new_on_hand, new_reserved)
        if problem:
            violations.append(
                {
                    "index": index,
                    "sku": change.variant.sku,
                    "warehouse": change.warehouse.code,
                    "on_hand": level.on_hand,
                    "reserved": level.reserved,
                    "requested_on_hand": new_on_hand,
                    "reason": problem,
                }
            )
            continue
        quantity = new_on_hand - level.on_hand
        if quantity == 0 and new_reserved == level.reserved:
            continue
        level.on_hand, level.reserved = new_on_hand, new_reserved
        touched[level.pk] = level
        if quantity:
            movement = StockMovement(
                warehouse=change.warehouse,
                variant=change.variant,
                quantity=quantity,
                on_hand_after=new_on_hand,
                reason=change.reason,
                source=source,
                actor=actor,
                reference=change.reference,
                note=change.note,
                operation_id=operation_id,
            )
            movement.sale = change.sale
            movements.append(movement)
    if violations:
        raise StockRuleViolation(_violation_message(violations), details=violations)
    StockMovement.objects.bulk_create(movements)
    _save_levels(touched.values())
    if movements:
        events.movements_booked.send(sender=StockMovement, movements=movements, source=source)
    return movements


def _save_levels(levels: Iterable[StockLevel]) -> None:
    """Write locked levels back, refresh their listings and announce the change after commit."""
    levels = list(levels)
    if not levels:
        return
    _write_levels(levels)
    variant_ids = frozenset(level.variant_id for level in levels)
    refresh_listings(variant_ids=variant_ids, cause=ListingStateChange.Cause.STOCK)
    events.send_after_commit(
        events.stock_changed,
        variant_ids=variant_ids,
        warehouse_ids=frozenset(level.warehouse_id for level in levels),
    )


#: Rows per UPDATE: three parameters each, well inside PostgreSQL's and SQLite's limits.
_WRITE_CHUNK = 2000


def _write_levels(levels: list[StockLevel]) -> None:
    """Write locked levels' counts back, one ``UPDATE … FROM (VALUES …)`` per chunk.

    (``bulk_update`` builds a ``CASE`` with a branch per row, which the database evaluates for every
    row: quadratic, minutes for a sync page of thousands of levels.)
    """
    now = timezone.now()
    table = connection.ops.quote_name(StockLevel._meta.db_table)
    for start in range(0, len(levels), _WRITE_CHUNK):
        chunk = levels[start : start + _WRITE_CHUNK]
        rows = ", ".join(["(%s, %s, %s)"] * len(chunk))
        sql = (
            f"WITH v(id, on_hand, reserved) AS (VALUES {rows}) "  # noqa: S608 (placeholders only)
            f"UPDATE {table} SET on_hand = v.on_hand, reserved = v.reserved, updated_at = %s "
            f"FROM v WHERE {table}.id = v.id"
        )
        params = [value for level in chunk for value in (level.pk, level.on_hand, level.reserved)]
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, now])
    for level in levels:
        level.updated_at = now


def _violation(level: StockLevel, new_on_hand: int, new_reserved: int) -> str | None:
    if new_reserved < 0:
        return f"only {level.reserved} units are reserved; cannot release {level.reserved - new_reserved}"
    if new_on_hand < 0:
        return f"on_hand would become {new_on_hand}; it cannot go below zero"
    if new_on_hand < new_reserved:
        return f"on_hand would become {new_on_hand}, below the {new_reserved} units reserved"
    if new_on_hand > MAX_ON_HAND:
        return f"on_hand would exceed the maximum of {MAX_ON_HAND}"
    return None


def _violation_message(violations: list[dict]) -> str:
    first = violations[0]
    text = f"{first['sku']} at {first['warehouse']}: {first['reason']}."
    if len(violations) > 1:
        text += f" ({len(violations) - 1} more refused; see details.)"
    return f"Nothing was changed. {text}"


def receive_stock(
    *,
    warehouse: Warehouse,
    variant: Variant,
    quantity: int,
    source: str,
    actor=None,
    reference: str = "",
    note: str = "",
) -> StockMovement:
    """Book goods arriving at a warehouse."""
    _check_quantity(quantity, name="quantity")
    change = StockChange(warehouse, variant, Reason.RECEIPT, delta=quantity, reference=reference, note=note)
    return apply_stock_changes([change], source=source, actor=actor)[0]


def adjust_stock(
    *,
    warehouse: Warehouse,
    variant: Variant,
    reason: str,
    source: str,
    delta: int | None = None,
    set_on_hand: int | None = None,
    actor=None,
    reference: str = "",
    note: str = "",
) -> StockMovement | None:
    """Change a level by ``delta``, or set it to a counted ``set_on_hand``; None when nothing changed."""
    change = StockChange(
        warehouse, variant, reason, delta=delta, set_on_hand=set_on_hand, reference=reference, note=note
    )
    movements = apply_stock_changes([change], source=source, actor=actor)
    return movements[0] if movements else None


@stock_transaction
def transfer_stock(
    *,
    from_warehouse: Warehouse,
    to_warehouse: Warehouse,
    variant: Variant,
    quantity: int,
    source: str,
    actor=None,
    reference: str = "",
    note: str = "",
) -> tuple[StockMovement, StockMovement]:
    """Move units between warehouses: two transfer movements sharing one operation id, or none."""
    _check_quantity(quantity, name="quantity")
    if from_warehouse.pk == to_warehouse.pk:
        raise InvalidQuantity("A transfer needs two different warehouses.")
    changes = [
        StockChange(from_warehouse, variant, Reason.TRANSFER, delta=-quantity, reference=reference, note=note),
        StockChange(to_warehouse, variant, Reason.TRANSFER, delta=quantity, reference=reference, note=note),
    ]
    out_leg, in_leg = apply_stock_changes(changes, source=source, actor=actor)
    return out_leg, in_leg


@stock_transaction
def hold_stock(channel: Channel, demand: dict[Variant, int]) -> list[Hold]:
    """Hold units for ``channel``: all or nothing, within what its exposure rules let it sell.

    Each variant's demand is split over the channel's active warehouses in priority order.
    Decided from the levels as read under their locks; raises InsufficientStock naming every
    short SKU with what the channel may sell, having written nothing. Untracked variants
    are sold without a hold.
    """
    demand = {variant: _check_quantity(qty, name=f"quantity of {variant.sku}") for variant, qty in demand.items()}
    warehouse_ids, levels = _lock_channel_levels(channel, demand)
    rules = {
        r.variant_id: r
        for r in selectors.listing_rules(ChannelListing.objects.filter(channel=channel, variant__in=list(demand)))
    }
    shortages, holds = [], []
    for variant, requested in demand.items():
        drawn_from = [levels[(w, variant.pk)] for w in warehouse_ids if (w, variant.pk) in levels]
        available = (
            selectors.channel_available(rules[variant.pk], sum(level.available for level in drawn_from))
            if variant.pk in rules
            else 0
        )
        if available is not None and requested > available:
            shortages.append({"sku": variant.sku, "requested": requested, "available": available})
            continue
        if available is None:
            continue  # untracked: sold without a hold
        holds.extend(_take(drawn_from, variant, requested))
    if shortages:
        raise InsufficientStock(shortages)
    _save_levels({(h.warehouse_id, h.variant_id): levels[(h.warehouse_id, h.variant_id)] for h in holds}.values())
    return holds


@stock_transaction
def hold_sold_stock(channel: Channel, demand: dict[Variant, int]) -> tuple[list[Hold], dict[Variant, int]]:
    """Hold units a channel has already sold on its own side (a marketplace's order): the buyer has them,
    so they come out of everything its warehouses hold, whatever its exposure rules say, and what is not
    there is returned as the shortfall rather than refused (the oversell the caller must report).

    Returns the holds and, per variant, the units that could not be held. Untracked variants hold nothing.
    """
    demand = {variant: _check_quantity(qty, name=f"quantity of {variant.sku}") for variant, qty in demand.items()}
    warehouse_ids, levels = _lock_channel_levels(channel, demand)
    holds, shortfalls = [], {}
    for variant, requested in demand.items():
        if not variant.track_inventory:
            continue
        drawn_from = [levels[(w, variant.pk)] for w in warehouse_ids if (w, variant.pk) in levels]
        taken = _take(drawn_from, variant, requested)
        holds.extend(taken)
        short = requested - sum(hold.quantity for hold in taken)
        if short:
            shortfalls[variant] = short
    _save_levels({(h.warehouse_id, h.variant_id): levels[(h.warehouse_id, h.variant_id)] for h in holds}.values())
    return holds, shortfalls


def _lock_channel_levels(channel: Channel, demand: dict[Variant, int]) -> tuple[list[int], dict]:
    """The channel's active warehouses in priority order, and their levels of ``demand`` locked."""
    warehouse_ids = list(
        channel.warehouse_links.filter(warehouse__active=True)
        .order_by("priority", "id")
        .values_list("warehouse_id", flat=True)
    )
    return warehouse_ids, lock_stock_levels((w, variant.pk) for w in warehouse_ids for variant in demand)


def _take(levels: list[StockLevel], variant: Variant, quantity: int) -> list[Hold]:
    """Hold up to ``quantity`` of what ``levels`` have available, in their order."""
    holds, remaining = [], quantity
    for level in levels:
        take = min(remaining, level.available)
        if take > 0:
            holds.append(Hold(level.warehouse_id, variant.pk, take))
            level.reserved += take
            remaining -= take
    return holds


@stock_transaction
def release_holds(holds: Iterable[Hold]) -> None:
    """Give held units back to the pool (a reservation released or expired). No ledger row."""
    holds = [hold for hold in holds if hold.quantity]
    levels = lock_stock_levels((h.warehouse_id, h.variant_id) for h in holds)
    for hold in holds:
        level = levels[(hold.warehouse_id, hold.variant_id)]
        if level.reserved < hold.quantity:
            raise StockRuleViolation(
                f"Cannot release {hold.quantity} units of level {level.pk}: only {level.reserved} are reserved.",
                details=[{"warehouse_id": hold.warehouse_id, "variant_id": hold.variant_id}],
            )
        level.reserved -= hold.quantity
    _save_levels({(h.warehouse_id, h.variant_id): levels[(h.warehouse_id, h.variant_id)] for h in holds}.values())


@stock_transaction
def add_listing(listing: ChannelListing, *, rules_given: bool) -> ChannelListing:
    """Save a new listing and work out whether it is sellable.

    Unless its adder may set its exposure rules (``rules_given``), a listing of a SKU that another
    organization's warehouse feeding the channel holds starts disabled: that organization (the supplier)
    decides when its stock goes on sale there, and a reseller removing a listing and adding it again
    does not shed the supplier's rules.
    """
    if not rules_given and selectors.sells_other_organizations_stock(listing.channel, listing.variant):
        listing.enabled = False
    listing.full_clean()
    listing.save()
    refresh_listings(listing_ids=[listing.pk], cause=ListingStateChange.Cause.RULES)
    return listing


@stock_transaction
def update_listing_rules(listing: ChannelListing, **rules) -> ChannelListing:
    """Change a listing's exposure rules (buffer, allocation_percent, max_quantity, enabled, price)."""
    unknown = set(rules) - set(EXPOSURE_RULES)
    if unknown:
        raise ValueError(f"Not exposure rules: {sorted(unknown)}")
    for name, value in rules.items():
        setattr(listing, name, value)
    listing.full_clean(exclude=["channel", "variant"])
    listing.save(update_fields=[*rules, "updated_at"])
    refresh_listings(listing_ids=[listing.pk], cause=ListingStateChange.Cause.RULES)
    listing.refresh_from_db()
    return listing


@dataclass
class RulesChanged:
    changed: list = field(default_factory=list)  # (listing, names of the rules changed)
    unchanged: int = 0
    became_sellable: int = 0
    became_unsellable: int = 0


@stock_transaction
def update_rules_of_listings(listing_ids, rules: dict) -> RulesChanged:
    """Give every listing of ``listing_ids`` the ``rules``, all in one transaction or none.

    Each listing goes through ``update_listing_rules`` (validation, the sellable state
    recomputed and recorded, publication to the channel). Listings that already have the rules
    are left alone. Read inside the transaction, so a retry after a lock conflict starts afresh.
    """
    result = RulesChanged()
    for listing in ChannelListing.objects.filter(pk__in=list(listing_ids)).select_related("channel", "variant"):
        changes = {name: value for name, value in rules.items() if getattr(listing, name) != value}
        if not changes:
            result.unchanged += 1
            continue
        was_sellable = listing.is_sellable
        listing = update_listing_rules(listing, **changes)
        result.changed.append((listing, list(changes)))
        if listing.is_sellable != was_sellable:
            if listing.is_sellable:
                result.became_sellable += 1
            else:
                result.became_unsellable += 1
    return result


@stock_transaction
def refresh_listings(
    *, variant_ids: Iterable[int] | None = None, listing_ids: Iterable[int] | None = None, cause: str
) -> list[ListingTransition]:
    """Recompute the sellable state of listings, record each transition and announce it after commit."""
    listings = ChannelListing.objects.all()
    if variant_ids is not None:
        listings = listings.filter(variant_id__in=list(variant_ids))
    if listing_ids is not None:
        listings = listings.filter(pk__in=list(listing_ids))
    # Lock the listings (after the stock rows, in pk order) so that two writers touching the
    # same variant through different warehouses record each transition exactly once.
    rules = selectors.listing_rules(listings.select_for_update(of=("self",)))
    pools = selectors.channel_pools((r.channel_id, r.variant_id) for r in rules)
    transitions, recomputed = [], []
    for rule in rules:
        available = selectors.channel_available(rule, pools.get((rule.channel_id, rule.variant_id), 0))
        recomputed.append(
            ListingAvailabilityChange(
                rule.listing_id, rule.channel_id, rule.variant_id, rule.sku, available, rule.is_sellable
            )
        )
        if selectors.is_sellable(available) != rule.is_sellable:
            transitions.append(
                ListingTransition(
                    rule.listing_id, rule.channel_id, rule.variant_id, selectors.is_sellable(available), available
                )
            )
    if recomputed:
        events.listings_recomputed.send(sender=ChannelListing, listings=tuple(recomputed))
    if not transitions:
        return []
    now = timezone.now()
    for sellable in (True, False):
        ids = [t.listing_id for t in transitions if t.sellable is sellable]
        if ids:
            ChannelListing.objects.filter(pk__in=ids).update(is_sellable=sellable, sellable_changed_at=now)
    ListingStateChange.objects.bulk_create(
        ListingStateChange(listing_id=t.listing_id, sellable=t.sellable, available=t.available, cause=cause)
        for t in transitions
    )
    events.send_after_commit(events.listing_sellability_changed, changes=tuple(transitions))
    return transitions


@transaction.atomic
def set_membership(user, organization: Organization, role: str) -> Membership:
    """Give ``user`` ``role`` in ``organization`` (creating or changing the membership), and its group."""
    membership, _ = Membership.objects.update_or_create(user=user, organization=organization, defaults={"role": role})
    sync_role_groups(user)
    return membership


@transaction.atomic
def remove_membership(user, organization: Organization) -> None:
    Membership.objects.filter(user=user, organization=organization).delete()
    sync_role_groups(user)


def sync_role_groups(user) -> None:
    """Keep ``user.groups`` in step with memberships: exactly the group of the highest role held.

    Groups carry permissions, memberships carry data: a user who is a manager in one organization and
    a clerk in another holds the manager's permissions, on the data of both (see inventory/scoping.py).
    """
    scoping.forget(user)  # what the user sees is read again
    ranks = list(Membership.GROUPS)
    roles = set(Membership.objects.filter(user=user).values_list("role", flat=True))
    role_groups = Group.objects.filter(name__in=Membership.GROUPS.values())
    user.groups.remove(*role_groups)
    if roles:
        highest = max(roles, key=ranks.index)
        group = role_groups.filter(name=Membership.GROUPS[highest]).first()
        if group is not None:
            user.groups.add(group)
