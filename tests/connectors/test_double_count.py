"""The double-count rule: a partner snapshot never subtracts our sale twice nor resurrects it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from connectors.models import OutboundMessage, SyncConflict
from connectors.snapshots import ReadWindow, Snapshot, apply_snapshots
from inventory import services as stock
from inventory.models import StockLevel, StockMovement
from inventory.selectors import ledger_mismatches
from reservations import services as reservations
from reservations.models import Reservation
from tests.factories import ConnectorAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def account():
    return ConnectorAccountFactory()


@pytest.fixture
def pos(account, variant, receive, channel_with, listing_for):
    """A POS channel selling from the mirrored warehouse, which holds 10 units."""
    channel = channel_with(account.warehouse, code="pos", kind="pos")
    listing_for(channel, variant)
    receive(account.warehouse, variant, 10)
    return channel


def on_hand(account, variant) -> int:
    return StockLevel.objects.get(warehouse=account.warehouse, variant=variant).on_hand


def read_now() -> ReadWindow:
    now = timezone.now()
    return ReadWindow(now, now + timedelta(milliseconds=50))


def sell(pos, variant, units, sale_id="S-1"):
    reservations.record_pos_sale(channel=pos, sale_id=sale_id, lines=[reservations.LineRequest(variant, units)])


def corrections():
    return StockMovement.objects.filter(reason=StockMovement.Reason.SYNC_CORRECTION)


def test_a_snapshot_taken_before_the_partner_applied_our_sale_changes_nothing(account, pos, variant):
    sell(pos, variant, 2)

    outcome = apply_snapshots(account, [Snapshot(variant, 10)], read_now())

    assert on_hand(account, variant) == 8
    assert (outcome.corrected, outcome.unchanged) == (0, 1)
    assert not corrections().exists()


def test_once_the_partner_applied_our_sale_its_snapshot_agrees_without_a_correction(account, pos, variant):
    sell(pos, variant, 2)
    OutboundMessage.objects.update(
        status=OutboundMessage.Status.DELIVERED,
        first_sent_at=timezone.now() - timedelta(seconds=2),
        delivered_at=timezone.now() - timedelta(seconds=1),
    )

    apply_snapshots(account, [Snapshot(variant, 8)], read_now())

    assert on_hand(account, variant) == 8
    assert not corrections().exists()


def test_a_stale_snapshot_after_delivery_neither_resurrects_nor_subtracts_twice(account, pos, variant):
    sell(pos, variant, 2)
    stale = read_now()  # read before we sent the sale...
    OutboundMessage.objects.update(
        status=OutboundMessage.Status.DELIVERED,
        first_sent_at=stale.finished_at + timedelta(seconds=1),  # ...which went out after the read finished
        delivered_at=stale.finished_at + timedelta(seconds=2),
    )

    apply_snapshots(account, [Snapshot(variant, 10)], stale)

    assert on_hand(account, variant) == 8
    assert not corrections().exists()


def test_a_sale_in_the_partners_own_ui_is_booked_as_one_correction(account, pos, variant):
    sell(pos, variant, 2)  # ours, not yet applied there

    apply_snapshots(account, [Snapshot(variant, 9)], read_now())  # they sold 1 of their 10

    assert on_hand(account, variant) == 7
    (correction,) = corrections()
    assert (correction.quantity, correction.source) == (-1, StockMovement.Source.SYNC)
    assert not ledger_mismatches().exists()


def test_a_delivery_overlapping_the_read_defers_the_level(account, pos, variant):
    sell(pos, variant, 2)
    window = read_now()
    OutboundMessage.objects.update(
        status=OutboundMessage.Status.DELIVERED,
        first_sent_at=window.started_at - timedelta(milliseconds=10),
        delivered_at=window.started_at + timedelta(milliseconds=10),
    )

    outcome = apply_snapshots(account, [Snapshot(variant, 3)], window)

    assert outcome.deferred == 1
    assert on_hand(account, variant) == 8


def test_the_same_snapshot_applied_twice_books_once(account, pos, variant):
    apply_snapshots(account, [Snapshot(variant, 6)], read_now())
    apply_snapshots(account, [Snapshot(variant, 6)], read_now())

    assert corrections().count() == 1
    assert on_hand(account, variant) == 6


def test_a_partner_figure_below_our_holds_books_down_to_them_and_opens_a_conflict(account, pos, variant):
    reservations.reserve(channel=pos, order_ref="A-1", lines=[reservations.LineRequest(variant, 5)])

    apply_snapshots(account, [Snapshot(variant, 3)], read_now())

    level = StockLevel.objects.get(warehouse=account.warehouse, variant=variant)
    assert (level.on_hand, level.reserved) == (5, 5)
    conflict = SyncConflict.objects.get()
    assert (conflict.field, conflict.remote_value, conflict.status) == ("quantity", "3", "open")


def test_local_adjustments_waiting_to_be_pushed_count_too(account, variant, receive, superuser):
    receive(account.warehouse, variant, 10)
    stock.adjust_stock(
        warehouse=account.warehouse, variant=variant, delta=5, reason="receipt", source="admin", actor=superuser
    )

    apply_snapshots(account, [Snapshot(variant, 10)], read_now())  # Zoho has not got our +5 yet

    assert on_hand(account, variant) == 15
    assert not corrections().exists()


def test_a_message_whose_first_attempt_may_have_arrived_defers_its_levels(account, pos, variant):
    sell(pos, variant, 2)
    window = read_now()
    # the attempt timed out (the partner may have applied it) and waits to be tried again
    OutboundMessage.objects.update(
        status=OutboundMessage.Status.PENDING, first_sent_at=window.started_at - timedelta(seconds=1)
    )

    outcome = apply_snapshots(account, [Snapshot(variant, 8)], window)  # it had arrived

    assert outcome.deferred == 1
    assert on_hand(account, variant) == 8
    assert not corrections().exists()


def test_a_dead_lettered_message_counts_as_not_applied(account, pos, variant):
    sell(pos, variant, 2)
    OutboundMessage.objects.update(
        status=OutboundMessage.Status.DEAD, first_sent_at=timezone.now() - timedelta(minutes=5)
    )

    apply_snapshots(account, [Snapshot(variant, 10)], read_now())

    assert on_hand(account, variant) == 8
    assert not corrections().exists()


def test_a_return_waiting_to_be_pushed_counts_as_units_back(account, pos, variant):
    sell(pos, variant, 3)
    OutboundMessage.objects.update(
        status=OutboundMessage.Status.DELIVERED,
        first_sent_at=timezone.now() - timedelta(seconds=2),
        delivered_at=timezone.now() - timedelta(seconds=1),
    )
    sale = Reservation.objects.get()
    reservations.record_return(
        channel=pos,
        reservation_id=sale.pk,
        return_ref="R-1",
        lines=[reservations.ReturnRequest(variant, 1)],
        restock=True,
    )

    apply_snapshots(account, [Snapshot(variant, 7)], read_now())  # the sale applied there, the return not yet

    assert on_hand(account, variant) == 8
    assert not corrections().exists()
