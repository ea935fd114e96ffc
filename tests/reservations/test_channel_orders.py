"""A channel's own orders (a marketplace's), as it reports them: any number of times, in any order, the pool
moves once; units it sold that we no longer have are booked anyway and reported."""

import pytest
from django.urls import reverse

from alerts import services as alerts
from alerts.models import Alert, Kind
from inventory.models import StockLevel, StockMovement
from inventory.selectors import ledger_mismatches
from reservations import services
from reservations.exceptions import OrderRefConflict
from reservations.models import OversellIncident, Reservation
from tests.reservations.conftest import assert_stock_invariants
from tests.threads import run_concurrently

pytestmark = pytest.mark.django_db

Line = services.LineRequest
PENDING, SOLD, CANCELLED = services.PENDING, services.SOLD, services.CANCELLED


@pytest.fixture
def marketplace(warehouse, variant, receive, channel_with, listing_for):
    """A marketplace channel with 10 units in its warehouse, exposed with a buffer of 2."""
    channel = channel_with(warehouse, code="amazon", kind="marketplace")
    listing_for(channel, variant, buffer=2)
    receive(warehouse, variant, 10)
    return channel


def report(channel, variant, state, quantity=3, order_ref="111-0000001-0000001"):
    return services.record_channel_order(
        channel=channel, order_ref=order_ref, lines=[Line(variant, quantity)], state=state
    )


def level(warehouse, variant) -> tuple[int, int]:
    found = StockLevel.objects.get(warehouse=warehouse, variant=variant)
    return found.on_hand, found.reserved


def test_pending_holds_sold_sells_and_repeats_change_nothing(marketplace, warehouse, variant):
    order = report(marketplace, variant, PENDING)
    assert (order.kind, order.status, level(warehouse, variant)) == ("channel_order", "active", (10, 3))

    for state in (PENDING, SOLD, SOLD, PENDING):
        order = report(marketplace, variant, state)

    assert (order.status, level(warehouse, variant)) == ("consumed", (7, 0))
    assert StockMovement.objects.filter(reason="sale").count() == 1
    assert_stock_invariants()


def test_sold_first_is_a_sale_and_a_late_pending_does_not_hold_again(marketplace, warehouse, variant):
    report(marketplace, variant, SOLD)
    order = report(marketplace, variant, PENDING)

    assert (order.status, level(warehouse, variant)) == ("consumed", (7, 0))


def test_a_pending_order_cancelled_gives_its_hold_back_and_stays_cancelled(marketplace, warehouse, variant):
    report(marketplace, variant, PENDING)

    order = report(marketplace, variant, CANCELLED)
    for state in (PENDING, SOLD):
        report(marketplace, variant, state)

    order.refresh_from_db()
    assert (order.status, order.release_reason) == ("released", services.CANCELLED_BY_CHANNEL)
    assert level(warehouse, variant) == (10, 0)
    assert not StockMovement.objects.filter(reason="sale").exists()


def test_a_cancellation_heard_first_leaves_nothing_for_later_reports_to_hold(marketplace, warehouse, variant):
    report(marketplace, variant, CANCELLED)
    report(marketplace, variant, PENDING)
    report(marketplace, variant, SOLD)

    assert level(warehouse, variant) == (10, 0)
    assert Reservation.objects.get().status == "released"


def test_a_sold_order_cancelled_puts_its_units_back_once(marketplace, warehouse, variant):
    report(marketplace, variant, SOLD)

    report(marketplace, variant, CANCELLED)
    report(marketplace, variant, CANCELLED)

    assert level(warehouse, variant) == (10, 0)
    (returned,) = StockMovement.objects.filter(reason="return")
    assert returned.quantity == 3
    assert not ledger_mismatches().exists()


def test_units_sold_beyond_our_stock_are_booked_anyway_and_reported(marketplace, warehouse, variant):
    order = report(marketplace, variant, SOLD, quantity=12)

    assert (order.status, level(warehouse, variant)) == ("consumed", (0, 0))
    (incident,) = OversellIncident.objects.all()
    assert (incident.reservation_id, incident.variant_id, incident.quantity) == (order.pk, variant.pk, 2)
    assert sorted(line.warehouse_id is None for line in order.lines.all()) == [False, True]

    report(marketplace, variant, CANCELLED)

    assert level(warehouse, variant) == (10, 0)
    incident.refresh_from_db()
    assert incident.resolved_at is not None
    assert_stock_invariants()


def test_an_oversold_order_raises_one_critical_alert_naming_it_until_it_is_cancelled(marketplace, variant):
    order = report(marketplace, variant, SOLD, quantity=12)

    alerts.evaluate([Kind.OVERSELL_INCIDENT])

    (alert,) = Alert.objects.filter(kind=Kind.OVERSELL_INCIDENT)
    assert (alert.subject, alert.severity, alert.status) == (f"order:{order.pk}", "critical", "open")
    assert order.order_ref in alert.message
    assert f"2 x {variant.sku}" in alert.message
    assert (alert.channel_id, alert.organization_id) == (marketplace.pk, marketplace.organization_id)

    report(marketplace, variant, CANCELLED)
    alerts.evaluate([Kind.OVERSELL_INCIDENT])

    alert.refresh_from_db()
    assert alert.status == "resolved"


def test_a_manager_resolves_an_incident_in_the_admin_and_its_alert_clears(marketplace, variant, admin_client):
    report(marketplace, variant, SOLD, quantity=12)
    alerts.evaluate([Kind.OVERSELL_INCIDENT])
    incident = OversellIncident.objects.get()

    page = admin_client.get(reverse("admin:reservations_oversellincident_changelist"))
    admin_client.post(
        reverse("admin:reservations_oversellincident_changelist"),
        {"action": "resolve_selected", "_selected_action": [incident.pk]},
    )
    alerts.evaluate([Kind.OVERSELL_INCIDENT])

    assert variant.sku in page.content.decode()
    incident.refresh_from_db()
    assert incident.resolved_at is not None
    assert Alert.objects.get(kind=Kind.OVERSELL_INCIDENT).status == "resolved"


def test_exposure_rules_do_not_refuse_units_the_channel_has_already_sold(marketplace, warehouse, variant):
    """The buffer keeps 2 units back from the channel's offer, but a sale made is made: it takes them."""
    report(marketplace, variant, SOLD, quantity=10)

    assert level(warehouse, variant) == (0, 0)
    assert not OversellIncident.objects.exists()


def test_an_order_ref_held_by_a_checkout_is_a_conflict(marketplace, variant):
    services.reserve(channel=marketplace, order_ref="A-1", lines=[Line(variant, 1)])

    with pytest.raises(OrderRefConflict):
        report(marketplace, variant, PENDING, order_ref="A-1")


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_reports_of_one_order_racing_each_other_move_the_pool_once(marketplace, warehouse, variant):
    states = [PENDING, PENDING, SOLD, PENDING, SOLD, SOLD]

    outcomes = run_concurrently(lambda state: report(marketplace, variant, state), states, workers=len(states))

    assert all(isinstance(outcome, Reservation) for outcome in outcomes), outcomes
    assert level(warehouse, variant) == (7, 0)
    assert StockMovement.objects.filter(reason="sale").count() == 1
    assert Reservation.objects.count() == 1
    assert not ledger_mismatches().exists()
    assert_stock_invariants()
