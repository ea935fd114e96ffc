"""Medusa orders through their life, end to end: the sandbox places, fulfils, cancels and receives returns as
Medusa does and sends the signed events our subscriber recipe sends; our endpoint stores them byte for byte and
the webhook task runs them as the worker would. After each step the pool moved once (each event delivered
twice), every channel, Medusa's published level included, is at the pool's figure, and the ledger proves out.
"""

import json
from types import SimpleNamespace

import pytest

from connectors import outbox, signing
from connectors.models import Kind, WebhookEvent
from connectors.tasks import process_webhook_task
from connectors.webhooks import unqueued_events
from inventory.models import ChannelListing, StockLevel, StockMovement
from inventory.selectors import ledger_mismatches, listing_availability
from reservations.models import OversellIncident, Reservation, Return
from reservations.selectors import reserved_mismatches
from tests.factories import ConnectorAccountFactory, VariantFactory

pytestmark = pytest.mark.django_db

STORE = "US Warehouse"
SKU = "VAPE-MINT-50"


class Relay:
    """Carries what the sandbox's subscriber sent to our endpoint (each delivery ``times`` times, in the order
    sent or reversed), then runs the webhook task on every stored event as the worker would."""

    def __init__(self, client, account, receiver):
        self.client, self.account, self.receiver = client, account, receiver
        self.forwarded = 0

    def deliver(self, *, times: int = 2, reverse: bool = False) -> list[dict]:
        new = self.receiver.received[self.forwarded :]
        self.forwarded += len(new)
        for delivery in reversed(new) if reverse else new:
            for _ in range(times):
                assert self.post(delivery.body, delivery.headers).status_code == 202
        run_worker()
        return [delivery.json for delivery in new]

    def post(self, body: bytes, headers: dict):
        kept = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length")}
        return self.client.post(
            f"/webhooks/{self.account.pk}/", data=body, content_type="application/json", headers=kept
        )

    def post_signed(self, body: bytes):
        return self.post(body, {signing.HEADER: signing.sign(self.account.webhook_secret, body)})


def run_worker() -> None:
    received = WebhookEvent.objects.filter(status=WebhookEvent.Status.RECEIVED).order_by("pk")
    for event_pk in received.values_list("pk", flat=True):
        process_webhook_task.apply(args=[event_pk])


@pytest.fixture
def store(client, medusa_sandbox, webhook_receiver, warehouse, receive, channel_with, listing_for):
    """The medusa-store channel and a shop's channel selling one SKU from one warehouse of 10 units; Medusa's
    location published and its subscriber sending to a relay to our endpoint."""
    medusa = channel_with(warehouse, code="medusa-store")
    shop = channel_with(warehouse, code="shop")
    variant = VariantFactory(sku=SKU)
    listing_for(medusa, variant)
    listing_for(shop, variant)
    medusa_sandbox.add_inventory_item(SKU, stock={STORE: 0}, price=19.5)
    account = ConnectorAccountFactory(
        kind=Kind.MEDUSA,
        name="Medusa store",
        warehouse=None,
        channel=medusa,
        api_base_url=medusa_sandbox.api_url,
        settings={"location_id": medusa_sandbox.location_ids[STORE]},
        credentials={"secret_key": medusa_sandbox.secret_key},
    )
    account.webhook_secret = medusa_sandbox.webhook_secret
    account.save()
    receive(warehouse, variant, 10)
    outbox.deliver_due()
    medusa_sandbox.configure_webhook(webhook_receiver.url)
    return SimpleNamespace(
        sandbox=medusa_sandbox,
        relay=Relay(client, account, webhook_receiver),
        variant=variant,
        warehouse=warehouse,
    )


def place(store, quantity: int, **options) -> str:
    return store.sandbox.place_order([{"sku": SKU, "quantity": quantity}], location=STORE, **options)["id"]


def level(store) -> tuple[int, int]:
    found = StockLevel.objects.get(warehouse=store.warehouse, variant=store.variant)
    return found.on_hand, found.reserved


def movements() -> list[tuple[str, int]]:
    return list(StockMovement.objects.exclude(reason="receipt").order_by("pk").values_list("reason", "quantity"))


def assert_in_step(store) -> None:
    """The ledger proves out, and once published every channel, Medusa included, is at the pool's figure."""
    assert not ledger_mismatches().exists()
    assert not list(reserved_mismatches())
    outbox.deliver_due()
    availability = listing_availability(ChannelListing.objects.all())
    on_hand, reserved = level(store)
    pool = on_hand - reserved
    assert [(entry.pool, entry.available) for entry in availability] == [(pool, pool)] * 2
    assert store.sandbox.level(SKU, STORE)["available_quantity"] == pool


def test_a_placed_order_sells_once_and_its_fulfilment_moves_nothing(store):
    order_id = place(store, 3)
    events = store.relay.deliver()

    assert [event["type"] for event in events] == ["order.placed"]
    assert (level(store), movements()) == ((7, 0), [("sale", -3)])
    assert Reservation.objects.get().order_ref == f"medusa:{order_id}"
    assert_in_step(store)

    store.sandbox.fulfil_order(order_id)
    store.relay.deliver()

    assert (level(store), movements()) == ((7, 0), [("sale", -3)])
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {WebhookEvent.Status.PROCESSED}
    assert_in_step(store)


def test_a_placed_order_canceled_gives_its_units_back_once(store):
    order_id = place(store, 3)
    store.relay.deliver()

    store.sandbox.cancel_order(order_id)
    store.relay.deliver()

    assert (level(store), movements()) == ((10, 0), [("sale", -3), ("return", 3)])
    assert_in_step(store)


def test_a_fulfilled_order_canceled_gives_its_units_back_once(store):
    order_id = place(store, 4)
    store.relay.deliver()
    store.sandbox.fulfil_order(order_id)
    store.relay.deliver()

    store.sandbox.cancel_order(order_id)
    store.relay.deliver()

    assert (level(store), movements()) == ((10, 0), [("sale", -4), ("return", 4)])
    assert store.sandbox.level(SKU, STORE)["reserved_quantity"] == 0
    assert_in_step(store)


def test_an_order_awaiting_payment_is_held_until_fulfilled_or_canceled(store):
    paid_later = place(store, 2, payment_status="awaiting")
    never_paid = place(store, 3, payment_status="not_paid")
    store.relay.deliver()

    assert (level(store), movements()) == ((10, 5), [])
    assert_in_step(store)

    store.sandbox.fulfil_order(paid_later)
    store.sandbox.cancel_order(never_paid)
    store.relay.deliver()

    assert (level(store), movements()) == ((8, 0), [("sale", -2)])
    assert_in_step(store)


def test_a_received_return_restocks_its_good_units_once_per_medusa_return(store):
    order_id = place(store, 4)
    store.sandbox.fulfil_order(order_id)
    store.relay.deliver()

    store.sandbox.receive_return(order_id, [{"sku": SKU, "quantity": 2, "damaged_quantity": 1}])
    (event,) = store.relay.deliver()

    assert (level(store), movements()) == ((8, 0), [("sale", -4), ("return", 2)])
    assert sorted(Return.objects.values_list("return_ref", "restock")) == [
        (f"{event['return']['id']}:damaged:1", False),
        (f"{event['return']['id']}:restocked:2", True),
    ]
    assert_in_step(store)

    store.sandbox.receive_return(order_id, [{"sku": SKU, "quantity": 1}])
    store.relay.deliver()
    store.sandbox.resend_order_event(order_id, "order.return_received")
    store.relay.deliver()

    assert (level(store), movements()) == ((9, 0), [("sale", -4), ("return", 2), ("return", 1)])
    assert_in_step(store)


def test_events_out_of_order_still_move_the_pool_once(store):
    canceled = place(store, 2)
    store.sandbox.cancel_order(canceled)
    store.relay.deliver(reverse=True)  # the cancel before the order

    assert (level(store), movements()) == ((10, 0), [])
    assert Reservation.objects.get().status == Reservation.Status.RELEASED

    returned = place(store, 3)
    store.sandbox.fulfil_order(returned)
    store.sandbox.receive_return(returned, [{"sku": SKU, "quantity": 1}])
    store.relay.deliver(reverse=True)  # the return, the fulfilment, then the order

    assert (level(store), movements()) == ((8, 0), [("sale", -3), ("return", 1)])
    assert_in_step(store)


def test_an_order_beyond_our_stock_is_booked_with_an_oversell_incident(store):
    store.sandbox.set_stocked_quantity(SKU, STORE, 12, notify=False)  # Medusa thinks it has more than we do
    place(store, 12)
    store.relay.deliver()

    assert (level(store), movements()) == ((0, 0), [("sale", -10)])
    assert OversellIncident.objects.get().quantity == 2
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED
    assert_in_step(store)


@pytest.mark.parametrize(
    ("return_id", "received"),
    [("ret_ANOTHER", 2), ("ret_ANOTHER", 1), ("ret_BEYOND", 3)],
    ids=["the same units again", "one unit again", "more than were ordered"],
)
def test_a_return_of_units_already_returned_or_never_sold_fails_the_event_clearly(store, return_id, received):
    order_id = place(store, 2)
    store.sandbox.fulfil_order(order_id)
    store.sandbox.receive_return(order_id, [{"sku": SKU, "quantity": 2}])
    *_, returned = store.relay.deliver()
    forged = {**returned, "id": f"order.return_received:{return_id}"}
    forged["return"] = {**returned["return"], "id": return_id}
    forged["return"]["items"] = [{**returned["return"]["items"][0], "received_quantity": received}]

    assert store.relay.post_signed(json.dumps(forged).encode()).status_code == 202
    run_worker()
    run_worker()

    event = WebhookEvent.objects.get(event_id=forged["id"])
    assert (event.status, event.attempts) == (WebhookEvent.Status.REJECTED, 1)
    assert "More units would come back than the sale sold" in event.last_error
    assert not unqueued_events(older_than_seconds=0).exists()
    assert (level(store), movements()) == ((10, 0), [("sale", -2), ("return", 2)])
    assert_in_step(store)


def _quantity(text: str):
    return lambda body: body.replace('"quantity":2', f'"quantity":{text}', 1)


def _edit(change):
    def edit(body: str) -> str:
        event = json.loads(body)
        change(event)
        return json.dumps(event)

    return edit


MALFORMED = {
    "quantity as a string": (_quantity('"2"'), "is not a whole number of units"),
    "quantity NaN": (_quantity("NaN"), "is not a whole number of units"),
    "quantity as a float": (_quantity("2.5"), "is not a whole number of units"),
    "quantity true": (_quantity("true"), "is not a whole number of units"),
    "quantity of a googol": (_quantity("1" + "0" * 100), "is not a whole number of units"),
    "no order id": (_edit(lambda event: event["data"].pop("id")), "has no valid id"),
    "no order at all": (_edit(lambda event: event.pop("data")), "carries no order"),
    "no items": (_edit(lambda event: event["data"].pop("items")), "has no list of items"),
    "a variant line without its SKU": (
        _edit(lambda event: event["data"]["items"][0].update(variant_sku=None)),
        "has a variant but no SKU",
    ),
    "a price that is not a number": (
        _edit(lambda event: event["data"]["items"][0].update(unit_price="cheap")),
        "is not a price",
    ),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_order_event_is_rejected_once_with_the_reason(store, case):
    mangle, reason = MALFORMED[case]
    place(store, 2)
    (delivery,) = store.relay.receiver.wait_for(1)
    body = mangle(delivery.body.decode()).encode()

    assert store.relay.post_signed(body).status_code == 202
    run_worker()

    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts) == (WebhookEvent.Status.REJECTED, 1)
    assert reason in event.last_error
    assert (level(store), movements()) == ((10, 0), [])


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda ret: ret.pop("id"), "has no valid id"),
        (lambda ret: ret["items"][0].pop("item_id"), "names no line of order"),
        (lambda ret: ret["items"][0].update(received_quantity=1.5), "is not a whole number of units"),
        (lambda ret: ret.update(order_id="order_ANOTHER"), "belongs to another order"),
    ],
)
def test_a_malformed_return_event_is_rejected_once_with_the_reason(store, change, reason):
    order_id = place(store, 2)
    store.sandbox.fulfil_order(order_id)
    store.relay.deliver()
    store.sandbox.receive_return(order_id, [{"sku": SKU, "quantity": 1}])
    (delivery,) = store.relay.receiver.received[store.relay.forwarded :]
    event = json.loads(delivery.body)
    change(event["return"])

    assert store.relay.post_signed(json.dumps(event).encode()).status_code == 202
    run_worker()

    stored = WebhookEvent.objects.get(event_type="order.return_received")
    assert (stored.status, stored.attempts) == (WebhookEvent.Status.REJECTED, 1)
    assert reason in stored.last_error
    assert (level(store), movements()) == ((8, 0), [("sale", -2)])


def test_an_event_whose_id_is_too_long_to_store_is_kept_under_its_body_hash(store):
    body = json.dumps({"id": "evt_" + "x" * 300, "type": "order." + "x" * 200, "data": {}}).encode()

    response = store.relay.post_signed(body)

    assert response.status_code == 202
    assert response.json()["event_id"].startswith("sha256:")
