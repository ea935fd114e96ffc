import pytest
from rest_framework.test import APIClient

from inventory.models import StockLevel
from reservations.models import ReservationLine
from tests.factories import ChannelApiKeyFactory


@pytest.fixture
def api_client_for():
    """An API client speaking for ``channel`` with a fresh API key: ``api_client_for(channel)``."""

    def _client(channel):
        key = ChannelApiKeyFactory(channel=channel)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key.plain_key}")
        client.api_key = key
        return client

    return _client


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
