"""The Medusa connector against the Medusa sandbox, over real HTTP."""

import json
from decimal import Decimal

import pytest
from django.core.management.base import CommandError

from connectors import outbox, services
from connectors.management.commands.run_sandbox import Command as RunSandbox
from connectors.medusa import order_state, record_order
from connectors.models import Kind, OutboundMessage, SyncConflict, SyncJob
from connectors.sandbox import MedusaSandbox
from connectors.sync import run_sync_job, start_sync
from inventory import services as stock
from inventory.models import StockLevel, StockMovement
from reservations.models import OversellIncident, Reservation
from tests.factories import ConnectorAccountFactory, VariantFactory

pytestmark = pytest.mark.django_db

STORE = "US Warehouse"


@pytest.fixture
def storefront(medusa_sandbox, warehouse, channel_with, listing_for):
    """The medusa-store channel, its account, and one listed SKU that Medusa also knows."""
    channel = channel_with(warehouse, code="medusa-store")
    variant = VariantFactory(sku="VAPE-MINT-50", price=Decimal("19.50"))
    listing_for(channel, variant)
    medusa_sandbox.add_inventory_item("VAPE-MINT-50", stock={STORE: 0}, price=19.5)
    account = ConnectorAccountFactory(
        kind=Kind.MEDUSA,
        name="Medusa store",
        warehouse=None,
        channel=channel,
        api_base_url=medusa_sandbox.api_url,
        settings={"location_id": medusa_sandbox.location_ids[STORE]},
        credentials={"secret_key": medusa_sandbox.secret_key},
    )
    return account, variant


def receive(warehouse, variant, units):
    stock.receive_stock(warehouse=warehouse, variant=variant, quantity=units, source="admin")


def test_test_connection_finds_the_location(storefront):
    ok, text = services.test_connection(storefront[0])

    assert ok, text
    assert STORE in text


def test_a_bad_secret_key_is_refused(storefront):
    account = storefront[0]
    account.credentials = {"secret_key": "sk_" + "0" * 64}
    account.save()

    ok, text = services.test_connection(account)

    assert not ok
    assert "401" in text


def test_our_availability_is_published_to_the_location_level(storefront, medusa_sandbox, warehouse):
    _, variant = storefront
    for _ in range(5):
        receive(warehouse, variant, 2)

    assert outbox.deliver_due() == 1

    assert medusa_sandbox.stock("VAPE-MINT-50", STORE) == 10
    assert OutboundMessage.objects.get().status == OutboundMessage.Status.DELIVERED
    assert not medusa_sandbox.spec_violations()


def test_medusas_own_reservations_are_added_so_it_sells_exactly_ours(storefront, medusa_sandbox, warehouse):
    _, variant = storefront
    receive(warehouse, variant, 10)
    outbox.deliver_due()
    medusa_sandbox.place_order(items=[{"sku": "VAPE-MINT-50", "quantity": 3}], location=STORE, notify=False)

    receive(warehouse, variant, 1)  # ours is now 11
    outbox.deliver_due()

    level = medusa_sandbox.level("VAPE-MINT-50", STORE)
    assert (level["stocked_quantity"], level["reserved_quantity"], level["available_quantity"]) == (14, 3, 11)


def test_an_order_placed_there_becomes_one_sale_here(storefront, medusa_sandbox, warehouse, webhook_receiver):
    account, variant = storefront
    receive(warehouse, variant, 10)
    outbox.deliver_due()
    medusa_sandbox.configure_webhook(webhook_receiver.url)

    medusa_sandbox.place_order(items=[{"sku": "VAPE-MINT-50", "quantity": 2}], location=STORE)
    (delivery,) = webhook_receiver.wait_for(1)
    event = json.loads(delivery.body)
    sale = record_order(account, event["data"])
    again = record_order(account, event["data"])

    assert again.pk == sale.pk
    assert (sale.kind, sale.status) == (Reservation.Kind.CHANNEL_ORDER, Reservation.Status.CONSUMED)
    assert sale.order_ref == f"medusa:{event['data']['id']}"
    assert (sale.invoice_number, sale.customer_name) == ("1", "shopper@example.com")
    assert sale.lines.get().unit_price == Decimal("19.50")
    assert StockLevel.objects.get(warehouse=warehouse, variant=variant).on_hand == 8
    assert StockMovement.objects.filter(reason="sale").count() == 1


def test_an_order_beyond_our_stock_is_booked_anyway_with_an_oversell_incident(storefront, warehouse):
    account, variant = storefront
    receive(warehouse, variant, 1)

    sale = record_order(account, {"id": "order_01X", "items": [{"variant_sku": "VAPE-MINT-50", "quantity": 2}]})

    assert sale.status == Reservation.Status.CONSUMED
    assert StockLevel.objects.get(warehouse=warehouse, variant=variant).on_hand == 0
    assert OversellIncident.objects.get(reservation=sale).quantity == 1


@pytest.mark.parametrize(
    ("event_type", "order", "state"),
    [
        ("order.placed", {"payment_status": "captured"}, "sold"),
        ("order.placed", {"payment_status": "authorized"}, "sold"),
        ("order.placed", {}, "sold"),
        ("order.placed", {"payment_status": "awaiting"}, "pending"),
        ("order.placed", {"payment_status": "not_paid"}, "pending"),
        ("order.placed", {"payment_status": "awaiting", "fulfillment_status": "fulfilled"}, "sold"),
        ("order.fulfillment_created", {"payment_status": "awaiting"}, "sold"),
        ("order.return_received", {"payment_status": "refunded"}, "sold"),
        ("order.canceled", {"payment_status": "captured"}, "cancelled"),
        ("order.placed", {"status": "canceled", "payment_status": "refunded"}, "cancelled"),
    ],
)
def test_what_each_event_says_became_of_the_order(event_type, order, state):
    assert order_state(event_type, order) == state


def test_drift_found_on_pull_is_settled_by_strategy(storefront, medusa_sandbox, warehouse):
    account, variant = storefront
    receive(warehouse, variant, 10)
    outbox.deliver_due()
    medusa_sandbox.set_stocked_quantity("VAPE-MINT-50", STORE, 4)  # a clerk edited it in Medusa's admin

    job, _ = start_sync(account, SyncJob.Kind.FULL)
    job = run_sync_job(job.pk)

    assert job.status == SyncJob.Status.SUCCEEDED, job.errors
    conflict = SyncConflict.objects.get()
    assert (conflict.local_value, conflict.remote_value, conflict.resolution) == ("10", "4", "published ours again")
    outbox.deliver_due()
    assert medusa_sandbox.stock("VAPE-MINT-50", STORE) == 10


def test_the_demo_sandbox_sends_its_events_to_the_account_of_the_channel_it_mirrors(storefront):
    account = storefront[0]
    sandbox = MedusaSandbox()
    options = {
        "mirror_channel": "medusa-store",
        "mirror_warehouse": "",
        "webhook_url": "http://127.0.0.1:8000/webhooks/{account_id}/",
        "webhook_header": [],
        "webhook_bearer": "",
        "webhook_basic": "",
    }

    RunSandbox()._configure_webhook(sandbox, "medusa", options)
    account.channel.code = "elsewhere"
    account.channel.save()

    assert sandbox.webhook_config()["url"] == f"http://127.0.0.1:8000/webhooks/{account.pk}/"
    with pytest.raises(CommandError, match="no enabled account"):
        RunSandbox()._configure_webhook(sandbox, "medusa", options)
