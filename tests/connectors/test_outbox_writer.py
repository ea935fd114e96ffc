"""Our changes at mirrored warehouses become outbox messages in the same transaction."""

import pytest

from connectors.models import ExternalRef, OutboundMessage
from connectors.snapshots import ReadWindow, Snapshot, apply_snapshots
from inventory import services as stock
from inventory.exceptions import InsufficientStock
from reservations import services as reservations
from tests.factories import ConnectorAccountFactory, WarehouseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def account():
    return ConnectorAccountFactory()


@pytest.fixture
def pos(account, variant, receive, channel_with, listing_for):
    channel = channel_with(account.warehouse, code="pos", kind="pos")
    listing_for(channel, variant)
    receive(account.warehouse, variant, 10)
    ExternalRef.objects.create(account=account, local_object=variant, external_id="4815000000044208")
    return channel


def test_a_pos_sale_writes_one_push_sale_message_with_its_effect(account, pos, variant):
    reservations.record_pos_sale(channel=pos, sale_id="S-1", lines=[reservations.LineRequest(variant, 2)])

    message = OutboundMessage.objects.get()
    assert (message.account, message.kind, message.status) == (account, "push_sale", "pending")
    assert message.payload["lines"] == [
        {
            "variant_id": variant.pk,
            "sku": variant.sku,
            "name": variant.product.name,
            "external_id": "4815000000044208",
            "quantity": 2,
            "unit_price": str(variant.price),
        }
    ]
    assert message.stock_effects == [{"warehouse_id": account.warehouse_id, "variant_id": variant.pk, "quantity": -2}]
    assert message.payload["reference"] == "pos:S-1"


def test_a_refused_sale_writes_nothing(account, pos, variant):
    with pytest.raises(InsufficientStock):
        reservations.record_pos_sale(channel=pos, sale_id="S-1", lines=[reservations.LineRequest(variant, 11)])

    assert not OutboundMessage.objects.exists()


def test_a_clerks_adjustment_becomes_a_push_adjustment(account, pos, variant, superuser):
    stock.adjust_stock(
        warehouse=account.warehouse, variant=variant, delta=-3, reason="damage", source="admin", actor=superuser
    )

    message = OutboundMessage.objects.get()
    assert message.kind == "push_adjustment"
    assert message.payload["lines"][0]["delta"] == -3
    assert message.payload["reason"].startswith("Stockpool damage")


def test_partner_sourced_changes_are_not_echoed_back(account, pos, variant):
    now = pos.created_at
    apply_snapshots(account, [Snapshot(variant, 4)], ReadWindow(now, now))

    assert not OutboundMessage.objects.exists()


def test_unmirrored_warehouses_send_nothing(variant, receive, superuser):
    local = WarehouseFactory()
    receive(local, variant, 5)

    stock.adjust_stock(warehouse=local, variant=variant, delta=-1, reason="damage", source="admin", actor=superuser)

    assert not OutboundMessage.objects.exists()


def test_a_disabled_account_gets_no_messages(account, pos, variant, superuser):
    account.enabled = False
    account.save()

    stock.adjust_stock(
        warehouse=account.warehouse, variant=variant, delta=1, reason="receipt", source="api", actor=superuser
    )

    assert not OutboundMessage.objects.exists()
