import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from inventory.models import StockLevel
from inventory.selectors import channel_availability, ledger_mismatches
from tests.factories import ProductFactory, VariantFactory, WarehouseFactory

pytestmark = pytest.mark.django_db


def availability_of(channel, sku):
    result = channel_availability(channel, [sku])
    assert result.items, f"{sku} not reported"
    return result.items[0]


class TestAvailabilityFormula:
    def test_pool_is_on_hand_less_reserved(self, warehouse, variant, receive, channel_with, listing_for):
        channel = channel_with(warehouse)
        listing_for(channel, variant)
        receive(warehouse, variant, 10)
        StockLevel.objects.filter(warehouse=warehouse, variant=variant).update(reserved=3)

        item = availability_of(channel, variant.sku)

        assert (item.available, item.sellable, item.listed) == (7, True, True)

    def test_buffer_is_kept_back(self, warehouse, variant, receive, channel_with, listing_for):
        channel = channel_with(warehouse)
        listing_for(channel, variant, buffer=4)
        receive(warehouse, variant, 10)

        assert availability_of(channel, variant.sku).available == 6

    @pytest.mark.parametrize(("on_hand", "percent", "expected"), [(7, 50, 3), (10, 33, 3), (1, 99, 0), (9, 100, 9)])
    def test_percent_rounds_down(
        self, warehouse, variant, receive, channel_with, listing_for, on_hand, percent, expected
    ):
        channel = channel_with(warehouse)
        listing_for(channel, variant, allocation_percent=percent)
        receive(warehouse, variant, on_hand)

        assert availability_of(channel, variant.sku).available == expected

    def test_buffer_applies_before_percent_and_cap_last(self, warehouse, variant, receive, channel_with, listing_for):
        channel = channel_with(warehouse)
        listing_for(channel, variant, buffer=2, allocation_percent=50, max_quantity=3)
        receive(warehouse, variant, 20)  # (20 - 2) * 50% = 9, capped at 3

        assert availability_of(channel, variant.sku).available == 3

    def test_cap_above_the_computed_figure_changes_nothing(
        self, warehouse, variant, receive, channel_with, listing_for
    ):
        channel = channel_with(warehouse)
        listing_for(channel, variant, max_quantity=100)
        receive(warehouse, variant, 5)

        assert availability_of(channel, variant.sku).available == 5

    def test_buffer_larger_than_pool_floors_at_zero(self, warehouse, variant, receive, channel_with, listing_for):
        channel = channel_with(warehouse)
        listing_for(channel, variant, buffer=8)
        receive(warehouse, variant, 5)

        item = availability_of(channel, variant.sku)

        assert (item.available, item.sellable) == (0, False)

    def test_pool_sums_every_warehouse_of_the_channel(self, variant, receive, channel_with, listing_for):
        first, second, elsewhere = WarehouseFactory.create_batch(3)
        channel = channel_with(first, second)
        listing_for(channel, variant)
        receive(first, variant, 4)
        receive(second, variant, 6)
        receive(elsewhere, variant, 100)

        assert availability_of(channel, variant.sku).available == 10

    def test_inactive_warehouse_is_ignored(self, variant, receive, channel_with, listing_for):
        active = WarehouseFactory()
        closed = WarehouseFactory(active=False)
        channel = channel_with(closed, active)
        listing_for(channel, variant)
        receive(active, variant, 3)
        receive(closed, variant, 50)

        assert availability_of(channel, variant.sku).available == 3

    @pytest.mark.parametrize(
        "switch_off",
        [
            lambda listing: setattr(listing, "enabled", False) or listing.save(),
            lambda listing: setattr(listing.variant, "active", False) or listing.variant.save(),
            lambda listing: setattr(listing.channel, "active", False) or listing.channel.save(),
        ],
        ids=["listing-disabled", "variant-inactive", "channel-inactive"],
    )
    def test_switched_off_listing_sells_nothing(
        self, warehouse, variant, receive, channel_with, listing_for, switch_off
    ):
        listing = listing_for(channel_with(warehouse), variant)
        receive(warehouse, variant, 5)
        switch_off(listing)

        item = availability_of(listing.channel, variant.sku)

        assert (item.available, item.sellable) == (0, False)

    def test_untracked_variant_is_sellable_up_to_its_cap(self, warehouse, channel_with, listing_for):
        channel = channel_with(warehouse)
        uncapped = VariantFactory(track_inventory=False)
        capped = VariantFactory(track_inventory=False)
        listing_for(channel, uncapped)
        listing_for(channel, capped, max_quantity=4)

        assert (availability_of(channel, uncapped.sku).available, availability_of(channel, uncapped.sku).sellable) == (
            None,
            True,
        )
        assert availability_of(channel, capped.sku).available == 4

    def test_unknown_and_unlisted_skus_are_reported_apart(self, warehouse, variant, receive, channel_with):
        channel = channel_with(warehouse)
        receive(warehouse, variant, 5)

        result = channel_availability(channel, [variant.sku, "NO-SUCH-SKU"])

        assert result.unknown_skus == ["NO-SUCH-SKU"]
        assert [(i.sku, i.listed, i.available, i.sellable) for i in result.items] == [(variant.sku, False, 0, False)]

    def test_many_skus_cost_a_constant_number_of_queries(self, warehouse, receive, channel_with, listing_for):
        channel = channel_with(warehouse, WarehouseFactory())
        product = ProductFactory()
        variants = VariantFactory.create_batch(40, product=product)
        for v in variants:
            listing_for(channel, v)
            receive(warehouse, v, 3)
        skus = [v.sku for v in variants] + ["UNKNOWN-1", "UNKNOWN-2"]

        with CaptureQueriesContext(connection) as few:
            channel_availability(channel, [*skus[:2], "UNKNOWN-1"])
        with CaptureQueriesContext(connection) as many:
            result = channel_availability(channel, skus)

        assert len(many.captured_queries) == len(few.captured_queries) <= 3
        assert all(item.available == 3 for item in result.items)
        assert len(result.items) == 40


def test_ledger_mismatch_is_detected(warehouse, variant, receive):
    receive(warehouse, variant, 5)
    assert not ledger_mismatches().exists()

    StockLevel.objects.filter(warehouse=warehouse, variant=variant).update(on_hand=6)

    assert list(ledger_mismatches().values_list("on_hand", "booked")) == [(6, 5)]
