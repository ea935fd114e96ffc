"""The back office lists a marketplace's own orders with their state: pending (units held), sold, cancelled."""

import pytest
from django.urls import reverse

from reservations import services
from reservations.models import Reservation

pytestmark = pytest.mark.django_db

Line = services.LineRequest


def test_channel_orders_are_listed_and_filtered_by_their_state(
    client, superuser, warehouse, variant, receive, channel_with, listing_for
):
    amazon = channel_with(warehouse, code="amazon-us", kind="marketplace")
    listing_for(amazon, variant)
    receive(warehouse, variant, 10)
    for order_ref, state in (("113-1", services.PENDING), ("113-2", services.SOLD), ("113-3", services.CANCELLED)):
        services.record_channel_order(channel=amazon, order_ref=order_ref, lines=[Line(variant, 1)], state=state)
    services.reserve(channel=amazon, order_ref="checkout-1", lines=[Line(variant, 1)])
    client.force_login(superuser)
    url = reverse("admin:reservations_reservation_changelist")

    everything = client.get(url).content.decode()
    pending = client.get(url, {"channel_order": Reservation.Status.ACTIVE, "channel__id__exact": amazon.pk})

    assert all(words in everything for words in ("pending: units held", "sold", "cancelled"))
    page = pending.content.decode()
    assert "113-1" in page
    assert all(other not in page for other in ("113-2", "113-3", "checkout-1"))
    assert "own orders" in page  # the filter's title
