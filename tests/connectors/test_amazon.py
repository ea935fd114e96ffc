"""The Amazon SP-API connector against the Amazon sandbox, over real HTTP."""

import time
from decimal import Decimal

import pytest

from connectors import outbox, services
from connectors.amazon import FEED_THRESHOLD
from connectors.clients import client_for
from connectors.http import PartnerAuthError
from connectors.models import OutboundMessage, SyncConflict, SyncJob
from connectors.sync import run_sync_job, start_sync
from inventory import services as stock
from inventory.models import StockLevel
from tests.connectors.accounts import amazon_account
from tests.factories import VariantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def marketplace(amazon_sandbox, warehouse, channel_with):
    """The amazon-us channel drawing from our warehouse, its FBA warehouse mirrored, and the account."""
    channel = channel_with(warehouse, code="amazon-us", kind="marketplace")
    return amazon_account(amazon_sandbox, channel, feed_poll_seconds=0.05)


@pytest.fixture
def listed(marketplace, amazon_sandbox, listing_for):
    """``listed(n)``: n SKUs listed on our channel and on Amazon (MFN)."""

    def _listed(count, prefix="AMZ"):
        variants = [VariantFactory(sku=f"{prefix}-{i:04d}", price=Decimal("9.99")) for i in range(count)]
        for variant in variants:
            listing_for(marketplace.channel, variant)
            amazon_sandbox.add_listing(variant.sku, quantity=0)
        return variants

    return _listed


def receive(warehouse, variant, units):
    stock.receive_stock(warehouse=warehouse, variant=variant, quantity=units, source="admin")


def patches(sandbox):
    return [r for r in sandbox.logged_requests("PATCH") if "/listings/2021-08-01/items/" in r.path]


def test_a_changed_listing_is_published_with_one_patch(marketplace, amazon_sandbox, listed, warehouse):
    (variant,) = listed(1)
    receive(warehouse, variant, 7)

    assert outbox.deliver_due() == 1

    assert amazon_sandbox.mfn_quantity(variant.sku) == 7
    (patch,) = patches(amazon_sandbox)
    assert patch.body["patches"][0]["path"] == "/attributes/fulfillment_availability"
    assert patch.query["marketplaceIds"] == amazon_sandbox.marketplace_id
    assert OutboundMessage.objects.get().status == OutboundMessage.Status.DELIVERED
    assert not amazon_sandbox.spec_violations()


def test_patches_keep_to_amazons_quota_without_a_single_429(marketplace, amazon_sandbox, listed, warehouse):
    variants = listed(FEED_THRESHOLD - 1)
    for variant in variants:
        receive(warehouse, variant, 3)
    started = time.monotonic()

    outbox.deliver_due()

    statuses = [r.status for r in patches(amazon_sandbox)]
    assert statuses == [200] * len(variants)
    assert time.monotonic() - started >= (len(variants) - 5) / 5 * 0.8  # 5 at once, then 5 a second
    assert all(amazon_sandbox.mfn_quantity(v.sku) == 3 for v in variants)


def test_many_changed_listings_go_in_one_feed_and_its_errors_are_reported_per_sku(
    marketplace, amazon_sandbox, listed, warehouse, listing_for
):
    variants = listed(FEED_THRESHOLD + 5)
    unknown_there = VariantFactory(sku="NOT-ON-AMAZON")
    listing_for(marketplace.channel, unknown_there)
    for variant in [*variants, unknown_there]:
        receive(warehouse, variant, 4)

    outbox.deliver_due()

    assert len(amazon_sandbox.feeds()) == 1
    assert not patches(amazon_sandbox)
    assert all(amazon_sandbox.mfn_quantity(v.sku) == 4 for v in variants)
    refused = OutboundMessage.objects.get(payload__sku="NOT-ON-AMAZON")
    assert refused.status == OutboundMessage.Status.PENDING
    assert "NOT-ON-AMAZON" in refused.last_error
    assert OutboundMessage.objects.filter(status=OutboundMessage.Status.DELIVERED).count() == len(variants)
    assert not amazon_sandbox.spec_violations()


def test_an_expired_access_token_is_refreshed(marketplace, amazon_sandbox, listed, warehouse):
    (variant,) = listed(1)
    assert services.test_connection(marketplace)[0]
    amazon_sandbox.expire_tokens()

    receive(warehouse, variant, 2)
    outbox.deliver_due()

    assert amazon_sandbox.mfn_quantity(variant.sku) == 2
    assert len(amazon_sandbox.logged_requests("POST", "/auth/o2/token")) == 2


def test_a_refused_refresh_token_fails_clearly(marketplace, amazon_sandbox):
    amazon_sandbox.revoke_tokens(refresh_token=True)

    with pytest.raises(PartnerAuthError, match="invalid_grant"):
        client_for(marketplace).get("/fba/inventory/v1/summaries", {"granularityType": "Marketplace"})


def test_fba_inventory_is_mirrored_into_the_fba_warehouse(marketplace, amazon_sandbox):
    fba_skus = [entry["sku"] for entry in amazon_sandbox.seed(listings=0, fba=120)]
    for sku in fba_skus:
        VariantFactory(sku=sku)

    job, _ = start_sync(marketplace, SyncJob.Kind.FULL)
    job = run_sync_job(job.pk)

    assert job.status == SyncJob.Status.SUCCEEDED, job.errors
    assert job.processed == 120
    pages = amazon_sandbox.logged_requests("GET", "/fba/inventory/v1/summaries")
    assert len(pages) == 3  # 50 a page, following nextToken
    for sku in fba_skus[:20]:
        level = StockLevel.objects.filter(warehouse=marketplace.warehouse, variant__sku=sku).first()
        assert (level.on_hand if level else 0) == amazon_sandbox.fba_quantity(sku)


@pytest.mark.parametrize(("strategy", "expected"), [("hub_wins", 6), ("source_wins", 2)])
def test_an_mfn_quantity_edited_in_seller_central_is_settled_by_strategy(
    marketplace, amazon_sandbox, listed, warehouse, strategy, expected
):
    (variant,) = listed(1)
    marketplace.conflict_strategy = strategy
    marketplace.save()
    receive(warehouse, variant, 6)
    outbox.deliver_due()
    amazon_sandbox.set_mfn_quantity(variant.sku, 2, notify=False)

    from connectors.registry import connector_for

    conflict = connector_for(marketplace).mfn_quantity_changed(variant.sku, 2)
    outbox.deliver_due()

    assert (conflict.local_value, conflict.remote_value, conflict.status) == ("6", "2", SyncConflict.Status.RESOLVED)
    assert amazon_sandbox.mfn_quantity(variant.sku) == expected
