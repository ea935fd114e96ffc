import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inventory import events, services
from inventory.exceptions import InvalidQuantity, StockRuleViolation
from inventory.models import ListingStateChange, StockLevel, StockMovement
from inventory.selectors import ledger_mismatches
from tests.factories import UserFactory, VariantFactory, WarehouseFactory

pytestmark = pytest.mark.django_db

Reason, Source = StockMovement.Reason, StockMovement.Source


def level_of(warehouse, variant) -> StockLevel:
    return StockLevel.objects.get(warehouse=warehouse, variant=variant)


def reserve_directly(warehouse, variant, units):
    """Stand-in for the reservations app: mark units as held on an existing level."""
    StockLevel.objects.filter(warehouse=warehouse, variant=variant).update(reserved=units)


class TestReceive:
    def test_receive_creates_the_level_and_books_a_receipt(self, warehouse, variant):
        clerk = UserFactory()

        movement = services.receive_stock(
            warehouse=warehouse, variant=variant, quantity=12, source=Source.ADMIN, actor=clerk, reference="PO-1"
        )

        level = level_of(warehouse, variant)
        assert (level.on_hand, level.reserved) == (12, 0)
        assert (movement.quantity, movement.on_hand_after, movement.reason) == (12, 12, Reason.RECEIPT)
        assert (movement.source, movement.actor, movement.reference) == (Source.ADMIN, clerk, "PO-1")

    @pytest.mark.parametrize("quantity", [0, -3, 2.5, "4", True, None, 10**12])
    def test_receive_refuses_a_quantity_that_is_not_a_positive_whole_number(self, warehouse, variant, quantity):
        with pytest.raises(InvalidQuantity):
            services.receive_stock(warehouse=warehouse, variant=variant, quantity=quantity, source=Source.API)

        assert not StockLevel.objects.exists()
        assert not StockMovement.objects.exists()


class TestAdjust:
    def test_delta_changes_on_hand_and_records_reason_source_and_actor(self, warehouse, variant, receive):
        receive(warehouse, variant, 10)
        clerk = UserFactory()

        movement = services.adjust_stock(
            warehouse=warehouse, variant=variant, delta=-3, reason=Reason.DAMAGE, source=Source.ADMIN, actor=clerk
        )

        assert level_of(warehouse, variant).on_hand == 7
        assert (movement.quantity, movement.on_hand_after) == (-3, 7)
        assert (movement.reason, movement.source, movement.actor) == (Reason.DAMAGE, Source.ADMIN, clerk)

    def test_count_sets_on_hand_and_books_the_difference(self, warehouse, variant, receive):
        receive(warehouse, variant, 10)

        movement = services.adjust_stock(
            warehouse=warehouse, variant=variant, set_on_hand=14, reason=Reason.COUNT, source=Source.API
        )

        assert level_of(warehouse, variant).on_hand == 14
        assert (movement.quantity, movement.on_hand_after, movement.reason) == (4, 14, Reason.COUNT)

    def test_count_that_matches_writes_no_movement(self, warehouse, variant, receive):
        receive(warehouse, variant, 10)

        movement = services.adjust_stock(
            warehouse=warehouse, variant=variant, set_on_hand=10, reason=Reason.COUNT, source=Source.API
        )

        assert movement is None
        assert StockMovement.objects.count() == 1

    def test_cannot_adjust_below_reserved(self, warehouse, variant, receive):
        receive(warehouse, variant, 10)
        reserve_directly(warehouse, variant, 6)

        with pytest.raises(StockRuleViolation) as refused:
            services.adjust_stock(
                warehouse=warehouse, variant=variant, delta=-5, reason=Reason.DAMAGE, source=Source.ADMIN
            )

        assert "below the 6 units reserved" in refused.value.message
        assert refused.value.details[0]["sku"] == variant.sku
        level = level_of(warehouse, variant)
        assert (level.on_hand, level.reserved) == (10, 6)
        assert StockMovement.objects.count() == 1

    def test_cannot_count_below_reserved(self, warehouse, variant, receive):
        receive(warehouse, variant, 10)
        reserve_directly(warehouse, variant, 4)

        with pytest.raises(StockRuleViolation):
            services.adjust_stock(
                warehouse=warehouse, variant=variant, set_on_hand=3, reason=Reason.COUNT, source=Source.ADMIN
            )

        assert level_of(warehouse, variant).on_hand == 10

    def test_cannot_go_below_zero(self, warehouse, variant, receive):
        receive(warehouse, variant, 2)

        with pytest.raises(StockRuleViolation, match="below zero"):
            services.adjust_stock(
                warehouse=warehouse, variant=variant, delta=-3, reason=Reason.ADJUSTMENT, source=Source.API
            )

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"delta": 0}, "zero"),
            ({"delta": 1, "set_on_hand": 1}, "exactly one"),
            ({}, "exactly one"),
            ({"set_on_hand": -1}, "negative"),
            ({"delta": 1, "reason": "stolen-by-elves"}, "Unknown reason"),
        ],
    )
    def test_malformed_requests_are_refused(self, warehouse, variant, fields, message):
        fields = {"reason": Reason.ADJUSTMENT, **fields}

        with pytest.raises(InvalidQuantity, match=message):
            services.adjust_stock(warehouse=warehouse, variant=variant, source=Source.API, **fields)

    def test_batch_is_all_or_nothing_and_names_every_offending_row(self, warehouse, receive):
        fine, short_a, short_b = VariantFactory.create_batch(3)
        for v in (fine, short_a, short_b):
            receive(warehouse, v, 5)
        changes = [
            services.StockChange(warehouse, fine, Reason.DAMAGE, delta=-1),
            services.StockChange(warehouse, short_a, Reason.DAMAGE, delta=-6),
            services.StockChange(warehouse, short_b, Reason.COUNT, set_on_hand=0),
            services.StockChange(warehouse, short_b, Reason.DAMAGE, delta=-1),
        ]

        with pytest.raises(StockRuleViolation) as refused:
            services.apply_stock_changes(changes, source=Source.API)

        assert [d["index"] for d in refused.value.details] == [1, 3]
        assert StockLevel.objects.filter(on_hand=5).count() == 3
        assert StockMovement.objects.count() == 3

    def test_changes_to_one_level_apply_in_order(self, warehouse, variant, receive):
        receive(warehouse, variant, 5)
        changes = [
            services.StockChange(warehouse, variant, Reason.COUNT, set_on_hand=8),
            services.StockChange(warehouse, variant, Reason.DAMAGE, delta=-2),
        ]

        movements = services.apply_stock_changes(changes, source=Source.API)

        assert [(m.quantity, m.on_hand_after) for m in movements] == [(3, 8), (-2, 6)]
        assert movements[0].operation_id == movements[1].operation_id
        assert level_of(warehouse, variant).on_hand == 6


class TestTransfer:
    def test_transfer_moves_units_with_two_linked_movements(self, variant, receive):
        source_wh, destination_wh = WarehouseFactory.create_batch(2)
        receive(source_wh, variant, 10)

        out_leg, in_leg = services.transfer_stock(
            from_warehouse=source_wh, to_warehouse=destination_wh, variant=variant, quantity=4, source=Source.ADMIN
        )

        assert level_of(source_wh, variant).on_hand == 6
        assert level_of(destination_wh, variant).on_hand == 4
        assert (out_leg.quantity, in_leg.quantity) == (-4, 4)
        assert out_leg.reason == in_leg.reason == Reason.TRANSFER
        assert out_leg.operation_id == in_leg.operation_id

    def test_transfer_is_atomic_when_the_source_cannot_spare_the_units(self, variant, receive):
        source_wh, destination_wh = WarehouseFactory.create_batch(2)
        receive(source_wh, variant, 10)
        reserve_directly(source_wh, variant, 8)

        with pytest.raises(StockRuleViolation):
            services.transfer_stock(
                from_warehouse=source_wh, to_warehouse=destination_wh, variant=variant, quantity=3, source=Source.API
            )

        assert level_of(source_wh, variant).on_hand == 10
        assert not StockLevel.objects.filter(warehouse=destination_wh).exists()
        assert StockMovement.objects.count() == 1

    def test_transfer_to_the_same_warehouse_is_refused(self, warehouse, variant, receive):
        receive(warehouse, variant, 10)

        with pytest.raises(InvalidQuantity):
            services.transfer_stock(
                from_warehouse=warehouse, to_warehouse=warehouse, variant=variant, quantity=1, source=Source.API
            )


class TestLocking:
    def test_levels_are_locked_for_update_in_primary_key_order_before_they_are_written(self, warehouse, receive):
        variants = VariantFactory.create_batch(3)
        for v in variants:
            receive(warehouse, v, 5)
        changes = [services.StockChange(warehouse, v, Reason.DAMAGE, delta=-1) for v in reversed(variants)]

        with CaptureQueriesContext(connection) as ctx:
            services.apply_stock_changes(changes, source=Source.API)

        sqls = [q["sql"] for q in ctx.captured_queries]
        lock_at = next(i for i, sql in enumerate(sqls) if "FOR UPDATE" in sql and "inventory_stocklevel" in sql)
        update_at = next(i for i, sql in enumerate(sqls) if 'UPDATE "inventory_stocklevel" SET' in sql)
        assert lock_at < update_at
        lock_sql = sqls[lock_at]
        assert 'ORDER BY "inventory_stocklevel"."id" ASC' in lock_sql
        assert "JOIN" not in lock_sql  # a join would lock the joined rows too

    @pytest.mark.django_db(transaction=True)
    def test_locking_outside_a_transaction_is_refused(self, warehouse, variant):
        from inventory.locking import lock_stock_levels

        with pytest.raises(RuntimeError):
            lock_stock_levels([(warehouse.pk, variant.pk)])


class TestEvents:
    def test_stock_changed_is_sent_after_commit_with_the_variants_and_warehouses(
        self, warehouse, variant, django_capture_on_commit_callbacks
    ):
        received = []

        def receiver(sender, **kwargs):
            received.append(kwargs)

        events.stock_changed.connect(receiver)
        try:
            with django_capture_on_commit_callbacks(execute=False) as callbacks:
                services.receive_stock(warehouse=warehouse, variant=variant, quantity=3, source=Source.API)
            assert received == []  # nothing before commit
            for callback in callbacks:
                callback()
        finally:
            events.stock_changed.disconnect(receiver)

        assert received == [
            {"signal": events.stock_changed, "variant_ids": {variant.pk}, "warehouse_ids": {warehouse.pk}}
        ]

    def test_no_event_when_the_change_is_refused(self, warehouse, variant, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks() as callbacks, pytest.raises(StockRuleViolation):
            services.adjust_stock(warehouse=warehouse, variant=variant, delta=-1, reason="damage", source="api")

        assert callbacks == []


class TestListingSellability:
    def test_listing_turns_unsellable_at_zero_and_back_with_each_transition_recorded(
        self, warehouse, variant, receive, channel_with, listing_for, django_capture_on_commit_callbacks
    ):
        listing = listing_for(channel_with(warehouse), variant)
        seen = []

        def receiver(sender, changes, **kwargs):
            seen.extend(changes)

        events.listing_sellability_changed.connect(receiver)
        try:
            with django_capture_on_commit_callbacks(execute=True):
                receive(warehouse, variant, 2)
                services.adjust_stock(warehouse=warehouse, variant=variant, delta=-2, reason="damage", source="api")
                receive(warehouse, variant, 1)
        finally:
            events.listing_sellability_changed.disconnect(receiver)

        listing.refresh_from_db()
        assert listing.is_sellable is True
        states = list(listing.state_changes.order_by("id").values_list("sellable", "available", "cause"))
        assert states == [(True, 2, "stock"), (False, 0, "stock"), (True, 1, "stock")]
        assert [change.sellable for change in seen] == [True, False, True]

    def test_rule_change_that_leaves_nothing_to_sell_makes_the_listing_unsellable(
        self, warehouse, variant, receive, channel_with, listing_for
    ):
        listing = listing_for(channel_with(warehouse), variant)
        receive(warehouse, variant, 3)

        services.update_listing_rules(listing, buffer=3)

        assert listing.is_sellable is False
        assert listing.state_changes.first().cause == ListingStateChange.Cause.RULES

    def test_manual_disable_makes_the_listing_unsellable(self, warehouse, variant, receive, channel_with, listing_for):
        listing = listing_for(channel_with(warehouse), variant)
        receive(warehouse, variant, 3)

        services.update_listing_rules(listing, enabled=False)

        assert listing.is_sellable is False


def test_ledger_matches_levels_after_mixed_operations(warehouse, variant, receive):
    other = WarehouseFactory()
    receive(warehouse, variant, 20)
    services.adjust_stock(warehouse=warehouse, variant=variant, delta=-2, reason="damage", source="admin")
    services.transfer_stock(from_warehouse=warehouse, to_warehouse=other, variant=variant, quantity=5, source="admin")
    services.adjust_stock(warehouse=other, variant=variant, set_on_hand=1, reason="count", source="admin")

    assert not ledger_mismatches().exists()
    assert level_of(warehouse, variant).on_hand == 13
    assert level_of(other, variant).on_hand == 1
