"""Channel events: a POS hears, signed and through the outbox, that a SKU sold out elsewhere."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from connectors import outbox, services, signing
from connectors.models import ChannelWebhook, OutboundMessage
from inventory import services as stock
from reservations import services as reservations
from reservations.services import LineRequest

pytestmark = pytest.mark.django_db

ALL_EVENTS = ChannelWebhook.Event.values


@pytest.fixture
def shop(warehouse, variant, channel_with, listing_for):
    """A POS and a web store drawing from one warehouse, both listing the variant."""
    pos = channel_with(warehouse, code="barber-pos", kind="pos")
    web = channel_with(warehouse, code="web-store", kind="storefront")
    listing_for(pos, variant)
    listing_for(web, variant)
    return pos, web


def register(channel, url, events=ALL_EVENTS, **fields):
    webhook = ChannelWebhook(channel=channel, url=url, events=list(events), **fields)
    return webhook, services.save_channel_webhook(webhook)


def receive(warehouse, variant, units):
    stock.receive_stock(warehouse=warehouse, variant=variant, quantity=units, source="admin")


def events():
    return OutboundMessage.objects.filter(kind=OutboundMessage.Kind.CHANNEL_EVENT).order_by("dedupe_key")


def sell(channel, variant, units, sale_id):
    reservations.record_pos_sale(channel=channel, sale_id=sale_id, lines=[LineRequest(variant, units)])


def test_a_sell_out_elsewhere_reaches_the_pos_signed_and_the_restock_enables_it_again(
    shop, warehouse, variant, webhook_receiver
):
    pos, web = shop
    receive(warehouse, variant, 2)
    webhook, secret = register(pos, webhook_receiver.url)
    assert secret.startswith("whsec_")
    assert webhook.secret == secret
    assert secret not in webhook.secret_encrypted

    sell(web, variant, 2, "web-1")  # the web store takes the last two
    assert outbox.deliver_due() == 2

    received = {r.json["type"]: r for r in webhook_receiver.wait_for(2)}
    assert set(received) == {"stock.changed", "listing.disabled"}
    for request in received.values():
        assert signing.verify(request.headers["stockpool-signature"], request.body, secret) is None
        assert signing.verify(request.headers["stockpool-signature"], request.body, "whsec_other") == "bad signature"
        assert request.headers["stockpool-event-id"] == request.json["id"]
        assert request.headers["stockpool-event-type"] == request.json["type"]
        assert request.json["channel"] == "barber-pos"
        assert request.json["data"] == {"sku": variant.sku, "available": 0, "sellable": False}

    receive(warehouse, variant, 3)
    assert outbox.deliver_due() == 2
    later = {r.json["type"]: r.json["data"] for r in webhook_receiver.wait_for(4)[2:]}
    assert later == {
        "stock.changed": {"sku": variant.sku, "available": 3, "sellable": True},
        "listing.enabled": {"sku": variant.sku, "available": 3, "sellable": True},
    }
    webhook.refresh_from_db()
    assert webhook.last_success_at is not None
    assert webhook.last_failure_at is None


def test_many_changes_before_delivery_coalesce_to_the_latest_state(shop, warehouse, variant, webhook_receiver):
    pos, _ = shop
    receive(warehouse, variant, 1)
    register(pos, webhook_receiver.url)
    for _ in range(20):
        receive(warehouse, variant, 1)

    (changed,) = events()  # sellable all along: no transition event
    assert changed.payload["data"]["available"] == 21
    assert outbox.deliver_due() == 1
    assert [r.json["data"]["available"] for r in webhook_receiver.wait_for(1)] == [21]

    receive(warehouse, variant, 1)
    outbox.deliver_due()
    assert [r.json["data"]["available"] for r in webhook_receiver.wait_for(2)] == [21, 22]


def test_the_first_unit_is_a_listing_enabled_event_and_an_unchanged_figure_sends_nothing(
    shop, warehouse, variant, listing_for, webhook_receiver
):
    pos, _ = shop
    register(pos, webhook_receiver.url)
    receive(warehouse, variant, 1)
    assert sorted(m.payload["type"] for m in events()) == ["listing.enabled", "stock.changed"]
    outbox.deliver_due()

    stock.update_listing_rules(pos.listings.get(), max_quantity=1)  # recomputed, still 1 for the POS
    receive(warehouse, variant, 4)  # the POS is capped at 1: its figure does not move
    assert outbox.deliver_due() == 0
    assert len(webhook_receiver.received) == 2


def test_only_the_events_a_webhook_asked_for_are_sent(shop, warehouse, variant, webhook_receiver):
    pos, web = shop
    receive(warehouse, variant, 1)
    register(pos, webhook_receiver.url, events=["listing.disabled"])

    receive(warehouse, variant, 1)  # a stock change with no transition: nothing for this webhook
    assert not events().exists()
    sell(web, variant, 2, "web-2")
    assert [m.payload["type"] for m in events()] == ["listing.disabled"]


def test_channels_without_an_enabled_webhook_queue_nothing(shop, warehouse, variant, webhook_receiver):
    pos, web = shop
    register(pos, webhook_receiver.url, enabled=False)
    receive(warehouse, variant, 3)
    sell(web, variant, 3, "web-3")
    assert not events().exists()


def test_a_receiver_that_is_down_gets_every_event_once_it_recovers(shop, warehouse, variant, webhook_receiver):
    pos, web = shop
    receive(warehouse, variant, 1)
    webhook, _ = register(pos, webhook_receiver.url)
    webhook_receiver.status = 503

    sell(web, variant, 1, "web-4")
    outbox.deliver_due()
    waiting = list(events())
    assert {m.status for m in waiting} == {OutboundMessage.Status.PENDING}
    assert all(m.attempts == 1 and m.next_attempt_at > m.sent_at for m in waiting)
    webhook.refresh_from_db()
    assert "503" in webhook.last_error
    assert webhook.last_failure_at is not None

    webhook_receiver.status = 200
    OutboundMessage.objects.update(next_attempt_at=waiting[0].sent_at)  # their backoff has passed
    assert outbox.deliver_due() == 2
    assert {m.status for m in events()} == {OutboundMessage.Status.DELIVERED}
    delivered = [r.json for r in webhook_receiver.received if r.json]
    assert sorted(e["type"] for e in delivered[-2:]) == ["listing.disabled", "stock.changed"]
    assert outbox.deliver_due() == 0


def test_a_receiver_refusing_events_dead_letters_them_for_a_retry_from_the_admin(
    shop, warehouse, variant, webhook_receiver
):
    pos, _ = shop
    register(pos, webhook_receiver.url, events=["stock.changed"])
    webhook_receiver.status = 400
    receive(warehouse, variant, 1)
    for _ in range(3):
        OutboundMessage.objects.update(next_attempt_at=OutboundMessage.objects.get().created_at)
        outbox.deliver_due()
    assert events().get().status == OutboundMessage.Status.DEAD

    webhook_receiver.status = 200
    assert outbox.retry(events()) == 1
    outbox.deliver_due()
    assert events().get().status == OutboundMessage.Status.DELIVERED


def test_a_webhook_needs_a_known_event_type(shop):
    pos, _ = shop
    with pytest.raises(ValidationError):
        register(pos, "https://pos.example/hooks", events=["stock.teleported"])
    with pytest.raises(ValidationError):
        register(pos, "https://pos.example/hooks", events=[])
    assert not ChannelWebhook.objects.exists()


def test_rotating_the_secret_signs_the_next_event_with_the_new_one(shop, warehouse, variant, webhook_receiver):
    pos, _ = shop
    webhook, old = register(pos, webhook_receiver.url, events=["stock.changed"])
    new = services.rotate_channel_webhook_secret(webhook)
    assert new != old
    receive(warehouse, variant, 1)
    outbox.deliver_due()
    (request,) = webhook_receiver.wait_for(1)
    assert signing.verify(request.headers["stockpool-signature"], request.body, new) is None


def test_the_admin_shows_the_secret_once_and_never_again(shop, admin_client, webhook_receiver):
    pos, _ = shop
    response = admin_client.post(
        reverse("admin:connectors_channelwebhook_add"),
        {"channel": pos.pk, "url": webhook_receiver.url, "events": ["stock.changed", "listing.disabled"]},
        follow=True,
    )
    webhook = ChannelWebhook.objects.get()
    assert webhook.events == ["stock.changed", "listing.disabled"]
    assert webhook.secret in response.content.decode()

    page = admin_client.get(reverse("admin:connectors_channelwebhook_change", args=[webhook.pk])).content.decode()
    assert webhook.secret not in page
    assert webhook.secret_encrypted not in page


def test_the_api_docs_describe_the_events_and_their_signature(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert set(schema["webhooks"]) == {"stock.changed", "listing.disabled", "listing.enabled"}
    body = schema["webhooks"]["stock.changed"]["post"]
    assert "Stockpool-Signature" in json.dumps(body)
