"""What became of the documents our pushes made at the systems of record: statuses from webhooks and pulls,
a void there told to a manager (its stock settled by the partner's next figure), duplicates found by
reconciliation, and a sale's page showing them. Against the sandboxes, over real HTTP."""

import pytest
from django.core.management import CommandError, call_command

from alerts import services as alerts
from alerts.models import Alert, Kind
from connectors import outbox, webhooks
from connectors.clients import client_for
from connectors.models import OutboundMessage, PartnerDocument, SyncJob, WebhookEvent
from connectors.reconcile import reconcile
from connectors.sync import run_sync_job, start_sync
from inventory.models import StockLevel, StockMovement, Variant
from reservations import services as reservations
from tests.connectors.accounts import cin7_account, zoho_account
from tests.connectors.outbox_workers import wait_until
from tests.factories import UserFactory, give_role

pytestmark = pytest.mark.django_db

SECRET = "whsec-test-0123456789"
HEAD_OFFICE, SHOP = "Head Office", "Retail Store"


def full_sync(account) -> SyncJob:
    return run_sync_job(start_sync(account, SyncJob.Kind.FULL)[0].pk)


def on_hand(account) -> int:
    return StockLevel.objects.get(warehouse=account.warehouse, variant__sku="TOMB45-001").on_hand


def corrections():
    return StockMovement.objects.filter(reason=StockMovement.Reason.SYNC_CORRECTION)


def replay(client, account, delivery):
    """Send what a partner delivered to the receiver to our endpoint, as it came, and process it."""
    headers = {k: v for k, v in delivery.headers.items() if k.lower() not in ("host", "content-length")}
    answer = client.post(
        f"/webhooks/{account.pk}/", data=delivery.body, content_type="application/json", headers=headers
    ).json()
    return webhooks.process_event(WebhookEvent.objects.get(event_id=answer["event_id"]).pk)


def sell_through(account, channel_with, listing_for, units=2, sale_id="S-1"):
    """A POS sale at the mirrored warehouse, pushed."""
    variant = Variant.objects.get(sku="TOMB45-001")
    channel = channel_with(account.warehouse, code="counter", kind="pos")
    listing_for(channel, variant)
    sale, _ = reservations.record_pos_sale(
        channel=channel, sale_id=sale_id, lines=[reservations.LineRequest(variant, units)]
    )
    outbox.deliver_due()
    return sale


def order_event(receiver, wanted: str):
    """The sales order webhook the receiver got whose status or shipped status is ``wanted``."""
    return wait_until(
        lambda: next(
            (
                delivery
                for delivery in receiver.received
                if isinstance(delivery.json, dict) and wanted in (delivery.json.get("salesorder") or {}).values()
            ),
            None,
        ),
        what=f"a sales order event ({wanted})",
    )


def sale_document() -> PartnerDocument:
    return PartnerDocument.objects.get(kind__in=PartnerDocument.SALE_KINDS, duplicate=False)


class TestZoho:
    @pytest.fixture
    def account(self, zoho_sandbox):
        zoho_sandbox.add_item(sku="TOMB45-001", stock={HEAD_OFFICE: 10})
        account = zoho_account(zoho_sandbox, webhook_secret=SECRET)
        full_sync(account)
        return account

    def test_a_sale_voided_in_zoho_is_told_to_a_manager_and_its_stock_comes_back_once(
        self, account, zoho_sandbox, channel_with, listing_for, superuser, django_capture_on_commit_callbacks
    ):
        sale = sell_through(account, channel_with, listing_for)
        document = sale_document()
        assert (document.reservation, document.status) == (sale, PartnerDocument.Status.FULFILLED)
        assert on_hand(account) == 8

        zoho_sandbox.void_sales_order(document.partner_id)  # a clerk voids it in Zoho's own screens
        with django_capture_on_commit_callbacks(execute=True):
            full_sync(account)

        document.refresh_from_db()
        assert (document.status, document.partner_status) == (PartnerDocument.Status.VOID, "void, fulfilled")
        alert = Alert.objects.active().get(kind=Kind.SALE_VOIDED)
        assert (alert.subject, alert.account, alert.severity) == (f"document:{document.pk}", account, "high")
        assert "S-1" in alert.message
        (correction,) = corrections().exclude(reference=f"zoho sync job {SyncJob.objects.earliest('id').pk}")
        assert (correction.quantity, on_hand(account)) == (2, 10)  # the partner's figure settled it, once

        full_sync(account)
        alerts.evaluate([Kind.SALE_VOIDED])
        assert corrections().count() == 2
        assert Alert.objects.active().filter(kind=Kind.SALE_VOIDED).count() == 1  # stays until resolved

        alerts.resolve(Alert.objects.filter(pk=alert.pk), user=superuser, note="refunded at the till")
        alerts.evaluate([Kind.SALE_VOIDED])
        assert not Alert.objects.active().filter(kind=Kind.SALE_VOIDED).exists()

    def test_the_workflow_webhook_reports_a_sales_order_shipped_then_voided(
        self, client, account, zoho_sandbox, channel_with, listing_for, webhook_receiver
    ):
        zoho_sandbox.configure(apply_sales_orders_immediately=False)
        sell_through(account, channel_with, listing_for)
        document = sale_document()
        assert document.status == PartnerDocument.Status.CONFIRMED
        zoho_sandbox.configure_webhook(webhook_receiver.url, headers={"X-Stockpool-Secret": SECRET})

        zoho_sandbox.apply_pending_orders()  # shipped in Zoho
        assert replay(client, account, order_event(webhook_receiver, "fulfilled")).status == "processed"
        document.refresh_from_db()
        assert document.status == PartnerDocument.Status.FULFILLED

        zoho_sandbox.configure(webhooks_for_api_changes=True)
        client_for(account).post(f"/salesorders/{document.partner_id}/status/void")  # through Zoho's own API
        assert replay(client, account, order_event(webhook_receiver, "void")).status == "processed"
        document.refresh_from_db()
        assert document.status == PartnerDocument.Status.VOID

    def test_a_document_made_twice_is_found_by_reconciliation_and_the_command_exits_1(
        self, account, zoho_sandbox, channel_with, listing_for, superuser
    ):
        from inventory import services as stock

        stock.adjust_stock(
            warehouse=account.warehouse,
            variant=Variant.objects.get(),
            delta=1,
            reason="receipt",
            source="admin",
            actor=superuser,
        )
        outbox.deliver_due()
        message = OutboundMessage.objects.get()
        (first,) = zoho_sandbox.adjustments()
        body = {key: first[key] for key in ("date", "reason", "reference_number", "adjustment_type")}
        body["line_items"] = [{"item_id": first["line_items"][0]["item_id"], "quantity_adjusted": 1}]
        client_for(account).post("/inventoryadjustments", json=body)  # as a re-send without a look-up once did

        report = reconcile()

        assert not report.clean
        (line,) = report.duplicates
        assert message.dedupe_key in line
        alert = Alert.objects.active().get(kind=Kind.DUPLICATE_DOCUMENTS)
        assert (alert.subject, alert.count) == (f"account:{account.pk}", 1)
        with pytest.raises(CommandError):
            call_command("reconcile", verbosity=0)
        own = PartnerDocument.objects.get(duplicate=False)
        assert own.partner_id == first["inventory_adjustment_id"]


class TestCin7:
    @pytest.fixture
    def account(self, cin7_sandbox):
        cin7_sandbox.add_item(sku="TOMB45-001", stock={SHOP: 10}, price=14.99)
        account = cin7_account(cin7_sandbox, webhook_secret=SECRET)
        full_sync(account)
        return account

    def test_a_sale_voided_through_cin7s_api_is_reported_by_its_webhook(
        self, client, account, cin7_sandbox, channel_with, listing_for, webhook_receiver
    ):
        sell_through(account, channel_with, listing_for)
        document = sale_document()
        assert (document.status, document.partner_status) == (PartnerDocument.Status.CONFIRMED, "order AUTHORISED")
        cin7_sandbox.configure_webhook(webhook_receiver.url, headers={"verification-token": SECRET})

        client_for(account).request(
            "DELETE", "/sale", params={"ID": document.partner_id, "Void": "true"}, idempotent=True
        )
        voided = wait_until(
            lambda: next((d for d in webhook_receiver.received if b"Sale/Voided" in d.body), None),
            what="Cin7's Sale/Voided event",
        )
        event = replay(client, account, voided)

        assert event.status == WebhookEvent.Status.PROCESSED, event.last_error
        document.refresh_from_db()
        assert (document.status, document.partner_status) == (PartnerDocument.Status.VOID, "VOIDED")
        assert on_hand(account) == 10  # the thin event's sale was read, then its products' availability
        alerts.evaluate([Kind.SALE_VOIDED])
        assert Alert.objects.active().get(kind=Kind.SALE_VOIDED).subject == f"document:{document.pk}"

    def test_a_sale_shipped_in_cin7_is_read_back_by_the_next_pull(
        self, account, cin7_sandbox, channel_with, listing_for
    ):
        sell_through(account, channel_with, listing_for)
        cin7_sandbox.fulfil_sale(sale_document().partner_id)

        full_sync(account)

        assert (sale_document().status, sale_document().partner_status) == (PartnerDocument.Status.FULFILLED, "SHIPPED")
        assert on_hand(account) == 8

    def test_an_empty_header_made_twice_is_a_duplicate_until_it_is_voided_there(
        self, account, cin7_sandbox, channel_with, listing_for
    ):
        sell_through(account, channel_with, listing_for)
        message = OutboundMessage.objects.get()
        header = {"Customer": cin7_sandbox.customer_name, "Location": SHOP, "ExternalID": message.dedupe_key}
        copy = client_for(account).post("/sale", json=header).data  # as a re-send without a look-up once did

        report = reconcile()

        assert [line for line in report.duplicates if copy["Order"]["SaleOrderNumber"] in line]
        assert Alert.objects.active().filter(kind=Kind.DUPLICATE_DOCUMENTS).exists()
        assert sale_document().partner_id == message.response["sale_id"]  # the message's own stays its own

        cin7_sandbox.void_sale(copy["ID"])
        report = reconcile()

        assert report.clean, report.duplicates + report.document_errors
        assert not Alert.objects.active().filter(kind=Kind.DUPLICATE_DOCUMENTS).exists()
        assert not Alert.objects.active().filter(kind=Kind.SALE_VOIDED).exists()  # a copy's void is no sale's


class TestTheSalesPage:
    @pytest.fixture
    def sale(self, zoho_sandbox, channel_with, listing_for):
        zoho_sandbox.add_item(sku="TOMB45-001", stock={HEAD_OFFICE: 10})
        account = zoho_account(zoho_sandbox)
        full_sync(account)
        return sell_through(account, channel_with, listing_for)

    def page(self, client, user, sale):
        client.force_login(user)
        response = client.get(f"/admin/reservations/reservation/{sale.pk}/change/")
        assert response.status_code == 200
        return response.content.decode()

    def test_shows_the_sales_order_its_number_and_status_to_a_manager(self, client, sale, zoho_sandbox):
        (order,) = zoho_sandbox.orders()
        manager = UserFactory(is_staff=True)
        give_role(manager, "Manager", sale.channel.organization)

        page = self.page(client, manager, sale)

        assert 'id="partner-documents"' in page
        assert order["salesorder_number"] in page
        assert "Shipped" in page

    def test_shows_nothing_of_the_partner_to_a_clerk(self, client, sale, zoho_sandbox):
        clerk = UserFactory(is_staff=True)
        give_role(clerk, "Stock clerk", sale.channel.organization)

        page = self.page(client, clerk, sale)

        assert 'id="partner-documents"' not in page
        assert zoho_sandbox.orders()[0]["salesorder_number"] not in page
