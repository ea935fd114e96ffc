"""Applying a partner's stock snapshot to a mirrored warehouse: the double-count rule.

Between our sale and the partner applying it, a snapshot still shows the old number. So a
level's target is the snapshot plus the stock effects of our messages the partner had not
acknowledged when the snapshot was read (a sale's effect is negative):

    target on_hand = snapshot + sum(effects of unacknowledged messages)

and only a difference between that and our on_hand is booked, as one ``sync_correction``
movement. A message counts as acknowledged when it was delivered before the snapshot was
requested; one whose delivery overlapped the read is ambiguous, and its levels wait for the
next snapshot rather than guess. So is one not delivered yet whose first attempt began before the
read ended: that attempt may have reached the partner although we saw a timeout or died waiting
(the next attempt finds the document rather than make another). A dead-lettered message counts as
not applied. Effects are read *after* the levels are locked: a sale commits its outbox row with its
level change, so none can slip between the two reads.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q

from connectors.models import ConnectorAccount, OutboundMessage, SnapshotMark, SyncConflict
from inventory import services as stock
from inventory.locking import lock_stock_levels, stock_transaction
from inventory.models import StockMovement, Variant, Warehouse

#: A message in these states, once an attempt began, may be applied at the partner (a dead one counts as not).
MAY_HAVE_ARRIVED = (OutboundMessage.Status.PENDING, OutboundMessage.Status.SENDING, OutboundMessage.Status.DELIVERED)


@dataclass(frozen=True)
class Snapshot:
    variant: Variant
    quantity: int
    #: When the figure was true, if the partner says (a notification's event time); else when it was read.
    as_of: datetime | None = None


@dataclass(frozen=True)
class ReadWindow:
    """When the partner was asked (``started_at``) and answered (``finished_at``)."""

    started_at: datetime
    finished_at: datetime


@dataclass
class SnapshotOutcome:
    corrected: int = 0
    unchanged: int = 0
    deferred: int = 0
    stale: int = 0


@stock_transaction
def apply_snapshots(
    account: ConnectorAccount,
    snapshots: list[Snapshot],
    window: ReadWindow,
    *,
    source: str = StockMovement.Source.SYNC,
    reference: str = "",
) -> SnapshotOutcome:
    warehouse: Warehouse = account.warehouse
    outcome = SnapshotOutcome()
    if not snapshots:
        return outcome
    levels = lock_stock_levels(((warehouse.pk, s.variant.pk) for s in snapshots), create_missing=True)
    snapshots, outcome.stale = _drop_stale(account, snapshots, window)
    pending, ambiguous = unacknowledged_effects(account, window, [s.variant.pk for s in snapshots])
    changes = []
    for snapshot in snapshots:
        variant = snapshot.variant
        if variant.pk in ambiguous:
            outcome.deferred += 1
            continue
        level = levels[(warehouse.pk, variant.pk)]
        target = snapshot.quantity + pending.get(variant.pk, 0)
        if target < level.reserved:
            _record_shortfall(account, variant, level.reserved, snapshot.quantity)
            target = level.reserved
        if target == level.on_hand:
            outcome.unchanged += 1
            continue
        outcome.corrected += 1
        changes.append(
            stock.StockChange(
                warehouse,
                variant,
                StockMovement.Reason.SYNC_CORRECTION,
                set_on_hand=target,
                reference=reference,
                note=f"{account.get_kind_display()} reports {snapshot.quantity}"
                + (f"; {-pending[variant.pk]} of ours not yet applied there" if pending.get(variant.pk) else ""),
            )
        )
    stock.apply_stock_changes(changes, source=source)
    Warehouse.objects.filter(pk=warehouse.pk).update(last_snapshot_at=window.finished_at)
    return outcome


def _drop_stale(account, snapshots: list[Snapshot], window: ReadWindow) -> tuple[list[Snapshot], int]:
    """Ignore figures older than the last one applied to the same level (late, out-of-order delivery),
    and remember when each applied one was true. Runs under the levels' locks."""
    as_of = {s.variant.pk: s.as_of or window.started_at for s in snapshots}
    marks = dict(
        SnapshotMark.objects.filter(account=account, variant_id__in=list(as_of)).values_list("variant_id", "as_of")
    )
    fresh = [s for s in snapshots if s.variant.pk not in marks or as_of[s.variant.pk] >= marks[s.variant.pk]]
    SnapshotMark.objects.bulk_create(
        [SnapshotMark(account=account, variant=s.variant, as_of=as_of[s.variant.pk]) for s in fresh],
        update_conflicts=True,
        unique_fields=["account", "variant"],
        update_fields=["as_of"],
    )
    return fresh, len(snapshots) - len(fresh)


def unacknowledged_effects(
    account: ConnectorAccount, window: ReadWindow, variant_ids: list[int]
) -> tuple[dict[int, int], set[int]]:
    """Per variant, the summed stock effects of our messages a snapshot read in ``window`` cannot show yet,
    and the variants whose messages may or may not show (delivered while it was read)."""
    candidates = OutboundMessage.objects.filter(account=account).exclude(stock_effects=[])
    candidates = candidates.filter(~Q(status=OutboundMessage.Status.DELIVERED) | Q(delivered_at__gte=window.started_at))
    wanted, warehouse_id = set(variant_ids), account.warehouse_id
    pending: dict[int, int] = defaultdict(int)
    ambiguous: set[int] = set()
    for message in candidates.only("status", "first_sent_at", "delivered_at", "stock_effects"):
        effects = [e for e in message.stock_effects if e["variant_id"] in wanted and e["warehouse_id"] == warehouse_id]
        if not effects:
            continue
        overlapped = message.first_sent_at is not None and message.first_sent_at < window.finished_at
        if overlapped and message.status in MAY_HAVE_ARRIVED:
            ambiguous.update(e["variant_id"] for e in effects)
            continue
        for effect in effects:
            pending[effect["variant_id"]] += effect["quantity"]
    return dict(pending), ambiguous


def _record_shortfall(account: ConnectorAccount, variant: Variant, reserved: int, reported: int) -> None:
    """The partner shows fewer units than we hold for buyers: book down to the holds and tell a manager."""
    SyncConflict.objects.get_or_create(
        account=account,
        variant=variant,
        warehouse=account.warehouse,
        field=SyncConflict.Field.QUANTITY,
        status=SyncConflict.Status.OPEN,
        defaults={
            "local_value": str(reserved),
            "remote_value": str(reported),
            "strategy": ConnectorAccount.ConflictStrategy.MANUAL,
            "resolution": "",
        },
    )
