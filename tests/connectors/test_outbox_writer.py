"""Our changes at mirrored warehouses become outbox messages in the same transaction."""

from decimal import Decimal

import pytest

from connectors.models import ExternalRef, OutboundMessage
from connectors.snapshots import ReadWindow, Snapshot, apply_snapshots
from inventory import services as stock
from inventory.exceptions import InsufficientStock
from reservations import services as reservations
from reservations.models import Reservation
from tests.factories import ConnectorAccountFactory, OrganizationFactory, WarehouseFactory

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


def test_a_pos_sale_writes_one_push_sale_message_with_its_effect_and_figures(account, pos, variant):
    reservations.record_pos_sale(
        channel=pos,
        sale_id="S-1",
        invoice_number="INV-7",
        lines=[reservations.LineRequest(variant, 2, unit_price=Decimal("18.50"), tax=Decimal("2.96"))],
    )

    message = OutboundMessage.objects.get()
    assert (message.account, message.kind, message.status) == (account, "push_sale", "pending")
    assert message.payload["lines"] == [
        {
            "variant_id": variant.pk,
            "sku": variant.sku,
            "name": variant.product.name,
            "external_id": "4815000000044208",
            "quantity": 2,
            "unit_price": "18.50",
            "tax": "2.96",
        }
    ]
    assert message.stock_effects == [{"warehouse_id": account.warehouse_id, "variant_id": variant.pk, "quantity": -2}]
    assert message.payload["reference"] == "pos:S-1"
    assert (message.payload["order_ref"], message.payload["invoice_number"]) == ("S-1", "INV-7")
    assert message.payload["channel"] == pos.name
    assert message.payload["reservation_id"] == str(Reservation.objects.get(order_ref="S-1").pk)


def test_a_checkout_sale_without_prices_is_pushed_at_the_catalogue_price(account, pos, variant):
    reservation, _ = reservations.reserve(channel=pos, order_ref="1001", lines=[reservations.LineRequest(variant, 1)])
    reservations.confirm(channel=pos, reservation_id=reservation.pk)

    (line,) = OutboundMessage.objects.get().payload["lines"]
    assert (line["unit_price"], line["tax"]) == (str(variant.price), "0")


def test_another_organizations_sale_reaches_the_supplier_without_its_prices_or_numbers(
    account, variant, channel_with, listing_for, receive
):
    receive(account.warehouse, variant, 10)
    ExternalRef.objects.create(account=account, local_object=variant, external_id="4815000000044208")
    reseller_till = channel_with(account.warehouse, code="rival-pos", kind="pos", organization=OrganizationFactory())
    listing_for(reseller_till, variant)

    sale, _ = reservations.record_pos_sale(
        channel=reseller_till,
        sale_id="R-9",
        invoice_number="RIVAL-INV-9",
        lines=[reservations.LineRequest(variant, 1, unit_price=Decimal("5.00"), tax=Decimal("0.40"))],
    )

    payload = OutboundMessage.objects.get().payload
    assert (payload["order_ref"], payload["invoice_number"]) == ("", "")
    assert payload["reference"] == f"rival-pos:{sale.pk}"
    assert payload["reservation_id"] == str(sale.pk)
    assert (payload["lines"][0]["unit_price"], payload["lines"][0]["tax"]) == (str(variant.price), "0")


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


def test_units_of_a_pushed_sale_coming_back_are_a_return_of_that_sale(account, pos, variant):
    sale, _ = reservations.record_pos_sale(
        channel=pos,
        sale_id="S-1",
        lines=[reservations.LineRequest(variant, 3, unit_price=Decimal("18.50"), tax=Decimal("4.44"))],
    )
    sold = OutboundMessage.objects.get()

    reservations.record_return(
        channel=pos,
        reservation_id=sale.pk,
        return_ref="R-1",
        lines=[reservations.ReturnRequest(variant, 2)],
        restock=True,
        reason="wrong size",
    )

    returned = OutboundMessage.objects.exclude(pk=sold.pk).get()
    assert returned.kind == "push_return"
    assert returned.dedupe_key.startswith("stockpool-return-")
    assert (returned.payload["sale"], returned.payload["reservation_id"]) == (sold.dedupe_key, str(sale.pk))
    assert returned.payload["reference"] == "pos:S-1 return R-1"
    (line,) = returned.payload["lines"]
    assert (line["quantity"], line["unit_price"], line["tax"]) == (2, "18.50", "2.96")
    assert returned.stock_effects == [{"warehouse_id": account.warehouse_id, "variant_id": variant.pk, "quantity": 2}]


def test_a_return_booked_by_hand_without_a_pushed_sale_is_an_adjustment(account, pos, variant, superuser):
    stock.adjust_stock(
        warehouse=account.warehouse, variant=variant, delta=1, reason="return", source="admin", actor=superuser
    )

    message = OutboundMessage.objects.get()
    assert (message.kind, message.payload["lines"][0]["delta"]) == ("push_adjustment", 1)
