"""Every change that moves a listing's availability leaves one publication with the latest value."""

import pytest

from connectors import outbox, services
from connectors.models import Kind, OutboundMessage, SyncConflict
from connectors.publishing import dedupe_key, settle_quantity_drift
from inventory import services as stock
from inventory.models import ListingStateChange
from reservations import services as reservations
from tests.factories import ConnectorAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def marketplace(warehouse, variant, channel_with, listing_for):
    """An Amazon channel drawing from one warehouse, its account, and one listing (cap 25)."""
    channel = channel_with(warehouse, code="amazon-us", kind="marketplace")
    listing = listing_for(channel, variant, max_quantity=25)
    ConnectorAccountFactory(
        kind=Kind.AMAZON_SP_API,
        warehouse=None,
        channel=channel,
        settings={"seller_id": "A2SELLER", "marketplace_id": "ATVPDKIKX0DER"},
    )
    return channel, listing


def publications():
    return OutboundMessage.objects.filter(kind=OutboundMessage.Kind.PUBLISH_QUANTITY)


def receive(warehouse, variant, units):
    stock.receive_stock(warehouse=warehouse, variant=variant, quantity=units, source="admin")


def test_a_hundred_changes_to_one_listing_leave_one_publication_with_the_last_value(marketplace, warehouse, variant):
    stock.update_listing_rules(marketplace[1], max_quantity=None)  # so that every change moves the figure
    for _ in range(100):
        receive(warehouse, variant, 1)

    (publication,) = publications()
    assert publication.dedupe_key == dedupe_key(marketplace[1].pk)
    assert publication.payload["quantity"] == 100
    assert publication.payload["sku"] == variant.sku
    assert publication.status == OutboundMessage.Status.PENDING


def test_reservations_move_the_published_figure_too(marketplace, warehouse, variant):
    receive(warehouse, variant, 10)

    reservations.reserve(channel=marketplace[0], order_ref="A-1", lines=[reservations.LineRequest(variant, 4)])

    assert publications().get().payload["quantity"] == 6


def test_a_change_that_does_not_move_the_channels_figure_publishes_nothing_new(marketplace, warehouse, variant):
    receive(warehouse, variant, 30)  # capped at 25
    publication = publications().get()
    outbox._delivered(publication, {"status": "ACCEPTED"})

    receive(warehouse, variant, 5)  # still 25 for the channel

    publication.refresh_from_db()
    assert publication.status == OutboundMessage.Status.DELIVERED


def test_selling_out_publishes_zero_and_a_restock_publishes_again(marketplace, warehouse, variant, superuser):
    receive(warehouse, variant, 2)
    outbox._delivered(publications().get(), {})

    stock.adjust_stock(warehouse=warehouse, variant=variant, delta=-2, reason="damage", source="admin", actor=superuser)
    zero = publications().get()
    assert (zero.payload["quantity"], zero.status) == (0, OutboundMessage.Status.PENDING)
    outbox._delivered(zero, {})

    receive(warehouse, variant, 3)
    again = publications().get()
    assert (again.payload["quantity"], again.status) == (3, OutboundMessage.Status.PENDING)
    states = ListingStateChange.objects.filter(listing=marketplace[1]).order_by("id").values_list("sellable", flat=True)
    assert list(states) == [True, False, True]


def test_a_value_written_while_the_old_one_was_being_sent_is_sent_after_it(marketplace, warehouse, variant):
    receive(warehouse, variant, 5)
    (in_flight,) = outbox.claim_due()

    receive(warehouse, variant, 2)  # while 5 is on its way
    rewritten = publications().get()
    assert (rewritten.status, rewritten.payload["quantity"]) == (OutboundMessage.Status.SENDING, 7)

    outbox._delivered(in_flight, {"status": "ACCEPTED"})  # the partner took 5

    after = publications().get()
    assert (after.status, after.payload["quantity"]) == (OutboundMessage.Status.PENDING, 7)


def test_channels_without_a_publishing_account_queue_nothing(warehouse, variant, channel_with, listing_for):
    listing_for(channel_with(warehouse), variant)

    receive(warehouse, variant, 5)

    assert not publications().exists()


class TestQuantityDrift:
    """A partner reports a quantity for a listing that differs from what we last published."""

    @pytest.fixture
    def published(self, marketplace, warehouse, variant):
        receive(warehouse, variant, 10)
        outbox._delivered(publications().get(), {"status": "ACCEPTED"})
        return marketplace[0].connector_accounts.get()

    @pytest.mark.parametrize(
        ("strategy", "remote", "republished", "resolution"),
        [
            ("hub_wins", 7, True, "published ours again"),
            ("source_wins", 7, False, "kept the partner's figure"),
            ("highest", 7, True, "published ours again"),
            ("highest", 12, False, "kept the partner's figure"),
            ("lowest", 7, False, "kept the partner's figure"),
        ],
    )
    def test_automatic_strategies(self, published, variant, strategy, remote, republished, resolution):
        published.conflict_strategy = strategy
        published.save()

        conflict = settle_quantity_drift(published, variant.sku, remote)

        assert (conflict.status, conflict.resolution, conflict.remote_value) == ("resolved", resolution, str(remote))
        status = publications().get().status
        assert status == (OutboundMessage.Status.PENDING if republished else OutboundMessage.Status.DELIVERED)

    def test_manual_waits_for_a_manager_who_can_publish_ours_again(self, published, variant, superuser):
        published.conflict_strategy = "manual"
        published.save()

        conflict = settle_quantity_drift(published, variant.sku, 3)
        settle_quantity_drift(published, variant.sku, 3)

        assert SyncConflict.objects.get() == conflict
        assert conflict.status == "open"
        services.resolve_conflict(conflict, take_partner_value=False, user=superuser)
        assert publications().get().status == OutboundMessage.Status.PENDING

    def test_agreement_is_not_a_conflict(self, published, variant):
        assert settle_quantity_drift(published, variant.sku, 10) is None
        assert not SyncConflict.objects.exists()
