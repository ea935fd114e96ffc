from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory.exceptions import InsufficientStock, InvalidQuantity
from inventory.models import StockLevel, StockMovement
from inventory.selectors import ledger_mismatches
from reservations import services
from reservations.exceptions import (
    OrderRefConflict,
    ReservationExpired,
    ReservationNotActive,
    ReservationNotFound,
    SaleIdConflict,
)
from reservations.models import IdempotencyKey, Reservation
from tests.factories import ChannelFactory, IdempotencyKeyFactory, VariantFactory, WarehouseFactory
from tests.reservations.conftest import assert_stock_invariants

pytestmark = pytest.mark.django_db

Line = services.LineRequest


def level(warehouse, variant) -> StockLevel:
    return StockLevel.objects.get(warehouse=warehouse, variant=variant)


def make_overdue(reservation):
    Reservation.objects.filter(pk=reservation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))


class TestReserve:
    def test_holds_stock_and_sets_expiry_from_the_channel_ttl(self, shop, warehouse, variant):
        before = timezone.now()

        reservation, created = services.reserve(channel=shop, order_ref="A-1", lines=[Line(variant, 3)])

        assert created
        assert reservation.status == Reservation.Status.ACTIVE
        assert before + timedelta(seconds=shop.reservation_ttl_seconds) <= reservation.expires_at
        assert [(line.warehouse_id, line.quantity) for line in reservation.lines.all()] == [(warehouse.pk, 3)]
        assert (level(warehouse, variant).on_hand, level(warehouse, variant).reserved) == (10, 3)
        assert StockMovement.objects.filter(reason="sale").count() == 0
        assert_stock_invariants()

    def test_demand_is_added_up_per_sku_before_checking(self, shop, variant):
        with pytest.raises(InsufficientStock) as refused:
            services.reserve(channel=shop, order_ref="A-1", lines=[Line(variant, 6), Line(variant, 6)])

        assert refused.value.details == [{"sku": variant.sku, "requested": 12, "available": 10}]
        assert not Reservation.objects.exists()

    def test_all_or_nothing_with_every_short_sku_listed(self, shop, warehouse, variant, receive, listing_for):
        plenty, scarce = VariantFactory.create_batch(2)
        for v, units in ((plenty, 50), (scarce, 1)):
            listing_for(shop, v)
            receive(warehouse, v, units)

        with pytest.raises(InsufficientStock) as refused:
            services.reserve(channel=shop, order_ref="A-1", lines=[Line(plenty, 5), Line(variant, 11), Line(scarce, 2)])

        assert {d["sku"]: (d["requested"], d["available"]) for d in refused.value.details} == {
            variant.sku: (11, 10),
            scarce.sku: (2, 1),
        }
        assert not Reservation.objects.exists()
        assert StockLevel.objects.filter(reserved__gt=0).count() == 0

    def test_respects_the_listing_exposure_rules(self, warehouse, variant, receive, channel_with, listing_for):
        channel = channel_with(warehouse)
        listing_for(channel, variant, buffer=2, allocation_percent=50)  # (10 - 2) * 50% = 4
        receive(warehouse, variant, 10)

        with pytest.raises(InsufficientStock) as refused:
            services.reserve(channel=channel, order_ref="A-1", lines=[Line(variant, 5)])
        services.reserve(channel=channel, order_ref="A-2", lines=[Line(variant, 4)])

        assert refused.value.details[0]["available"] == 4

    def test_unlisted_sku_cannot_be_reserved(self, warehouse, receive, channel_with):
        channel = channel_with(warehouse)
        unlisted = VariantFactory()
        receive(warehouse, unlisted, 5)

        with pytest.raises(InsufficientStock) as refused:
            services.reserve(channel=channel, order_ref="A-1", lines=[Line(unlisted, 1)])

        assert refused.value.details[0]["available"] == 0

    def test_demand_is_split_over_warehouses_in_priority_order(self, variant, receive, channel_with, listing_for):
        first, second, third = WarehouseFactory.create_batch(3)
        channel = channel_with(third, first, second)  # priority: third, first, second
        listing_for(channel, variant)
        for wh, units in ((first, 5), (second, 5), (third, 2)):
            receive(wh, variant, units)

        reservation, _ = services.reserve(channel=channel, order_ref="A-1", lines=[Line(variant, 8)])

        assert [(line.warehouse_id, line.quantity) for line in reservation.lines.order_by("id")] == [
            (third.pk, 2),
            (first.pk, 5),
            (second.pk, 1),
        ]
        assert_stock_invariants()

    def test_overdue_holds_of_the_short_sku_are_expired_before_refusing(self, shop, warehouse, variant):
        stale, _ = services.reserve(channel=shop, order_ref="stale", lines=[Line(variant, 8)])
        make_overdue(stale)

        _, created = services.reserve(channel=shop, order_ref="fresh", lines=[Line(variant, 5)])

        assert created
        stale.refresh_from_db()
        assert stale.status == Reservation.Status.EXPIRED
        assert level(warehouse, variant).reserved == 5
        assert_stock_invariants()

    def test_same_order_ref_and_items_returns_the_first_reservation(self, shop, variant):
        first, _ = services.reserve(channel=shop, order_ref="A-1", lines=[Line(variant, 2)])

        again, created = services.reserve(channel=shop, order_ref="A-1", lines=[Line(variant, 1), Line(variant, 1)])

        assert (again.pk, created) == (first.pk, False)
        assert Reservation.objects.count() == 1

    def test_same_order_ref_with_other_items_is_a_conflict(self, shop, variant):
        services.reserve(channel=shop, order_ref="A-1", lines=[Line(variant, 2)])

        with pytest.raises(OrderRefConflict):
            services.reserve(channel=shop, order_ref="A-1", lines=[Line(variant, 3)])

    def test_order_refs_are_per_channel(self, shop, warehouse, variant, channel_with, listing_for):
        other = channel_with(warehouse)
        listing_for(other, variant)

        services.reserve(channel=shop, order_ref="A-1", lines=[Line(variant, 1)])
        _, created = services.reserve(channel=other, order_ref="A-1", lines=[Line(variant, 1)])

        assert created

    @pytest.mark.parametrize("ttl", [0, 29, 24 * 3600 + 1])
    def test_ttl_out_of_bounds_is_refused(self, shop, variant, ttl):
        with pytest.raises(InvalidQuantity):
            services.reserve(channel=shop, order_ref="A-1", lines=[Line(variant, 1)], ttl_seconds=ttl)

    def test_untracked_variant_is_reserved_without_a_hold(self, shop, warehouse, listing_for):
        gift_card = VariantFactory(track_inventory=False)
        listing_for(shop, gift_card)

        reservation, _ = services.reserve(channel=shop, order_ref="A-1", lines=[Line(gift_card, 3)])
        services.confirm(channel=shop, reservation_id=reservation.pk)

        assert [(line.warehouse_id, line.quantity) for line in reservation.lines.all()] == [(None, 3)]
        assert not StockLevel.objects.filter(variant=gift_card).exists()

    def test_stock_rows_are_locked_in_primary_key_order_before_they_are_updated(
        self, shop, warehouse, variant, receive, listing_for
    ):
        others = VariantFactory.create_batch(2)
        for v in others:
            listing_for(shop, v)
            receive(warehouse, v, 5)

        with CaptureQueriesContext(connection) as ctx:
            services.reserve(
                channel=shop,
                order_ref="A-1",
                lines=[Line(others[1], 1), Line(variant, 1), Line(others[0], 1)],
            )

        sqls = [q["sql"] for q in ctx.captured_queries]
        lock = next(i for i, sql in enumerate(sqls) if "inventory_stocklevel" in sql and "FOR UPDATE" in sql)
        update = next(i for i, sql in enumerate(sqls) if 'UPDATE "inventory_stocklevel" SET' in sql)
        assert lock < update
        assert 'ORDER BY "inventory_stocklevel"."id" ASC' in sqls[lock]
        assert sqls[lock].rstrip().endswith("FOR UPDATE")
        insert = next(i for i, sql in enumerate(sqls) if sql.startswith('INSERT INTO "reservations_reservation"'))
        assert insert < lock  # the reservation row comes first in the lock order


class TestConfirm:
    def test_sells_the_held_units_with_one_sale_movement_per_line(self, variant, receive, channel_with, listing_for):
        first, second = WarehouseFactory.create_batch(2)
        channel = channel_with(first, second)
        listing_for(channel, variant)
        receive(first, variant, 2)
        receive(second, variant, 5)
        reservation, _ = services.reserve(channel=channel, order_ref="A-1", lines=[Line(variant, 4)])

        confirmed = services.confirm(channel=channel, reservation_id=reservation.pk)

        assert confirmed.status == Reservation.Status.CONSUMED
        sales = StockMovement.objects.filter(reason="sale").order_by("id")
        assert [(m.warehouse_id, m.quantity, m.reference) for m in sales] == [
            (first.pk, -2, f"{channel.code}:A-1"),
            (second.pk, -2, f"{channel.code}:A-1"),
        ]
        assert (level(first, variant).on_hand, level(first, variant).reserved) == (0, 0)
        assert (level(second, variant).on_hand, level(second, variant).reserved) == (3, 0)
        assert not ledger_mismatches().exists()
        assert_stock_invariants()

    def test_confirming_twice_sells_once(self, shop, variant):
        reservation, _ = services.reserve(channel=shop, order_ref="A-1", lines=[Line(variant, 2)])

        services.confirm(channel=shop, reservation_id=reservation.pk)
        services.confirm(channel=shop, reservation_id=reservation.pk)

        assert StockMovement.objects.filter(reason="sale").count() == 1

    def test_refused_after_expiry_and_the_hold_returns_to_the_pool(self, shop, warehouse, variant):
        reservation, _ = services.reserve(channel=shop, order_ref="A-1", lines=[Line(variant, 4)])
        make_overdue(reservation)

        with pytest.raises(ReservationExpired):
            services.confirm(channel=shop, reservation_id=reservation.pk)

        reservation.refresh_from_db()
        assert reservation.status == Reservation.Status.EXPIRED
        assert (level(warehouse, variant).on_hand, level(warehouse, variant).reserved) == (10, 0)
        with pytest.raises(ReservationExpired):
            services.confirm(channel=shop, reservation_id=reservation.pk)

    def test_refused_once_released(self, shop, variant):
        reservation, _ = services.reserve(channel=shop, order_ref="A-1", lines=[Line(variant, 1)])
        services.release(channel=shop, reservation_id=reservation.pk)

        with pytest.raises(ReservationNotActive):
            services.confirm(channel=shop, reservation_id=reservation.pk)

    def test_another_channels_reservation_is_not_found(self, shop, variant):
        reservation, _ = services.reserve(channel=shop, order_ref="A-1", lines=[Line(variant, 1)])

        with pytest.raises(ReservationNotFound):
            services.confirm(channel=ChannelFactory(), reservation_id=reservation.pk)


class TestRelease:
    def test_returns_the_units_and_is_idempotent(self, shop, warehouse, variant):
        reservation, _ = services.reserve(channel=shop, order_ref="A-1", lines=[Line(variant, 4)])

        services.release(channel=shop, reservation_id=reservation.pk, reason="payment failed")
        again = services.release(channel=shop, reservation_id=reservation.pk, reason="retry")

        assert (again.status, again.release_reason) == (Reservation.Status.RELEASED, "payment failed")
        assert level(warehouse, variant).reserved == 0
        assert_stock_invariants()

    def test_a_consumed_reservation_cannot_be_released(self, shop, warehouse, variant):
        reservation, _ = services.reserve(channel=shop, order_ref="A-1", lines=[Line(variant, 4)])
        services.confirm(channel=shop, reservation_id=reservation.pk)

        with pytest.raises(ReservationNotActive):
            services.release(channel=shop, reservation_id=reservation.pk)

        assert level(warehouse, variant).on_hand == 6


class TestExpiry:
    def test_expire_overdue_returns_stock_and_leaves_live_holds(self, shop, warehouse, variant):
        overdue = [services.reserve(channel=shop, order_ref=f"old-{i}", lines=[Line(variant, 2)])[0] for i in range(3)]
        live, _ = services.reserve(channel=shop, order_ref="live", lines=[Line(variant, 1)])
        for reservation in overdue:
            make_overdue(reservation)

        expired = services.expire_overdue(batch_size=2)

        assert expired == 3
        assert set(Reservation.objects.filter(status="expired").values_list("order_ref", flat=True)) == {
            "old-0",
            "old-1",
            "old-2",
        }
        live.refresh_from_db()
        assert live.status == Reservation.Status.ACTIVE
        assert level(warehouse, variant).reserved == 1
        assert StockMovement.objects.filter(reason="sale").count() == 0
        assert_stock_invariants()

    def test_nothing_to_expire(self, shop):
        assert services.expire_overdue() == 0


class TestPosSale:
    def test_reserves_and_confirms_at_once(self, shop, warehouse, variant):
        sale, created = services.record_pos_sale(
            channel=shop,
            sale_id="S-1",
            invoice_number="INV-1",
            customer_name="Walk-in",
            lines=[Line(variant, 2, unit_price=3, tax=0)],
        )

        assert created
        assert (sale.status, sale.kind, sale.invoice_number) == ("consumed", "pos_sale", "INV-1")
        assert (level(warehouse, variant).on_hand, level(warehouse, variant).reserved) == (8, 0)
        assert StockMovement.objects.filter(reason="sale", quantity=-2).count() == 1

    def test_repeating_a_sale_id_sells_once(self, shop, warehouse, variant):
        lines = [Line(variant, 1, unit_price=Decimal("3.00"), tax=Decimal("0.24"))] * 2
        first, _ = services.record_pos_sale(channel=shop, sale_id="S-1", lines=lines)

        again, created = services.record_pos_sale(channel=shop, sale_id="S-1", lines=lines)

        assert (again.pk, created) == (first.pk, False)
        assert level(warehouse, variant).on_hand == 8

    @pytest.mark.parametrize(
        ("quantity", "price", "tax"),
        [(3, "3.00", "0.48"), (2, "2.50", "0.48"), (2, "3.00", "0.50"), (2, "3.00", None)],
        ids=["other quantity", "other price", "other tax", "no tax"],
    )
    def test_a_sale_id_repeated_with_anything_else_is_a_conflict_that_changes_nothing(
        self, shop, warehouse, variant, quantity, price, tax
    ):
        services.record_pos_sale(
            channel=shop, sale_id="S-1", lines=[Line(variant, 2, unit_price=Decimal("3.00"), tax=Decimal("0.48"))]
        )
        other = Line(variant, quantity, unit_price=Decimal(price), tax=Decimal(tax) if tax else None)

        with pytest.raises(SaleIdConflict):
            services.record_pos_sale(channel=shop, sale_id="S-1", lines=[other])

        assert Reservation.objects.count() == 1
        assert level(warehouse, variant).on_hand == 8
        assert StockMovement.objects.filter(reason="sale").count() == 1

    def test_a_sale_id_taken_by_a_checkout_hold_is_a_conflict(self, shop, variant):
        services.reserve(channel=shop, order_ref="S-1", lines=[Line(variant, 2)])

        with pytest.raises(SaleIdConflict):
            services.record_pos_sale(channel=shop, sale_id="S-1", lines=[Line(variant, 2)])

    def test_a_lines_tax_is_shared_by_quantity_between_the_warehouses_it_is_drawn_from(
        self, variant, receive, channel_with, listing_for
    ):
        first, second = WarehouseFactory.create_batch(2)
        till = channel_with(first, second, kind="pos")
        listing_for(till, variant)
        receive(first, variant, 1)
        receive(second, variant, 5)

        sale, _ = services.record_pos_sale(
            channel=till, sale_id="S-1", lines=[Line(variant, 3, unit_price=Decimal("10.00"), tax=Decimal("1.00"))]
        )

        assert [(line.quantity, line.unit_price, line.tax) for line in sale.lines.order_by("id")] == [
            (1, Decimal("10.00"), Decimal("0.33")),
            (2, Decimal("10.00"), Decimal("0.67")),
        ]
        again, created = services.record_pos_sale(
            channel=till, sale_id="S-1", lines=[Line(variant, 3, unit_price=Decimal("10.00"), tax=Decimal("1.00"))]
        )
        assert (again.pk, created) == (sale.pk, False)

    def test_insufficient_stock_sells_nothing(self, shop, warehouse, variant):
        with pytest.raises(InsufficientStock):
            services.record_pos_sale(channel=shop, sale_id="S-1", lines=[Line(variant, 11)])

        assert not Reservation.objects.exists()
        assert level(warehouse, variant).on_hand == 10


def test_purge_drops_idempotency_keys_older_than_a_day():
    old, fresh = IdempotencyKeyFactory.create_batch(2)
    IdempotencyKey.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=25))

    assert services.purge_idempotency_keys() == 1
    assert list(IdempotencyKey.objects.values_list("pk", flat=True)) == [fresh.pk]
