import pytest

from inventory.models import StockLevel
from reservations.models import ReservationLine


@pytest.fixture
def shop(warehouse, variant, receive, channel_with, listing_for):
    """A storefront drawing from one warehouse with 10 units of one SKU listed."""
    channel = channel_with(warehouse, code="shop")
    listing_for(channel, variant)
    receive(warehouse, variant, 10)
    return channel


def assert_stock_invariants():
    """on_hand >= reserved >= 0 everywhere, and reserved equals the active lines held."""
    for level in StockLevel.objects.all():
        held = sum(
            ReservationLine.objects.filter(
                reservation__status="active", warehouse_id=level.warehouse_id, variant_id=level.variant_id
            ).values_list("quantity", flat=True)
        )
        assert level.on_hand >= level.reserved >= 0, level
        assert level.reserved == held, f"{level}: reserved {level.reserved}, active lines hold {held}"
