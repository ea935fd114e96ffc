"""The Medusa subscriber recipe we ship (``integrations/medusa``), run under Node as the subscriber runs it: it reads
the order and the return from the Medusa sandbox's admin API (standing in for Medusa's container) and POSTs them,
signed, to a live Stockpool; the webhook task then runs what was stored as the worker would.

Node is ``node`` (``.ci/run`` installs Debian's ``nodejs``); without it these tests skip saying so, except in CI
(``CI`` set), where they must run.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from connectors import outbox
from connectors.models import Kind, WebhookEvent
from connectors.sandbox import WebhookReceiver
from connectors.sandbox.contracts import load_contract
from connectors.tasks import process_webhook_task
from inventory.models import StockLevel, StockMovement
from inventory.selectors import ledger_mismatches
from reservations.models import Return
from reservations.selectors import reserved_mismatches
from tests.factories import ConnectorAccountFactory, VariantFactory

NODE = shutil.which("node")
RUNNER = Path(__file__).with_name("medusa_recipe_run.js")
STORE = "US Warehouse"
SKU = "VAPE-MINT-50"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not NODE and not os.environ.get("CI"), reason="the recipe runs under Node: no node here"),
]


@pytest.fixture
def shop(live_server, medusa_sandbox, warehouse, receive, channel_with, listing_for):
    """The medusa-store channel with 10 units published to the sandbox's location, and the recipe's settings."""
    channel = channel_with(warehouse, code="medusa-store")
    variant = VariantFactory(sku=SKU)
    listing_for(channel, variant)
    medusa_sandbox.add_inventory_item(SKU, stock={STORE: 0}, price=19.5)
    account = ConnectorAccountFactory(
        kind=Kind.MEDUSA,
        warehouse=None,
        channel=channel,
        api_base_url=medusa_sandbox.api_url,
        settings={"location_id": medusa_sandbox.location_ids[STORE]},
        credentials={"secret_key": medusa_sandbox.secret_key},
    )
    account.webhook_secret = "whsec-recipe-test"
    account.save()
    receive(warehouse, variant, 10)
    outbox.deliver_due()
    settings = {
        "medusaUrl": medusa_sandbox.api_url,
        "secretKey": medusa_sandbox.secret_key,
        "url": f"{live_server.url}/webhooks/{account.pk}/",
        "secret": account.webhook_secret,
    }
    return medusa_sandbox, settings, warehouse, variant


def recipe(settings: dict, name: str, data: dict, **options) -> subprocess.CompletedProcess:
    """The subscriber's handling of one Medusa event (``name`` with Medusa's event ``data``), under Node."""
    arguments = json.dumps({**settings, "name": name, "data": data, "backoffMs": 10, **options})
    return subprocess.run(  # noqa: S603 - our own script, our own arguments
        [NODE or "node", str(RUNNER), arguments], capture_output=True, text=True, timeout=60, check=False
    )


def forward(settings: dict, name: str, data: dict, times: int = 2) -> None:
    """The event delivered ``times`` times (a subscriber retried), then the worker's run over what was stored."""
    for _ in range(times):
        run = recipe(settings, name, data)
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout) == {"status": 202, "attempts": 1}
    for event_pk in WebhookEvent.objects.filter(status=WebhookEvent.Status.RECEIVED).values_list("pk", flat=True):
        process_webhook_task.apply(args=[event_pk])


def on_hand(warehouse, variant) -> int:
    return StockLevel.objects.get(warehouse=warehouse, variant=variant).on_hand


def assert_in_step(sandbox, warehouse, variant) -> None:
    assert not ledger_mismatches().exists()
    assert not list(reserved_mismatches())
    outbox.deliver_due()
    level = StockLevel.objects.get(warehouse=warehouse, variant=variant)
    assert sandbox.level(SKU, STORE)["available_quantity"] == level.on_hand - level.reserved


def test_the_recipe_forwards_an_order_through_its_life_and_stockpool_books_each_step_once(shop):
    sandbox, settings, warehouse, variant = shop
    order = sandbox.place_order([{"sku": SKU, "quantity": 3}], location=STORE)

    forward(settings, "order.placed", {"id": order["id"]})
    assert on_hand(warehouse, variant) == 7
    assert_in_step(sandbox, warehouse, variant)

    fulfilled = sandbox.fulfil_order(order["id"])
    fulfillment_id = fulfilled["fulfillments"][0]["id"]
    forward(settings, "order.fulfillment_created", {"order_id": order["id"], "fulfillment_id": fulfillment_id})
    assert on_hand(warehouse, variant) == 7
    assert_in_step(sandbox, warehouse, variant)

    returned = sandbox.receive_return(order["id"], [{"sku": SKU, "quantity": 1, "damaged_quantity": 1}])
    forward(settings, "order.return_received", {"order_id": order["id"], "return_id": returned["id"]})
    assert on_hand(warehouse, variant) == 8
    assert sorted(Return.objects.values_list("restock", flat=True)) == [False, True]
    assert_in_step(sandbox, warehouse, variant)

    canceled = sandbox.place_order([{"sku": SKU, "quantity": 2}], location=STORE)
    forward(settings, "order.placed", {"id": canceled["id"]})
    sandbox.cancel_order(canceled["id"])
    forward(settings, "order.canceled", {"id": canceled["id"]})

    assert on_hand(warehouse, variant) == 8
    assert list(StockMovement.objects.exclude(reason="receipt").order_by("pk").values_list("reason", "quantity")) == [
        ("sale", -3),
        ("return", 1),
        ("sale", -2),
        ("return", 2),
    ]
    assert_in_step(sandbox, warehouse, variant)
    events = WebhookEvent.objects.order_by("pk")
    assert [(e.event_type, e.status) for e in events] == [
        ("order.placed", "processed"),
        ("order.fulfillment_created", "processed"),
        ("order.return_received", "processed"),
        ("order.placed", "processed"),
        ("order.canceled", "processed"),
    ]
    contract = load_contract("medusa")  # the recipe's bodies are the sandbox's: one contract for both
    assert not [e.event_id for e in events if contract.document_violations("order event", json.loads(e.body))]


def test_the_recipe_retries_a_failing_stockpool_and_stops_at_a_refusal(shop):
    sandbox, settings, _, _ = shop
    order = sandbox.place_order([{"sku": SKU, "quantity": 1}], location=STORE)
    receiver = WebhookReceiver(status=503).start()
    receiver.on_receive = lambda received: setattr(receiver, "status", 503 if not receiver.received else 202)
    try:
        retried = recipe({**settings, "url": receiver.url}, "order.placed", {"id": order["id"]})
        receiver.status, receiver.on_receive = 401, None
        refused = recipe({**settings, "url": receiver.url}, "order.canceled", {"id": order["id"]})
    finally:
        receiver.stop()

    assert json.loads(retried.stdout) == {"status": 202, "attempts": 2}
    assert (refused.returncode, "Stockpool answered 401" in refused.stderr) == (1, True)
    assert len(receiver.received) == 3  # two attempts, then one refused: never retried
    first, second, _ = receiver.received
    assert first.body == second.body
    assert json.loads(first.body)["id"] == f"order.placed:{order['id']}"
    assert all(r.headers["stockpool-signature"].startswith("t=") for r in receiver.received)


def test_an_event_without_its_ids_is_refused_before_anything_is_sent(shop):
    _, settings, _, _ = shop

    run = recipe(settings, "order.return_received", {"order_id": "order_1"})

    assert (run.returncode, "lacks its ids" in run.stderr) == (1, True)
    assert not WebhookEvent.objects.exists()
