"""Amazon's own orders reach the pool exactly once, end to end: the sandbox over real HTTP relays ORDER_CHANGE and
the MFN quantity notification to our webhook endpoint, Celery's tasks process them as the worker would, the
orders pull runs as a sync job, and the outbox publishes the new figure back. After each step the ledger proof
holds and no channel may sell more than the pool allows."""

import json
from decimal import Decimal

import pytest
import requests

from alerts.models import Alert
from alerts.models import Kind as AlertKind
from alerts.services import evaluate
from connectors import outbox
from connectors.amazon_orders import (
    MalformedAmazonData,
    OrderReport,
    order_state,
    report_from_notification,
)
from connectors.models import SyncJob, WebhookEvent
from connectors.registry import connector_for
from connectors.sync import start_sync
from connectors.tasks import deliver_outbox_task, process_webhook_task, pull_amazon_orders_task, run_sync_job_task
from inventory.models import ChannelListing, StockLevel, StockMovement
from inventory.selectors import ledger_mismatches, listing_availability
from reservations import services as reservations
from reservations.models import OversellIncident, Reservation
from reservations.selectors import reserved_mismatches
from tests.connectors.accounts import amazon_account
from tests.factories import VariantFactory
from tests.threads import run_concurrently

SECRET = "relay-api-key"
SKU = "AMZ-1"


# --- the mapping, without a partner -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("PendingAvailability", reservations.PENDING),
        ("Pending", reservations.PENDING),
        ("Unshipped", reservations.SOLD),
        ("PartiallyShipped", reservations.SOLD),
        ("Shipped", reservations.SOLD),
        ("InvoiceUnconfirmed", reservations.SOLD),
        ("Canceled", reservations.CANCELLED),
        ("Unfulfillable", None),  # Multi-Channel Fulfilment: Amazon's stock, not ours
        ("SomethingNew", None),
    ],
)
def test_amazon_statuses_map_to_pending_sold_or_cancelled(status, state):
    assert order_state(status) == state


def order_change(level="OrderLevel", items=None, status="Pending", fulfillment="MFN"):
    summary = {
        "MarketplaceId": "ATVPDKIKX0DER",
        "OrderStatus": status,
        "PurchaseDate": "2026-12-04T10:00:00Z",
        "DestinationPostalCode": None,
        "FulfillmentType": fulfillment,
        "OrderType": "StandardOrder",
        "OrderItems": items if items is not None else [{"OrderItemId": "1", "SellerSKU": SKU, "Quantity": 2}],
    }
    return {
        "NotificationType": "ORDER_CHANGE",
        "Payload": {
            "OrderChangeNotification": {
                "NotificationLevel": level,
                "AmazonOrderId": "113-0000001-0000001",
                "Summary": summary,
            }
        },
    }


def test_an_order_level_notification_gives_the_items_and_an_item_level_one_leaves_them_to_be_read():
    whole = report_from_notification(order_change())
    one_item = report_from_notification(order_change(level="OrderItemLevel"))

    assert whole == OrderReport("113-0000001-0000001", "Pending", "MFN", (whole.items[0],))
    assert (whole.items[0].sku, whole.items[0].quantity) == (SKU, 2)
    assert one_item.items is None


@pytest.mark.parametrize(
    "items",
    [[{"SellerSKU": SKU, "Quantity": "2"}], [{"SellerSKU": SKU, "Quantity": -1}], [{"Quantity": 1}], "nothing"],
)
def test_a_notification_we_cannot_read_is_malformed_not_a_crash(items):
    with pytest.raises(MalformedAmazonData):
        report_from_notification(order_change(items=items))


@pytest.mark.parametrize(
    ("availability", "fulfillment"),
    [
        ([{"fulfillmentChannelCode": "DEFAULT", "quantity": 3}], "MFN"),
        ([{"fulfillmentChannelCode": "AMAZON_NA", "quantity": 3}], "AFN"),
        ([{"fulfillmentChannelCode": "AMAZON_EU"}], "AFN"),
        ([{"fulfillmentChannelCode": "DEFAULT", "quantity": 1}, {"fulfillmentChannelCode": "AMAZON_NA"}], "MFN"),
        ([], "MFN"),  # nothing fulfils it yet: a DEFAULT quantity converts nothing
    ],
)
@pytest.mark.django_db
def test_an_offer_is_amazons_when_every_fulfilment_record_is_amazons(amazon_sandbox, availability, fulfillment):
    account = amazon_account(amazon_sandbox, None)
    item = {"sku": SKU, "fulfillmentAvailability": availability, "summaries": [{"productType": "LUGGAGE"}]}

    offer = connector_for(account)._offer(VariantFactory().pk, item)

    assert (offer.fulfillment, offer.product_type) == (fulfillment, "LUGGAGE")


# --- the world the end-to-end tests share ---------------------------------------------------------------


@pytest.fixture
def world(amazon_sandbox, warehouse, receive, channel_with, listing_for):
    """10 units of AMZ-1 in our warehouse, sold on Amazon (MFN, published: the sandbox shows 10) and in a shop;
    the sandbox relays its notifications nowhere yet."""
    variant = VariantFactory(sku=SKU, price=Decimal("9.99"))
    amazon = channel_with(warehouse, code="amazon-us", kind="marketplace")
    shop = channel_with(warehouse, code="shop")
    for channel in (amazon, shop):
        listing_for(channel, variant)
    account = amazon_account(amazon_sandbox, amazon, webhook_secret=SECRET)
    amazon_sandbox.add_listing(SKU, 0, price=10.99)
    receive(warehouse, variant, 10)
    outbox.deliver_due()
    assert amazon_sandbox.mfn_quantity(SKU) == 10
    return account, variant, shop


def post(base_url, account, body: bytes) -> requests.Response:
    return requests.post(
        f"{base_url}/webhooks/{account.pk}/",
        data=body,
        headers={"x-api-key": SECRET, "content-type": "application/json"},
        timeout=10,
    )


def process_stored_events(concurrently=False):
    """What the worker does with the queued events: process_webhook_task for each."""
    pending = list(WebhookEvent.objects.filter(status=WebhookEvent.Status.RECEIVED).values_list("pk", flat=True))
    if concurrently:
        return run_concurrently(lambda pk: process_webhook_task.apply(args=[pk]).get(), pending)
    return [process_webhook_task.apply(args=[pk]).get() for pk in pending]


def pull_orders(account) -> SyncJob:
    job, _ = start_sync(account, SyncJob.Kind.ORDERS, enqueue=False)
    run_sync_job_task.apply(args=[job.pk]).get()
    job.refresh_from_db()
    assert job.status == SyncJob.Status.SUCCEEDED, job.errors
    return job


def levels(warehouse, variant) -> tuple[int, int]:
    level = StockLevel.objects.get(warehouse=warehouse, variant=variant)
    return level.on_hand, level.reserved


def assert_books_balance_and_no_channel_oversells(amazon_sandbox):
    """The ledger proof, and every listing at most what its pool allows (Amazon's own figure included)."""
    assert not ledger_mismatches().exists()
    assert not reserved_mismatches().exists()
    for entry in listing_availability(ChannelListing.objects.all()):
        assert entry.available is None or entry.available <= entry.pool
    for listing in ChannelListing.objects.filter(channel__code="amazon-us").select_related("variant"):
        (entry,) = listing_availability(ChannelListing.objects.filter(pk=listing.pk))
        assert amazon_sandbox.mfn_quantity(listing.variant.sku) <= entry.pool


def every_channel_sells(expected):
    return {entry.rules.sku: entry.available for entry in listing_availability(ChannelListing.objects.all())} == {
        SKU: expected
    } and all(entry.available == expected for entry in listing_availability(ChannelListing.objects.all()))


# --- end to end -------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_amazon_order_lowers_the_pool_once_however_often_it_is_reported(
    world, amazon_sandbox, webhook_receiver, live_server, warehouse
):
    account, variant, _ = world
    amazon_sandbox.configure_webhook(webhook_receiver.url, api_key_name="x-api-key", api_key_value=SECRET)

    order = amazon_sandbox.place_order(SKU, 3)
    change, quantity = webhook_receiver.wait_for(2)
    answers = run_concurrently(lambda _: post(live_server.url, account, change.body).json()["status"], range(3))
    post(live_server.url, account, quantity.body)
    process_stored_events(concurrently=True)
    pull_orders(account)
    pull_orders(account)
    deliver_outbox_task.apply().get()

    assert sorted(answers) == ["accepted", "duplicate", "duplicate"]
    booked = Reservation.objects.get()
    assert (booked.order_ref, booked.kind, booked.status) == (order["AmazonOrderId"], "channel_order", "active")
    assert levels(warehouse, variant) == (10, 3)
    assert every_channel_sells(7)
    assert amazon_sandbox.mfn_quantity(SKU) == 7
    assert_books_balance_and_no_channel_oversells(amazon_sandbox)

    # Paid for and shipped: one sale, however often reported.
    amazon_sandbox.set_order_status(order["AmazonOrderId"], "Unshipped")
    amazon_sandbox.ship_order(order["AmazonOrderId"])
    for delivery in webhook_receiver.wait_for(4)[2:]:
        post(live_server.url, account, delivery.body)
        post(live_server.url, account, delivery.body)
    process_stored_events(concurrently=True)
    pull_orders(account)
    deliver_outbox_task.apply().get()

    booked.refresh_from_db()
    assert booked.status == "consumed"
    assert levels(warehouse, variant) == (7, 0)
    assert StockMovement.objects.get(reason=StockMovement.Reason.SALE).quantity == -3
    assert every_channel_sells(7)
    assert amazon_sandbox.mfn_quantity(SKU) == 7
    assert_books_balance_and_no_channel_oversells(amazon_sandbox)
    assert not amazon_sandbox.spec_violations()


@pytest.mark.django_db(transaction=True)
def test_a_cancellation_gives_the_units_back_once(world, amazon_sandbox, webhook_receiver, live_server, warehouse):
    account, variant, _ = world
    amazon_sandbox.configure_webhook(webhook_receiver.url, api_key_name="x-api-key", api_key_value=SECRET)
    order = amazon_sandbox.place_order(SKU, 4, status="Unshipped")
    for delivery in webhook_receiver.wait_for(2):
        post(live_server.url, account, delivery.body)
    process_stored_events()
    deliver_outbox_task.apply().get()
    assert levels(warehouse, variant) == (6, 0)  # sold at once: paid for
    assert amazon_sandbox.mfn_quantity(SKU) == 6

    amazon_sandbox.cancel_order(order["AmazonOrderId"])
    cancelled, given_back = webhook_receiver.wait_for(4)[2:]
    run_concurrently(lambda _: post(live_server.url, account, cancelled.body), range(3))
    post(live_server.url, account, given_back.body)
    process_stored_events(concurrently=True)
    pull_orders(account)
    pull_orders(account)
    deliver_outbox_task.apply().get()

    assert Reservation.objects.get().status == "consumed"  # the sale stays, returned to the shelf
    assert levels(warehouse, variant) == (10, 0)
    assert StockMovement.objects.filter(reason=StockMovement.Reason.RETURN).count() == 1
    assert every_channel_sells(10)
    assert amazon_sandbox.mfn_quantity(SKU) == 10
    assert_books_balance_and_no_channel_oversells(amazon_sandbox)


@pytest.mark.django_db
def test_the_pull_alone_books_orders_and_a_cancellation_heard_first_holds_nothing(world, amazon_sandbox, warehouse):
    account, variant, _ = world
    held = amazon_sandbox.place_order(SKU, 2)
    never_held = amazon_sandbox.place_order(SKU, 1)
    amazon_sandbox.cancel_order(never_held["AmazonOrderId"])

    first = pull_orders(account)
    second = pull_orders(account)

    statuses = dict(Reservation.objects.values_list("order_ref", "status"))
    assert statuses == {held["AmazonOrderId"]: "active", never_held["AmazonOrderId"]: "released"}
    assert levels(warehouse, variant) == (10, 2)
    assert (first.created_count, second.created_count, second.unchanged_count) == (2, 0, 2)
    items_read = amazon_sandbox.logged_requests("GET", "/orderItems")
    assert len(items_read) == 1  # only the order that needed its lines
    assert account.__class__.objects.get(pk=account.pk).sync_cursor["orders_read_until"]


@pytest.mark.django_db
def test_beat_starts_an_orders_pull_for_each_amazon_account(world):
    account, _, _ = world

    pull_amazon_orders_task.apply().get()

    assert SyncJob.objects.filter(account=account, kind=SyncJob.Kind.ORDERS).count() == 1


@pytest.mark.parametrize("heard", ["order first", "quantity first, order waiting", "quantity first, order unheard"])
@pytest.mark.django_db
def test_drift_never_publishes_back_a_unit_sold_on_amazon(
    world, amazon_sandbox, webhook_receiver, client, warehouse, heard
):
    """Amazon shows 7 after a buyer took 3; whichever notification we hear first, hub_wins never puts 10 back."""
    account, variant, _ = world
    amazon_sandbox.configure_webhook(webhook_receiver.url, api_key_name="x-api-key", api_key_value=SECRET)
    order = amazon_sandbox.place_order(SKU, 3, quantity_notification_first=heard != "order first")
    first, second = webhook_receiver.wait_for(2)
    amazon_sandbox.clear_request_log()

    def deliver(delivery):
        answer = client.post(
            f"/webhooks/{account.pk}/",
            data=delivery.body,
            content_type="application/json",
            headers={"x-api-key": SECRET},
        )
        return answer.json()["id"]

    if heard == "quantity first, order unheard":  # the MFN notification is processed before ORDER_CHANGE arrives
        process_webhook_task.apply(args=[deliver(first)]).get()
        process_webhook_task.apply(args=[deliver(second)]).get()
    else:  # both stored, processed in the order they came
        events = [deliver(first), deliver(second)]
        for pk in events:
            process_webhook_task.apply(args=[pk]).get()
    outbox.deliver_due()

    assert Reservation.objects.get().order_ref == order["AmazonOrderId"]
    assert levels(warehouse, variant) == (10, 3)
    assert every_channel_sells(7)
    assert amazon_sandbox.mfn_quantity(SKU) == 7
    published = [r.body["patches"][0]["value"][0]["quantity"] for r in amazon_sandbox.logged_requests("PATCH")]
    assert 10 not in published
    assert_books_balance_and_no_channel_oversells(amazon_sandbox)
    read_orders = amazon_sandbox.logged_requests("GET", "/orders/v0/orders")
    assert bool(read_orders) == (heard == "quantity first, order unheard")  # Amazon is asked only when we must


@pytest.mark.django_db
def test_a_seller_central_edit_is_still_settled_after_the_orders_are_read(world, amazon_sandbox):
    account, _, _ = world

    conflict = connector_for(account).mfn_quantity_changed(SKU, 4)
    outbox.deliver_due()

    assert conflict.resolution == "published ours again"
    assert amazon_sandbox.mfn_quantity(SKU) == 10
    assert len(amazon_sandbox.logged_requests("GET", "/orders/v0/orders")) == 1  # nothing of Amazon's explains it


@pytest.mark.django_db
def test_an_order_amazon_took_for_units_we_no_longer_have_is_booked_with_a_critical_alert(
    world, amazon_sandbox, warehouse, receive
):
    account, variant, shop = world
    reservations.record_pos_sale(
        channel=shop, sale_id="POS-1", lines=[reservations.LineRequest(variant, 9)], invoice_number="INV-1"
    )  # Amazon has not heard yet: it still offers 10
    order = amazon_sandbox.place_order(SKU, 4, status="Unshipped")

    pull_orders(account)
    evaluate([AlertKind.OVERSELL_INCIDENT])

    assert levels(warehouse, variant) == (0, 0)
    incident = OversellIncident.objects.get()
    assert (incident.reservation.order_ref, incident.quantity) == (order["AmazonOrderId"], 3)
    alert = Alert.objects.get(kind=AlertKind.OVERSELL_INCIDENT)
    assert order["AmazonOrderId"] in alert.message
    assert alert.severity == "critical"
    assert not ledger_mismatches().exists()


@pytest.mark.django_db
def test_an_order_for_skus_we_do_not_sell_books_the_rest_and_says_which(world, amazon_sandbox, client, warehouse):
    account, variant, _ = world
    amazon_sandbox.add_listing("NOT-OURS", 5)
    amazon_sandbox.add_listing("NOBODYS", 5)
    order = amazon_sandbox.place_order(items=[{"sku": SKU, "quantity": 2}, {"sku": "NOT-OURS", "quantity": 1}])
    alien = amazon_sandbox.place_order("NOBODYS", 1)
    notification = next(n for n in amazon_sandbox.notifications() if n["NotificationType"] == "ORDER_CHANGE")

    client.post(
        f"/webhooks/{account.pk}/",
        data=json.dumps(notification),
        content_type="application/json",
        headers={"x-api-key": SECRET},
    )
    process_webhook_task.apply(args=[WebhookEvent.objects.get().pk]).get()
    event = WebhookEvent.objects.get()
    job = pull_orders(account)

    assert (event.status, event.attempts) == (WebhookEvent.Status.REJECTED, 1)  # said once, never retried
    assert "NOT-OURS" in event.last_error
    assert order["AmazonOrderId"] in event.last_error
    assert levels(warehouse, variant) == (10, 2)  # its line of ours is held
    booked = dict(Reservation.objects.values_list("order_ref", "status"))
    assert booked == {order["AmazonOrderId"]: "active", alien["AmazonOrderId"]: "active"}
    assert (job.unchanged_count, job.failed_count) == (1, 1)
    assert any("NOBODYS" in error and alien["AmazonOrderId"] in error for error in job.errors)
    assert pull_orders(account).failed_count == 0  # recorded: not reported again


@pytest.mark.django_db
def test_afn_orders_move_nothing_but_through_the_fba_warehouse(world, amazon_sandbox, warehouse):
    account, variant, _ = world
    amazon_sandbox.add_listing("FBA-1", fba=True, fulfillable=5)
    fba_variant = VariantFactory(sku="FBA-1")
    run_sync_job_task.apply(args=[start_sync(account, SyncJob.Kind.FULL, enqueue=False)[0].pk]).get()
    amazon_sandbox.place_order("FBA-1", 2, fulfillment_channel="AFN", status="Unshipped")

    pull_orders(account)
    run_sync_job_task.apply(args=[start_sync(account, SyncJob.Kind.FULL, enqueue=False)[0].pk]).get()

    assert not Reservation.objects.exists()
    assert StockLevel.objects.get(warehouse=account.warehouse, variant=fba_variant).on_hand == 3
    assert levels(warehouse, variant) == (10, 0)


@pytest.mark.parametrize(
    "notification",
    [
        {"NotificationType": "ORDER_CHANGE", "Payload": ["not", "an", "object"]},
        {"NotificationType": "ORDER_CHANGE", "Payload": {"OrderChangeNotification": {"AmazonOrderId": 7}}},
        {"NotificationType": "LISTINGS_ITEM_MFN_QUANTITY_CHANGE", "Payload": {"Sku": SKU, "Quantity": "many"}},
        {
            "NotificationType": "FBA_INVENTORY_AVAILABILITY_CHANGES",
            "Payload": {"SKU": SKU, "FulfillmentInventoryByMarketplace": "x"},
        },
        {"detail": "a string where the notification should be"},
        {"NotificationType": "ORDER_CHANGE", "Payload": {}, "NotificationMetadata": "not an object"},
    ],
)
@pytest.mark.django_db
def test_a_notification_we_cannot_read_is_rejected_once_with_the_reason(world, client, notification):
    account, _, _ = world
    notification.setdefault("NotificationMetadata", {"NotificationId": "n-1"})

    client.post(
        f"/webhooks/{account.pk}/",
        data=json.dumps(notification),
        content_type="application/json",
        headers={"x-api-key": SECRET},
    )
    process_webhook_task.apply(args=[WebhookEvent.objects.get().pk]).get()

    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts) == (WebhookEvent.Status.REJECTED, 1)
    assert "Amazon" in event.last_error
    assert not Reservation.objects.exists()
