"""No oversell under real concurrency: threads with their own PostgreSQL connections.

The pool sizes stay under PostgreSQL's default 100 connections: 200 buyers are served by
40 threads at a time, every one of them racing for the same rows.
"""

import threading

import pytest
import requests
from django.db import OperationalError, connection

from inventory.exceptions import InsufficientStock, LockContention
from inventory.locking import LOCK_CONFLICT_ATTEMPTS, stock_transaction
from inventory.models import StockLevel, StockMovement
from inventory.selectors import ledger_mismatches
from reservations import services
from reservations.models import Reservation
from tests.factories import ChannelApiKeyFactory, VariantFactory
from tests.reservations.conftest import assert_stock_invariants
from tests.threads import run_concurrently

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

Line = services.LineRequest


def http_session(key):
    """A requests session per thread: keep-alive, so the test server is not flooded with new sockets."""
    local = threading.local()

    def session():
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.headers["Authorization"] = f"Api-Key {key}"
        return local.session

    return session


@pytest.fixture
def hot_sku(warehouse, variant, receive, channel_with, listing_for):
    """Fifty units of one SKU on a storefront."""
    channel = channel_with(warehouse, code="hot")
    listing_for(channel, variant)
    receive(warehouse, variant, 50)
    return channel, variant


def kinds(outcomes):
    return sorted({type(o).__name__ for o in outcomes})


def test_200_buyers_for_50_units_through_the_services(hot_sku, warehouse):
    channel, variant = hot_sku

    def buy(n):
        reservation, _ = services.reserve(channel=channel, order_ref=f"buyer-{n}", lines=[Line(variant, 1)])
        return reservation

    outcomes = run_concurrently(buy, range(200))

    won = [o for o in outcomes if isinstance(o, Reservation)]
    refused = [o for o in outcomes if isinstance(o, InsufficientStock)]
    assert (len(won), len(refused)) == (50, 150), kinds(outcomes)
    level = StockLevel.objects.get(warehouse=warehouse, variant=variant)
    assert (level.on_hand, level.reserved) == (50, 50)
    assert_stock_invariants()


def test_two_sku_carts_in_opposite_orders_never_fail_but_for_stock(warehouse, receive, channel_with, listing_for):
    channel = channel_with(warehouse)
    first, second = VariantFactory.create_batch(2)
    for v in (first, second):
        listing_for(channel, v)
        receive(warehouse, v, 30)

    def buy(n):
        cart = [Line(first, 1), Line(second, 1)] if n % 2 else [Line(second, 1), Line(first, 1)]
        reservation, _ = services.reserve(channel=channel, order_ref=f"cart-{n}", lines=cart)
        return services.confirm(channel=channel, reservation_id=reservation.pk) if n % 3 == 0 else reservation

    outcomes = run_concurrently(buy, range(80))

    assert kinds(outcomes) == ["InsufficientStock", "Reservation"]
    assert sum(isinstance(o, Reservation) for o in outcomes) == 30
    assert_stock_invariants()
    assert not ledger_mismatches().exists()


def test_confirm_release_and_expiry_racing_on_the_same_holds_settle_each_once(hot_sku, warehouse):
    channel, variant = hot_sku
    reservations = [
        services.reserve(channel=channel, order_ref=f"r-{n}", lines=[Line(variant, 1)])[0] for n in range(20)
    ]
    Reservation.objects.filter(order_ref__in=[f"r-{n}" for n in range(0, 20, 4)]).update(
        expires_at="2000-01-01T00:00:00Z"
    )

    def act(n):
        reservation = reservations[n % 20]
        step = n // 20
        if step == 0:
            return services.confirm(channel=channel, reservation_id=reservation.pk)
        if step == 1:
            return services.release(channel=channel, reservation_id=reservation.pk)
        return services.expire_overdue(batch_size=3)

    run_concurrently(act, range(60), workers=30)

    statuses = dict(Reservation.objects.values_list("order_ref", "status"))
    assert "active" not in statuses.values()
    sold = StockMovement.objects.filter(reason="sale")
    assert sold.count() == list(statuses.values()).count("consumed")
    assert sold.values("reference").distinct().count() == sold.count()  # each sold at most once
    assert_stock_invariants()
    assert not ledger_mismatches().exists()


def test_a_pos_sale_retried_at_once_from_many_connections_sells_once(hot_sku, warehouse):
    channel, variant = hot_sku

    def ring_up(_):
        sale, _ = services.record_pos_sale(channel=channel, sale_id="S-1", lines=[Line(variant, 3)])
        return sale.pk

    outcomes = run_concurrently(ring_up, range(12))

    assert len(set(outcomes)) == 1, outcomes
    assert StockLevel.objects.get(warehouse=warehouse, variant=variant).on_hand == 47
    assert StockMovement.objects.filter(reason="sale").count() == 1


def test_200_http_buyers_for_50_units(live_server, hot_sku, warehouse):
    channel, variant = hot_sku
    session = http_session(ChannelApiKeyFactory(channel=channel).plain_key)

    def buy(n):
        response = session().post(
            f"{live_server.url}/api/v1/reservations/",
            json={"order_ref": f"web-{n}", "items": [{"sku": variant.sku, "quantity": 1}]},
            timeout=30,
        )
        return response.status_code, response.json()

    outcomes = run_concurrently(buy, range(200), workers=32)
    errors = [repr(o) for o in outcomes if isinstance(o, Exception)]
    assert not errors, errors[:3]

    statuses = sorted(status for status, _ in outcomes)
    assert statuses.count(201) == 50, outcomes[:5]
    assert statuses.count(409) == 150
    assert {body["error"]["code"] for status, body in outcomes if status == 409} == {"insufficient_stock"}
    assert StockLevel.objects.get(warehouse=warehouse, variant=variant).reserved == 50
    assert_stock_invariants()


def test_http_carts_in_opposite_orders_get_only_201_or_409(live_server, warehouse, receive, channel_with, listing_for):
    channel = channel_with(warehouse)
    first, second = VariantFactory.create_batch(2)
    for v in (first, second):
        listing_for(channel, v)
        receive(warehouse, v, 20)
    session = http_session(ChannelApiKeyFactory(channel=channel).plain_key)

    def buy(n):
        skus = [first.sku, second.sku] if n % 2 else [second.sku, first.sku]
        response = session().post(
            f"{live_server.url}/api/v1/reservations/",
            json={"order_ref": f"cart-{n}", "items": [{"sku": sku, "quantity": 1} for sku in skus]},
            timeout=30,
        )
        return response.status_code

    outcomes = run_concurrently(buy, range(60), workers=24)

    assert sorted(set(outcomes)) == [201, 409]
    assert outcomes.count(201) == 20
    assert_stock_invariants()


def test_a_real_deadlock_is_retried_and_both_transactions_complete(warehouse, receive):
    """Two transactions lock two levels in opposite orders (as nothing in the app does): PostgreSQL
    breaks the deadlock by failing one, which stock_transaction runs again."""
    first, second = VariantFactory.create_batch(2)
    for v in (first, second):
        receive(warehouse, v, 5)
    levels = list(StockLevel.objects.order_by("pk").values_list("pk", flat=True))
    both_hold_one = threading.Barrier(2)
    attempts = []

    @stock_transaction
    def bump(order):
        attempts.append(order)
        StockLevel.objects.select_for_update().get(pk=order[0])
        if len(attempts) <= 2:
            both_hold_one.wait(timeout=10)
        StockLevel.objects.select_for_update().get(pk=order[1])
        StockLevel.objects.filter(pk__in=order).update(on_hand=StockLevel.objects.get(pk=order[0]).on_hand)
        return "done"

    with connection.cursor() as cursor:
        cursor.execute("SHOW deadlock_timeout")
        assert cursor.fetchone()[0] in {"1s", "1000ms"}
    outcomes = run_concurrently(bump, [levels, levels[::-1]], workers=2)

    assert outcomes == ["done", "done"]
    assert len(attempts) == 3  # one of the two lost the deadlock once and ran again


def test_losing_every_attempt_is_a_503_error_not_a_crash():
    class Deadlock(Exception):
        sqlstate = "40P01"

    calls = []

    @stock_transaction
    def always_deadlocks():
        calls.append(1)
        raise OperationalError("deadlock detected") from Deadlock()

    with pytest.raises(LockContention) as failure:
        always_deadlocks()

    assert len(calls) == LOCK_CONFLICT_ATTEMPTS
    assert failure.value.http_status == 503
