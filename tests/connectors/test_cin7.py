"""The Cin7 Core connector against the Cin7 sandbox, over real HTTP."""

import pytest
from django.utils import timezone

from connectors import clients, outbox, services
from connectors.clients import client_for
from connectors.models import ExternalRef, OutboundMessage, PartnerDocument, SyncJob
from connectors.sync import run_sync_job, start_sync
from inventory import services as stock
from inventory.models import StockLevel, StockMovement, Variant
from inventory.selectors import ledger_mismatches
from reservations import services as reservations
from reservations.models import Reservation
from tests.connectors.accounts import cin7_account
from tests.connectors.outbox_workers import (
    expire_leases,
    kill_while_sending,
    send_again_now,
    start_outbox_worker,
    wait_until,
)

pytestmark = pytest.mark.django_db

SHOP = "Retail Store"


@pytest.fixture
def account(cin7_sandbox):
    return cin7_account(cin7_sandbox, circuit_fail_max=50)


def full_sync(account) -> SyncJob:
    job, _ = start_sync(account, SyncJob.Kind.FULL)
    return run_sync_job(job.pk)


def on_hand(account, sku) -> int:
    """Ours at the mirrored warehouse; a product Cin7 never had available here has no level (nothing)."""
    level = StockLevel.objects.filter(warehouse=account.warehouse, variant__sku=sku).first()
    return level.on_hand if level else 0


def test_test_connection_checks_the_location(account):
    ok, text = services.test_connection(account)

    assert ok, text
    assert SHOP in text


def test_wrong_keys_are_refused_clearly(account):
    account.credentials = {"account_id": account.credentials["account_id"], "application_key": "wrong"}
    account.save()

    ok, text = services.test_connection(account)

    assert not ok
    assert "403" in text


def test_full_pull_reads_products_then_the_locations_availability(account, cin7_sandbox):
    seeded = cin7_sandbox.seed(items=1200, locations=[SHOP, "Main Warehouse"])

    job = full_sync(account)

    assert job.status == SyncJob.Status.SUCCEEDED, job.errors
    assert (job.total, job.created_count) == (1200, 1200)
    products = [r for r in cin7_sandbox.logged_requests("GET") if r.path.lower().endswith("/product")]
    assert [r.query["Page"] for r in products] == ["1", "2"]
    assert all(r.query["Limit"] == "1000" for r in products)
    availability = cin7_sandbox.logged_requests("GET", "/ref/productavailability")
    assert {r.query["Location"] for r in availability} == {SHOP}
    assert ExternalRef.objects.filter(account=account).count() == 1200
    for product in seeded[:20]:
        assert on_hand(account, product["SKU"]) == int(cin7_sandbox.availability(product["SKU"], SHOP)["Available"])
    assert not ledger_mismatches().exists()
    assert not cin7_sandbox.spec_violations()


def test_a_product_missing_from_availability_has_nothing_left(account, cin7_sandbox):
    cin7_sandbox.add_item(sku="CLIPPER-1", stock={SHOP: 4})
    full_sync(account)
    assert on_hand(account, "CLIPPER-1") == 4
    cin7_sandbox.set_stock("CLIPPER-1", SHOP, 0)  # now absent from productavailability

    full_sync(account)

    assert on_hand(account, "CLIPPER-1") == 0
    assert StockMovement.objects.filter(reason="sync_correction", quantity=-4).count() == 1


def test_throttling_with_503_is_waited_out(account, cin7_sandbox):
    cin7_sandbox.add_item(sku="CLIPPER-1", stock={SHOP: 4})
    cin7_sandbox.configure_faults(throttle_storm=True)
    services.test_connection(account)  # a storm: refused
    cin7_sandbox.clear_faults()

    job = full_sync(account)

    assert job.status == SyncJob.Status.SUCCEEDED
    assert any(r.status == 503 for r in cin7_sandbox.logged_requests())


class TestPosSales:
    @pytest.fixture
    def pos(self, account, cin7_sandbox, channel_with, listing_for):
        cin7_sandbox.add_item(sku="TOMB45-001", name="Tomb45 Shaving Cream", stock={SHOP: 10}, price=14.99)
        full_sync(account)
        variant = Variant.objects.get(sku="TOMB45-001")
        channel = channel_with(account.warehouse, code="bookbarber-pos", kind="pos")
        listing_for(channel, variant)
        return channel, variant

    def sell(self, pos, units, sale_id="S-1"):
        channel, variant = pos
        reservations.record_pos_sale(channel=channel, sale_id=sale_id, lines=[reservations.LineRequest(variant, units)])

    def test_the_sale_carries_the_pos_figures_and_numbers_where_staff_search_for_them(
        self, account, cin7_sandbox, pos, api_client_for
    ):
        client = api_client_for(pos[0])
        sale = {
            "sale_id": "POS-12345",
            "invoice_number": "INV-2026-001",
            "customer_name": "John Doe",
            "items": [{"sku": "TOMB45-001", "quantity": 2, "price": "18.50", "tax": "2.96"}],
        }
        assert client.post("/api/v1/pos/sales/", sale, format="json").status_code == 201

        assert outbox.deliver_due() == 1

        (pushed,) = cin7_sandbox.orders()
        (line,) = pushed["Order"]["Lines"]
        assert (line["Price"], line["Quantity"], line["Tax"], line["Total"]) == (18.5, 2, 2.96, 37)
        assert line["TaxRule"] == "Tax on Sales"
        order = pushed["Order"]
        assert (order["TotalBeforeTax"], order["Tax"], order["Total"]) == (37, 2.96, 39.96)
        assert pushed["CustomerReference"] == "POS-12345 / INV-2026-001"
        assert "INV-2026-001" in pushed["Note"]
        for typed in ("POS-12345", "INV-2026-001"):
            found = client_for(account).get("/saleList", {"Search": typed}).data["SaleList"]
            assert [row["SaleID"] for row in found] == [pushed["ID"]]
        assert not cin7_sandbox.spec_violations()

    def test_a_pos_sale_is_pushed_as_a_sale_with_an_authorised_order(self, account, cin7_sandbox, pos):
        self.sell(pos, 3)

        assert outbox.deliver_due() == 1

        message = OutboundMessage.objects.get()
        assert message.status == OutboundMessage.Status.DELIVERED, message.last_error
        (sale,) = cin7_sandbox.orders()
        assert sale["Order"]["Status"] == "AUTHORISED"
        assert int(cin7_sandbox.availability("TOMB45-001", SHOP)["Available"]) == 7
        assert not cin7_sandbox.spec_violations()

    def test_a_pushed_sale_is_not_counted_twice_by_the_next_pull(self, account, cin7_sandbox, pos):
        self.sell(pos, 3)
        full_sync(account)  # before delivery: Cin7 still says 10 available
        outbox.deliver_due()
        full_sync(account)  # after: 7

        assert on_hand(account, "TOMB45-001") == 7
        corrections = StockMovement.objects.filter(reason="sync_correction", variant__sku="TOMB45-001")
        assert list(corrections.values_list("quantity", flat=True)) == [10]  # only the first mirror of the level

    def test_a_sale_interrupted_between_header_and_order_is_completed_not_duplicated(self, account, cin7_sandbox, pos):
        self.sell(pos, 1)
        message = OutboundMessage.objects.get()
        # the header went through on an earlier attempt that died before the order was posted
        header = {"Customer": cin7_sandbox.customer_name, "Location": SHOP, "SkipQuote": True}
        sale_id = client_for(account).post("/sale", json=header).data["ID"]
        OutboundMessage.objects.filter(pk=message.pk).update(response={"sale_id": sale_id})

        outbox.deliver_due()
        OutboundMessage.objects.update(status=OutboundMessage.Status.PENDING, next_attempt_at=timezone.now())
        outbox.deliver_due()  # a retry after the order was authorised must not post it again

        assert len(cin7_sandbox.orders()) == 1
        assert OutboundMessage.objects.get().status == OutboundMessage.Status.DELIVERED
        assert int(cin7_sandbox.availability("TOMB45-001", SHOP)["Available"]) == 9

    def test_a_local_count_is_pushed_as_an_absolute_level_and_a_retry_does_not_add_twice(
        self, account, cin7_sandbox, pos, superuser
    ):
        stock.adjust_stock(
            warehouse=account.warehouse, variant=pos[1], delta=2, reason="receipt", source="admin", actor=superuser
        )
        outbox.deliver_due()
        OutboundMessage.objects.update(status=OutboundMessage.Status.PENDING, next_attempt_at=timezone.now())
        outbox.deliver_due()

        assert int(cin7_sandbox.availability("TOMB45-001", SHOP)["OnHand"]) == 12
        assert not cin7_sandbox.spec_violations()

    @pytest.fixture
    def slow_cin7(self, account, cin7_sandbox, pos, monkeypatch):
        """Cin7 answers after 0.7 s, our client gives up after 0.3 s and waits at most 10 ms between attempts at
        a read: every call times out, yet Cin7 does it."""
        build = clients._cin7_client

        def _cin7_client(account):
            client = build(account)
            client.max_backoff_seconds = 0.01
            return client

        monkeypatch.setattr(clients, "_cin7_client", _cin7_client)
        account.settings["read_timeout_seconds"] = 0.3
        account.save()
        cin7_sandbox.configure_faults(latency_ms=700)
        return cin7_sandbox

    def test_a_sale_cin7_was_too_slow_to_confirm_is_found_by_its_external_id_not_made_again(
        self, account, slow_cin7, pos
    ):
        self.sell(pos, 2)
        for _ in range(3):  # the header is made; then even the look-ups time out
            send_again_now()
            outbox.deliver_due()
        wait_until(lambda: slow_cin7.orders(), what="Cin7 to finish the sale")
        slow_cin7.clear_faults()
        send_again_now()
        outbox.deliver_due()

        (sale,) = slow_cin7.orders()  # one sale: no empty headers beside it
        message = OutboundMessage.objects.get()
        assert sale["ExternalID"] == message.dedupe_key
        assert (message.status, message.response["found_existing"]) == ("delivered", True)
        assert sale["Order"]["Status"] == "AUTHORISED"
        assert int(slow_cin7.availability("TOMB45-001", SHOP)["Available"]) == on_hand(account, "TOMB45-001") == 8
        booked = StockMovement.objects.count()
        full_sync(account)
        assert StockMovement.objects.count() == booked

    def test_a_stock_adjustment_cin7_was_too_slow_to_confirm_is_found_by_its_reference(
        self, account, slow_cin7, pos, superuser
    ):
        stock.adjust_stock(
            warehouse=account.warehouse, variant=pos[1], delta=2, reason="receipt", source="admin", actor=superuser
        )
        # an earlier attempt read Cin7's 10 on hand and saved the level to set
        OutboundMessage.objects.update(response={"targets": {"TOMB45-001": 12}})
        for _ in range(3):  # posted, never answered; then even the look-ups time out
            send_again_now()
            outbox.deliver_due()
        wait_until(lambda: slow_cin7.adjustments(), what="Cin7 to finish the adjustment")
        slow_cin7.clear_faults()
        send_again_now()
        outbox.deliver_due()

        (adjustment,) = slow_cin7.adjustments()
        message = OutboundMessage.objects.get()
        assert adjustment["Reference"] == message.dedupe_key
        assert (message.status, message.response["found_existing"]) == ("delivered", True)
        assert int(slow_cin7.availability("TOMB45-001", SHOP)["OnHand"]) == on_hand(account, "TOMB45-001") == 12
        booked = StockMovement.objects.count()
        full_sync(account)
        assert StockMovement.objects.count() == booked
        assert not slow_cin7.spec_violations()

    def return_units(self, pos, units, return_ref="R-1"):
        reservations.record_return(
            channel=pos[0],
            reservation_id=Reservation.objects.get().pk,
            return_ref=return_ref,
            lines=[reservations.ReturnRequest(pos[1], units)],
            restock=True,
        )

    def test_a_return_is_a_credit_note_restocking_the_units_on_the_sale_we_pushed(self, account, cin7_sandbox, pos):
        self.sell(pos, 3)
        outbox.deliver_due()
        self.return_units(pos, 2)
        stale = full_sync(account)  # read before the credit note: Cin7 still has 7 available
        assert stale.status == SyncJob.Status.SUCCEEDED
        assert on_hand(account, "TOMB45-001") == 9

        outbox.deliver_due()
        full_sync(account)

        (sale,) = cin7_sandbox.orders()
        (invoice,) = sale["Invoices"]
        (credit_note,) = sale["CreditNotes"]
        message = OutboundMessage.objects.get(kind="push_return")
        assert (invoice["Status"], credit_note["Status"], sale["Status"]) == ("AUTHORISED", "AUTHORISED", "CREDITED")
        assert message.dedupe_key in credit_note["Memo"]
        assert [(line["Quantity"], line["Location"]) for line in credit_note["Restock"]] == [(2, SHOP)]
        assert int(cin7_sandbox.availability("TOMB45-001", SHOP)["Available"]) == on_hand(account, "TOMB45-001") == 9
        corrections = StockMovement.objects.filter(reason="sync_correction", variant__sku="TOMB45-001")
        assert list(corrections.values_list("quantity", flat=True)) == [10]  # the first mirror of the level only
        documents = PartnerDocument.objects.filter(reservation=Reservation.objects.get()).order_by("id")
        assert [(d.kind, d.number) for d in documents] == [
            ("sale", sale["Order"]["SaleOrderNumber"]),
            ("credit_note", credit_note["CreditNoteNumber"]),
        ]
        assert not cin7_sandbox.spec_violations()

        OutboundMessage.objects.filter(pk=message.pk).update(status="pending", next_attempt_at=timezone.now())
        outbox.deliver_due()  # sent again: the credit note is found by its memo, not made twice
        assert len(cin7_sandbox.orders()[0]["CreditNotes"]) == 1
        assert int(cin7_sandbox.availability("TOMB45-001", SHOP)["OnHand"]) == 12

    def test_a_second_return_of_a_credited_sale_is_a_stock_adjustment(self, account, cin7_sandbox, pos):
        self.sell(pos, 3)
        outbox.deliver_due()
        self.return_units(pos, 1)
        outbox.deliver_due()

        self.return_units(pos, 1, return_ref="R-2")
        outbox.deliver_due()

        (adjustment,) = cin7_sandbox.adjustments()
        second = OutboundMessage.objects.filter(kind="push_return").latest("id")
        assert (adjustment["Reference"], second.response["route"]) == (second.dedupe_key, "adjustment")
        assert int(cin7_sandbox.availability("TOMB45-001", SHOP)["Available"]) == on_hand(account, "TOMB45-001") == 9
        booked = StockMovement.objects.count()
        full_sync(account)
        assert StockMovement.objects.count() == booked


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_worker_killed_while_cin7_makes_the_sale_leaves_one_sale(account, cin7_sandbox, channel_with, listing_for):
    cin7_sandbox.add_item(sku="TOMB45-001", stock={SHOP: 10}, price=14.99)
    full_sync(account)
    channel = channel_with(account.warehouse, code="bookbarber-pos", kind="pos")
    listing_for(channel, Variant.objects.get(sku="TOMB45-001"))
    reservations.record_pos_sale(
        channel=channel, sale_id="S-1", lines=[reservations.LineRequest(Variant.objects.get(), 2)]
    )
    cin7_sandbox.configure_faults(latency_ms=1500)

    kill_while_sending(start_outbox_worker(), "sale")
    wait_until(lambda: cin7_sandbox.orders(), what="Cin7 to finish the sale the killed worker asked for")
    cin7_sandbox.clear_faults()
    expire_leases()
    outbox.deliver_due()

    (sale,) = cin7_sandbox.orders()  # not a second header beside it
    message = OutboundMessage.objects.get()
    assert (message.status, message.response["sale_id"]) == ("delivered", sale["ID"])
    assert sale["Order"]["Status"] == "AUTHORISED"
    assert int(cin7_sandbox.availability("TOMB45-001", SHOP)["Available"]) == on_hand(account, "TOMB45-001") == 8
    booked = StockMovement.objects.count()
    full_sync(account)
    assert StockMovement.objects.count() == booked
