"""Publishing to Amazon against its sandbox over real HTTP: only merchant-fulfilled offers get a DEFAULT quantity
(by patch or by feed), under the product type Amazon has for them, and a feed whose creation went unanswered is
found at Amazon and waited for instead of being sent twice."""

import json
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from connectors import outbox
from connectors.amazon import FEED_THRESHOLD
from connectors.models import AmazonFeed, AmazonOffer, OutboundMessage, SyncJob
from connectors.sync import run_sync_job, start_sync
from inventory import services as stock
from tests.connectors.accounts import amazon_account
from tests.factories import VariantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def marketplace(amazon_sandbox, warehouse, channel_with):
    channel = channel_with(warehouse, code="amazon-us", kind="marketplace")
    return amazon_account(amazon_sandbox, channel, feed_poll_seconds=0.05)


@pytest.fixture
def listed(marketplace, amazon_sandbox, listing_for):
    """``listed(n, fba=False, product_type=...)``: n SKUs on our channel and on Amazon."""

    def _listed(count, prefix="AMZ", *, fba=False, product_type="PRODUCT"):
        variants = [VariantFactory(sku=f"{prefix}-{i:04d}", price=Decimal("9.99")) for i in range(count)]
        for variant in variants:
            listing_for(marketplace.channel, variant)
            amazon_sandbox.add_listing(variant.sku, 0, fba=fba, fulfillable=20, product_type=product_type)
        return variants

    return _listed


def receive(warehouse, variants, units):
    stock.apply_stock_changes(
        [stock.StockChange(warehouse, v, "receipt", delta=units) for v in variants], source="admin"
    )


def patched_skus(sandbox):
    return [r.path.rsplit("/", 1)[1] for r in sandbox.logged_requests("PATCH") if "/listings/" in r.path]


def fed_skus(sandbox):
    skus = []
    for feed in sandbox.feeds():
        document = sandbox.document(feed["_sandbox"]["inputFeedDocumentId"])
        skus += [message["sku"] for message in json.loads(document["content"])["messages"]]
    return skus


# --- MFN and AFN apart --------------------------------------------------------------------------------------


def test_an_offer_amazon_fulfils_is_never_given_a_default_quantity(amazon_sandbox, listed, warehouse):
    (mfn,) = listed(1)
    (afn,) = listed(1, prefix="FBA", fba=True)

    receive(warehouse, [mfn, afn], 6)
    outbox.deliver_due()

    assert patched_skus(amazon_sandbox) == [mfn.sku]
    assert amazon_sandbox.listing(afn.sku)["channels"] == ["AMAZON_NA"]
    assert amazon_sandbox.listing(afn.sku)["issues"] == []
    skipped = OutboundMessage.objects.get(payload__sku=afn.sku)
    assert skipped.status == OutboundMessage.Status.DELIVERED
    assert "fulfilled by Amazon" in skipped.response["skipped"]
    assert dict(AmazonOffer.objects.values_list("variant__sku", "fulfillment")) == {mfn.sku: "MFN", afn.sku: "AFN"}


def test_nor_in_a_feed(amazon_sandbox, listed, warehouse):
    mfn = listed(FEED_THRESHOLD)
    afn = listed(3, prefix="FBA", fba=True)

    receive(warehouse, mfn + afn, 4)
    outbox.deliver_due()

    assert len(amazon_sandbox.feeds()) == 1
    assert sorted(fed_skus(amazon_sandbox)) == sorted(v.sku for v in mfn)
    assert all(amazon_sandbox.listing(v.sku)["channels"] == ["AMAZON_NA"] for v in afn)
    assert all(amazon_sandbox.mfn_quantity(v.sku) == 4 for v in mfn)
    assert OutboundMessage.objects.filter(status=OutboundMessage.Status.DELIVERED).count() == len(mfn) + len(afn)
    searches = amazon_sandbox.logged_requests("GET", "/listings/2021-08-01/items")
    assert len(searches) == 2  # 23 offers learnt 20 at a time
    assert not amazon_sandbox.spec_violations()


def test_the_fba_pull_teaches_which_offers_amazon_fulfils(amazon_sandbox, marketplace, listed, warehouse):
    (afn,) = listed(1, prefix="FBA", fba=True)
    run_sync_job(start_sync(marketplace, SyncJob.Kind.FULL)[0].pk)
    amazon_sandbox.clear_request_log()

    receive(warehouse, [afn], 3)
    outbox.deliver_due()

    assert AmazonOffer.objects.get().fulfillment == "AFN"
    assert not amazon_sandbox.logged_requests(path="/listings/")  # neither asked nor patched


def test_a_full_pull_learns_the_channels_offers_so_publishing_need_not_ask(
    amazon_sandbox, marketplace, listed, warehouse
):
    mfn = listed(3)
    (afn,) = listed(1, prefix="FBA", fba=True)
    run_sync_job(start_sync(marketplace, SyncJob.Kind.FULL)[0].pk)
    amazon_sandbox.clear_request_log()

    receive(warehouse, [*mfn, afn], 2)
    outbox.deliver_due()

    assert dict(AmazonOffer.objects.values_list("variant__sku", "fulfillment")) == {
        **{v.sku: "MFN" for v in mfn},
        afn.sku: "AFN",
    }
    assert not amazon_sandbox.logged_requests("GET", "/listings/")  # known: nothing asked at publishing time
    assert sorted(patched_skus(amazon_sandbox)) == sorted(v.sku for v in mfn)


def test_a_listing_is_patched_under_its_own_product_type_learnt_again_when_refused(amazon_sandbox, listed, warehouse):
    (variant,) = listed(1, product_type="LUGGAGE")
    receive(warehouse, [variant], 5)
    outbox.deliver_due()
    assert amazon_sandbox.mfn_quantity(variant.sku) == 5

    amazon_sandbox.listings_by_sku[variant.sku].product_type = "SHOES"  # re-categorised at Amazon
    receive(warehouse, [variant], 1)
    outbox.deliver_due()
    refused = OutboundMessage.objects.get()
    assert "4000004" in refused.last_error
    assert not AmazonOffer.objects.exists()  # forgotten: learnt again next time

    OutboundMessage.objects.update(next_attempt_at=timezone.now())
    outbox.deliver_due()

    assert [r.body["productType"] for r in amazon_sandbox.logged_requests("PATCH")] == ["LUGGAGE", "LUGGAGE", "SHOES"]
    assert amazon_sandbox.mfn_quantity(variant.sku) == 6


# --- every push once in effect --------------------------------------------------------------------------------


def slow(amazon_sandbox, marketplace, operation):
    """Amazon does the work but answers after our read timeout."""
    marketplace.settings = {**marketplace.settings, "read_timeout_seconds": 0.3, "circuit_fail_max": 50}
    marketplace.save()
    amazon_sandbox.configure(slow_operation=operation, slow_operation_ms=900)


def due_again():
    time.sleep(0.35)  # past the read timeout: no answer to the first call can come any more
    OutboundMessage.objects.update(next_attempt_at=timezone.now())


def test_a_feed_whose_creation_went_unanswered_is_found_and_waited_for_not_sent_again(
    amazon_sandbox, marketplace, listed, warehouse
):
    variants = listed(FEED_THRESHOLD + 2)
    slow(amazon_sandbox, marketplace, "createFeed")
    receive(warehouse, variants, 3)

    outbox.deliver_due()
    assert len(amazon_sandbox.feeds()) == 1  # Amazon made it; we saw a timeout
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {OutboundMessage.Status.PENDING}
    (unanswered,) = AmazonFeed.objects.all()
    assert unanswered.feed_id == ""

    amazon_sandbox.configure(slow_operation="")
    receive(warehouse, variants[:2], 1)  # two listings moved on meanwhile: their new figure must go too
    due_again()
    outbox.deliver_due()

    assert len(amazon_sandbox.logged_requests("POST", "/feeds/2021-06-30/feeds")) == 1 + 1
    assert len(amazon_sandbox.feeds()) == 2  # the first, found and waited for; one for the two new figures
    assert sorted(fed_skus(amazon_sandbox)) == sorted([v.sku for v in variants] + [v.sku for v in variants[:2]])
    assert {v.sku: amazon_sandbox.mfn_quantity(v.sku) for v in variants} == {
        v.sku: 4 if v in variants[:2] else 3 for v in variants
    }
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {OutboundMessage.Status.DELIVERED}
    unanswered.refresh_from_db()
    assert unanswered.feed_id
    assert unanswered.settled_at
    assert not amazon_sandbox.spec_violations()


def test_a_feed_recorded_but_never_created_is_sent_once(amazon_sandbox, marketplace, listed, warehouse):
    """A worker killed between recording its feed and calling createFeed: nothing of it is at Amazon."""
    variants = listed(FEED_THRESHOLD)
    receive(warehouse, variants, 2)
    AmazonFeed.objects.create(
        account=marketplace,
        document_id="amzn1.tortuga.4.na.never-submitted",
        quantities=[[m.pk, m.payload["quantity"]] for m in OutboundMessage.objects.all()],
        started_at=timezone.now() - timedelta(minutes=1),
    )

    outbox.deliver_due()

    assert len(amazon_sandbox.feeds()) == 1
    assert all(amazon_sandbox.mfn_quantity(v.sku) == 2 for v in variants)
    assert AmazonFeed.objects.filter(settled_at__isnull=True).count() == 0
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {OutboundMessage.Status.DELIVERED}


def test_a_patch_answered_too_late_is_sent_again_harmlessly(amazon_sandbox, marketplace, listed, warehouse):
    (variant,) = listed(1)
    slow(amazon_sandbox, marketplace, "patchListingsItem")
    receive(warehouse, [variant], 7)

    outbox.deliver_due()
    assert OutboundMessage.objects.get().status == OutboundMessage.Status.PENDING

    amazon_sandbox.configure(slow_operation="")
    due_again()
    outbox.deliver_due()

    quantities = {r.body["patches"][0]["value"][0]["quantity"] for r in amazon_sandbox.logged_requests("PATCH")}
    assert quantities == {7}  # the same absolute figure each time
    assert amazon_sandbox.mfn_quantity(variant.sku) == 7
    assert OutboundMessage.objects.get().status == OutboundMessage.Status.DELIVERED
