"""Inbound webhooks: authenticated per partner, stored and deduplicated, processed by their connectors.

What the sandboxes send is captured by a local receiver and replayed to our endpoint byte for byte.
"""

import base64
import json
import time

import pytest

from connectors import signing, webhooks
from connectors.models import Kind, SyncConflict, WebhookEvent
from connectors.sync import run_sync_job, start_sync
from inventory.models import StockLevel, StockMovement
from reservations.models import Reservation
from tests.connectors.accounts import amazon_account, cin7_account, zoho_account
from tests.factories import ConnectorAccountFactory, VariantFactory, WarehouseFactory

pytestmark = pytest.mark.django_db

SECRET = "whsec-test-0123456789"


def post(client, account, body: bytes, **headers):
    return client.post(f"/webhooks/{account.pk}/", data=body, content_type="application/json", headers=headers)


def replay(client, account, delivery):
    """Send what a partner delivered to the receiver to our endpoint, headers and body unchanged."""
    kept = {k: v for k, v in delivery.headers.items() if k.lower() not in ("host", "content-length")}
    return post(client, account, delivery.body, **kept)


class TestIntake:
    @pytest.fixture
    def zoho(self):
        account = ConnectorAccountFactory()
        account.webhook_secret = SECRET
        account.save()
        return account

    def test_accepted_with_202_stored_and_queued(self, client, zoho):
        response = post(client, zoho, b'{"item": {"item_id": "1"}}', **{"X-Stockpool-Secret": SECRET})

        assert response.status_code == 202
        event = WebhookEvent.objects.get()
        assert (event.event_type, event.status, event.body) == ("item", "received", '{"item": {"item_id": "1"}}')
        assert event.event_id.startswith("sha256:")

    @pytest.mark.parametrize("header", [{}, {"X-Stockpool-Secret": "wrong"}, {"X-Stockpool-Secret": SECRET + "x"}])
    def test_a_bad_or_missing_secret_is_401_logged_and_nothing_is_stored(self, client, zoho, header, caplog):
        response = post(client, zoho, b'{"item": {}}', **header)

        assert response.status_code == 401
        assert f"Webhook for {zoho} refused" in caplog.text
        assert response.json()["error"]["code"] == "authentication_failed"
        assert not WebhookEvent.objects.exists()

    def test_a_repeated_delivery_is_stored_once(self, client, zoho):
        for _ in range(3):
            assert (
                post(client, zoho, b'{"item": {"item_id": "1"}}', **{"X-Stockpool-Secret": SECRET}).status_code == 202
            )

        assert WebhookEvent.objects.count() == 1

    def test_unknown_or_disabled_account_is_404(self, client, zoho):
        assert post(client, zoho, b"{}", **{"X-Stockpool-Secret": SECRET}).status_code == 202
        zoho.enabled = False
        zoho.save()

        assert client.post("/webhooks/999999/", data=b"{}", content_type="application/json").status_code == 404
        assert post(client, zoho, b"{}", **{"X-Stockpool-Secret": SECRET}).status_code == 404

    def test_malformed_json_is_400(self, client, zoho):
        assert post(client, zoho, b"{not json", **{"X-Stockpool-Secret": SECRET}).status_code == 400
        assert not WebhookEvent.objects.exists()

    def test_an_oversized_body_is_413(self, client, zoho, settings):
        settings.WEBHOOK_MAX_BYTES = 100

        assert post(client, zoho, b'{"x": "' + b"a" * 200 + b'"}', **{"X-Stockpool-Secret": SECRET}).status_code == 413

    def test_only_get_is_refused(self, client, zoho):
        assert client.get(f"/webhooks/{zoho.pk}/").status_code == 405


class TestStockpoolSignature:
    @pytest.fixture
    def medusa(self, channel_with, warehouse):
        account = ConnectorAccountFactory(
            kind=Kind.MEDUSA, warehouse=None, channel=channel_with(warehouse), settings={"location_id": "sloc_1"}
        )
        account.webhook_secret = SECRET
        account.save()
        return account

    def test_a_valid_signature_is_accepted(self, client, medusa):
        body = b'{"id": "evt_1", "type": "order.placed", "data": {}}'

        response = post(client, medusa, body, **{"Stockpool-Signature": signing.sign(SECRET, body)})

        assert response.status_code == 202
        assert WebhookEvent.objects.get().event_id == "evt_1"

    @pytest.mark.parametrize(
        "header",
        [
            lambda body: signing.sign("another secret", body),
            lambda body: signing.sign(SECRET, body + b" "),
            lambda body: signing.sign(SECRET, body, timestamp=int(time.time()) - 301),
            lambda body: "t=1,v1=abc",
            lambda body: "",
        ],
        ids=["forged", "other-body", "stale", "malformed", "missing"],
    )
    def test_forged_stale_or_missing_signatures_are_401(self, client, medusa, header):
        body = b'{"id": "evt_1", "type": "order.placed", "data": {}}'

        assert post(client, medusa, body, **{"Stockpool-Signature": header(body)}).status_code == 401
        assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    ("auth", "header"),
    [
        ("basic", {"Authorization": "Basic " + base64.b64encode(f"cin7:{SECRET}".encode()).decode()}),
        ("bearer", {"Authorization": f"Bearer {SECRET}"}),
        ("", {"verification-token": SECRET}),
    ],
)
def test_cin7_authenticates_as_its_webhook_configuration_says(client, auth, header):
    account = ConnectorAccountFactory(kind=Kind.CIN7_CORE, settings={"location": "Retail Store", "webhook_auth": auth})
    account.webhook_secret = SECRET
    account.save()

    assert post(client, account, b"[]", **header).status_code == 202
    assert post(client, account, b"[1]", **{"Authorization": "Bearer nope"}).status_code == 401


class TestProcessing:
    def test_a_zoho_item_event_refreshes_that_item_through_the_double_count_rule(
        self, client, zoho_sandbox, webhook_receiver
    ):
        account = _zoho_account(zoho_sandbox)
        zoho_sandbox.add_item(sku="TOMB45-001", stock={"Head Office": 10})
        run_sync_job(start_sync(account, "full")[0].pk)
        zoho_sandbox.configure_webhook(webhook_receiver.url, headers={"X-Stockpool-Secret": SECRET})

        zoho_sandbox.adjust_stock("TOMB45-001", "Head Office", -3)  # sold at their counter
        (delivery,) = webhook_receiver.wait_for(1)
        assert replay(client, account, delivery).status_code == 202
        event = webhooks.process_event(WebhookEvent.objects.get().pk)

        assert event.status == WebhookEvent.Status.PROCESSED, event.last_error
        level = StockLevel.objects.get(warehouse=account.warehouse, variant__sku="TOMB45-001")
        assert level.on_hand == 7
        correction = StockMovement.objects.filter(source="webhook").get()
        assert (correction.quantity, correction.reason) == (-3, "sync_correction")

    def test_a_cin7_stock_event_updates_the_level(self, client, cin7_sandbox, webhook_receiver):
        account = _cin7_account(cin7_sandbox)
        cin7_sandbox.add_item(sku="CLIPPER-1", stock={"Retail Store": 4})
        run_sync_job(start_sync(account, "full")[0].pk)
        cin7_sandbox.configure_webhook(webhook_receiver.url, headers={"verification-token": SECRET})

        cin7_sandbox.set_stock("CLIPPER-1", "Retail Store", 9)
        delivery = next(d for d in webhook_receiver.wait_for(1) if d.body.startswith(b"["))
        replay(client, account, delivery)
        event = webhooks.process_event(WebhookEvent.objects.get().pk)

        assert event.status == WebhookEvent.Status.PROCESSED, event.last_error
        assert StockLevel.objects.get(warehouse=account.warehouse, variant__sku="CLIPPER-1").on_hand == 9

    def test_a_level_that_returns_to_an_earlier_figure_is_applied_again(self, client, cin7_sandbox, webhook_receiver):
        """A, B, A: Cin7's third event is byte for byte its first; it must not be taken for a repeat."""
        account = _cin7_account(cin7_sandbox)
        cin7_sandbox.add_item(sku="CLIPPER-1", stock={"Retail Store": 4})
        run_sync_job(start_sync(account, "full")[0].pk)
        cin7_sandbox.configure_webhook(webhook_receiver.url, headers={"verification-token": SECRET})
        level = StockLevel.objects.get(warehouse=account.warehouse, variant__sku="CLIPPER-1")

        for count, figure in enumerate((9, 5, 9), start=1):
            cin7_sandbox.set_stock("CLIPPER-1", "Retail Store", figure)
            delivery = [d for d in webhook_receiver.wait_for(count) if d.body.startswith(b"[")][-1]
            answer = replay(client, account, delivery).json()
            event = WebhookEvent.objects.get(event_id=answer["event_id"])
            webhooks.process_event(event.pk)
            level.refresh_from_db()
            assert level.on_hand == figure
        assert answer["status"] == "requeued"
        assert WebhookEvent.objects.count() == 2

        # A true repeat while the first is still waiting is not queued twice.
        WebhookEvent.objects.filter(pk=event.pk).update(status=WebhookEvent.Status.RECEIVED)
        assert replay(client, account, delivery).json()["status"] == "duplicate"

    def test_amazon_fba_notifications_update_the_fba_warehouse_and_late_ones_are_ignored(
        self, client, amazon_sandbox, webhook_receiver
    ):
        account = _amazon_account(amazon_sandbox)
        VariantFactory(sku="FBA-1")
        amazon_sandbox.add_listing("FBA-1", fba=True, fulfillable=5)
        amazon_sandbox.configure_webhook(webhook_receiver.url, api_key_name="x-api-key", api_key_value=SECRET)

        amazon_sandbox.set_fba_quantity("FBA-1", 8)
        time.sleep(1.1)  # event times have one-second resolution
        amazon_sandbox.set_fba_quantity("FBA-1", 6)
        first, second = webhook_receiver.wait_for(2)
        for delivery in (second, first):  # delivered out of order
            assert replay(client, account, delivery).status_code == 202
        for event in WebhookEvent.objects.order_by("id"):
            assert webhooks.process_event(event.pk).status == WebhookEvent.Status.PROCESSED

        assert StockLevel.objects.get(warehouse=account.warehouse, variant__sku="FBA-1").on_hand == 6

    def test_an_mfn_quantity_change_runs_the_drift_check(
        self, client, amazon_sandbox, webhook_receiver, warehouse, listing_for
    ):
        from connectors import outbox
        from inventory import services as stock

        account = _amazon_account(amazon_sandbox, channel_warehouse=warehouse)
        variant = VariantFactory(sku="MFN-1")
        listing_for(account.channel, variant)
        amazon_sandbox.add_listing("MFN-1", quantity=0)
        stock.receive_stock(warehouse=warehouse, variant=variant, quantity=6, source="admin")
        outbox.deliver_due()
        amazon_sandbox.configure_webhook(webhook_receiver.url, api_key_name="x-api-key", api_key_value=SECRET)

        amazon_sandbox.set_mfn_quantity("MFN-1", 1)  # edited by hand in Seller Central
        (delivery,) = webhook_receiver.wait_for(1)
        replay(client, account, delivery)
        webhooks.process_event(WebhookEvent.objects.get().pk)
        outbox.deliver_due()

        assert SyncConflict.objects.get().resolution == "published ours again"
        assert amazon_sandbox.mfn_quantity("MFN-1") == 6

    def test_a_medusa_order_becomes_one_sale_even_if_delivered_twice(
        self, client, medusa_sandbox, webhook_receiver, warehouse, channel_with, listing_for
    ):
        from inventory import services as stock

        channel = channel_with(warehouse, code="medusa-store")
        variant = VariantFactory(sku="VAPE-1")
        listing_for(channel, variant)
        stock.receive_stock(warehouse=warehouse, variant=variant, quantity=5, source="admin")
        medusa_sandbox.add_inventory_item("VAPE-1", stock={"US Warehouse": 5})
        account = ConnectorAccountFactory(
            kind=Kind.MEDUSA,
            warehouse=None,
            channel=channel,
            api_base_url=medusa_sandbox.api_url,
            settings={"location_id": medusa_sandbox.location_ids["US Warehouse"]},
            credentials={"secret_key": medusa_sandbox.secret_key},
        )
        account.webhook_secret = medusa_sandbox.webhook_secret
        account.save()
        medusa_sandbox.configure_webhook(webhook_receiver.url)

        medusa_sandbox.place_order(items=[{"sku": "VAPE-1", "quantity": 2}], location="US Warehouse")
        (delivery,) = webhook_receiver.wait_for(1)
        replay(client, account, delivery)
        replay(client, account, delivery)
        webhooks.process_event(WebhookEvent.objects.get().pk)

        sale = Reservation.objects.get()
        assert sale.order_ref == f"medusa:{json.loads(delivery.body)['data']['id']}"
        assert StockLevel.objects.get(warehouse=warehouse, variant=variant).on_hand == 3

    def test_an_order_we_cannot_honour_is_rejected_not_retried(self, client, channel_with, warehouse):
        account = ConnectorAccountFactory(
            kind=Kind.MEDUSA, warehouse=None, channel=channel_with(warehouse), settings={"location_id": "sloc_1"}
        )
        account.webhook_secret = SECRET
        account.save()
        body = json.dumps(
            {
                "id": "evt_9",
                "type": "order.placed",
                "data": {"id": "order_9", "items": [{"variant_sku": "GHOST", "quantity": 1}]},
            }
        ).encode()
        post(client, account, body, **{"Stockpool-Signature": signing.sign(SECRET, body)})

        event = webhooks.process_event(WebhookEvent.objects.get().pk)

        assert event.status == WebhookEvent.Status.REJECTED
        assert "GHOST" in event.last_error

    def test_a_partner_outage_fails_the_event_and_a_replay_processes_it(self, client, zoho_sandbox):
        account = _zoho_account(zoho_sandbox)
        zoho_sandbox.add_item(sku="TOMB45-001", stock={"Head Office": 10})
        item_id = zoho_sandbox.item("TOMB45-001")["item_id"]
        body = json.dumps({"item": {"item_id": item_id}}).encode()
        post(client, account, body, **{"X-Stockpool-Secret": SECRET})
        event = WebhookEvent.objects.get()
        zoho_sandbox.configure_faults(error_rate=1.0)

        with pytest.raises(Exception, match="500"):
            webhooks.process_event(event.pk)
        assert WebhookEvent.objects.get().status == WebhookEvent.Status.FAILED

        zoho_sandbox.clear_faults()
        assert webhooks.replay(WebhookEvent.objects.all()) == 1
        assert webhooks.process_event(event.pk).status == WebhookEvent.Status.PROCESSED
        assert StockLevel.objects.get(warehouse=account.warehouse, variant__sku="TOMB45-001").on_hand == 10


def _zoho_account(sandbox):
    return zoho_account(sandbox, webhook_secret=SECRET)


def _cin7_account(sandbox):
    return cin7_account(sandbox, webhook_secret=SECRET)


def _amazon_account(sandbox, channel_warehouse=None):
    from inventory.models import Channel

    channel = Channel.objects.create(
        organization=WarehouseFactory().organization, code="amazon-us", name="Amazon US", kind="marketplace"
    )
    if channel_warehouse is not None:
        channel.warehouse_links.create(warehouse=channel_warehouse, priority=0)
    return amazon_account(sandbox, channel, webhook_secret=SECRET)
