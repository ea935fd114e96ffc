"""The Zoho Inventory connector against the Zoho sandbox, over real HTTP."""

import logging
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from connectors import clients, outbox, services
from connectors.clients import client_for
from connectors.http import CircuitOpen, PartnerAuthError, PartnerUnavailable
from connectors.models import ConnectorAccount, ExternalRef, OutboundMessage, PartnerDocument, SyncJob
from connectors.sync import run_sync_job, start_sync
from inventory import services as stock
from inventory.models import Category, StockLevel, StockMovement, Variant
from inventory.selectors import ledger_mismatches
from reservations import services as reservations
from reservations.models import Reservation
from tests.connectors.accounts import zoho_account
from tests.connectors.outbox_workers import (
    expire_leases,
    kill_while_sending,
    send_again_now,
    start_outbox_worker,
    wait_until,
)

pytestmark = pytest.mark.django_db

HEAD_OFFICE = "Head Office"


@pytest.fixture
def account(zoho_sandbox):
    return zoho_account(zoho_sandbox)


def warm_up(account) -> None:
    """One good call first, so the access token is cached before a test breaks the partner."""
    client_for(account).get("/locations")


def full_sync(account) -> SyncJob:
    job, _ = start_sync(account, SyncJob.Kind.FULL)
    return run_sync_job(job.pk)


def on_hand(account, sku) -> int:
    return StockLevel.objects.get(warehouse=account.warehouse, variant__sku=sku).on_hand


def sandbox_stock(sandbox, sku) -> int:
    return int(sandbox.stock(sku, HEAD_OFFICE))


class TestPull:
    def test_full_pull_pages_through_every_item_and_mirrors_the_location(self, account, zoho_sandbox):
        seeded = zoho_sandbox.seed(items=450)

        job = full_sync(account)

        assert job.status == SyncJob.Status.SUCCEEDED, job.errors
        assert (job.processed, job.created_count, job.failed_count) == (450, 450, 0)
        pages = zoho_sandbox.logged_requests("GET", "/items")
        assert [r.query["page"] for r in pages] == ["1", "2", "3"]
        assert all(r.query["per_page"] == "200" for r in pages)
        assert Variant.objects.count() == 450
        assert ExternalRef.objects.filter(account=account, content_type__model="variant").count() == 450
        for item in seeded[:25]:
            assert on_hand(account, item["sku"]) == sandbox_stock(zoho_sandbox, item["sku"])
        assert not ledger_mismatches().exists()
        assert not zoho_sandbox.spec_violations()

    def test_a_second_full_pull_changes_nothing(self, account, zoho_sandbox):
        zoho_sandbox.seed(items=30)
        full_sync(account)
        movements = StockMovement.objects.count()

        job = full_sync(account)

        assert (job.created_count, job.updated_count, job.unchanged_count) == (0, 0, 30)
        assert StockMovement.objects.count() == movements

    def test_incremental_pull_asks_only_for_items_changed_since_the_cursor(self, account, zoho_sandbox):
        items = zoho_sandbox.seed(items=30)
        full_sync(account)
        booked_before = StockMovement.objects.count()
        zoho_sandbox.advance_clock(3600)
        zoho_sandbox.adjust_stock(items[3]["sku"], HEAD_OFFICE, -3)
        cursor = (zoho_sandbox.now() - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S%z")
        ConnectorAccount.objects.filter(pk=account.pk).update(sync_cursor={"last_modified_time": cursor})
        zoho_sandbox.clear_request_log()

        job, _ = start_sync(account, SyncJob.Kind.INCREMENTAL)
        job = run_sync_job(job.pk)

        # (the hour that passed expired our token too: a 401, a fresh token, and the same request again)
        (request,) = [r for r in zoho_sandbox.logged_requests("GET", "/items") if r.status == 200]
        assert request.query["last_modified_time"] == cursor
        assert job.processed == 1
        (correction,) = StockMovement.objects.order_by("id")[booked_before:]
        assert (correction.variant.sku, correction.quantity) == (items[3]["sku"], -3)
        account.refresh_from_db()
        assert account.sync_cursor["last_modified_time"] != cursor  # moved on to this job's start

    def test_a_page_that_is_not_json_is_recorded_as_a_job_error(self, account, zoho_sandbox):
        zoho_sandbox.seed(items=5)
        warm_up(account)
        zoho_sandbox.configure_faults(malformed_rate=1.0)

        job = full_sync(account)

        assert job.status == SyncJob.Status.FAILED
        assert "not JSON" in job.errors[-1]
        account.refresh_from_db()
        assert "not JSON" in account.last_error

    def test_5xx_and_dropped_connections_are_retried(self, account, zoho_sandbox):
        zoho_sandbox.seed(items=450)
        zoho_sandbox.configure_faults(error_rate=0.2, drop_rate=0.1, seed=7)

        job = full_sync(account)

        assert job.status == SyncJob.Status.SUCCEEDED, job.errors
        assert Variant.objects.count() == 450
        faults = [r.fault for r in zoho_sandbox.logged_requests() if r.fault]
        assert faults  # the partner really misbehaved

    def test_timeouts_are_retried_then_reported(self, account, zoho_sandbox):
        account.settings["read_timeout_seconds"] = 0.2
        account.save()
        warm_up(account)
        zoho_sandbox.configure_faults(latency_ms=600)

        with pytest.raises(PartnerUnavailable, match="no answer"):
            client_for(account).get("/locations")

        time.sleep(0.7)  # the sandbox logs the last slow request when it finishes answering it
        assert len(zoho_sandbox.logged_requests("GET", "/locations")) == 1 + client_for(account).max_attempts


class TestAuth:
    def test_token_is_minted_once_and_shared(self, account, zoho_sandbox):
        zoho_sandbox.seed(items=3)

        services.test_connection(account)
        full_sync(account)

        assert len(zoho_sandbox.logged_requests("POST", "/oauth/v2/token")) == 1

    def test_credentials_never_reach_a_url_or_a_log(self, account, zoho_sandbox, caplog):
        zoho_sandbox.seed(items=3)
        caplog.set_level(logging.DEBUG)  # urllib3 logs every request line at DEBUG

        services.test_connection(account)
        full_sync(account)
        zoho_sandbox.revoke_tokens(refresh_token=True)
        from django.core.cache import cache

        cache.clear()
        services.test_connection(account)  # a failure path logs too

        (mint, *_) = zoho_sandbox.logged_requests("POST", "/oauth/v2/token")
        assert not mint.query  # the grant travels in the body
        for secret in (zoho_sandbox.client_secret, zoho_sandbox.refresh_token):
            assert secret not in caplog.text
        account.refresh_from_db()
        assert zoho_sandbox.client_secret not in account.last_error

    def test_expired_token_is_refreshed_on_401(self, account, zoho_sandbox):
        assert services.test_connection(account)[0]
        zoho_sandbox.expire_tokens()

        ok, text = services.test_connection(account)

        assert ok, text
        assert len(zoho_sandbox.logged_requests("POST", "/oauth/v2/token")) == 2
        assert [r.status for r in zoho_sandbox.logged_requests("GET", "/locations")] == [200, 401, 200]

    def test_a_revoked_refresh_token_fails_clearly(self, account, zoho_sandbox):
        zoho_sandbox.revoke_tokens(refresh_token=True)

        with pytest.raises(PartnerAuthError, match="invalid_code"):
            client_for(account).get("/locations")

    def test_test_connection_names_a_missing_location(self, account):
        account.settings["location_id"] = "999"
        account.save()

        ok, text = services.test_connection(account)

        assert not ok
        assert "999" in text


def test_the_rate_limit_is_obeyed_by_many_concurrent_workers(account, zoho_sandbox):
    """Six workers' worth of callers against 1,200 calls a minute: more calls than one minute's burst,
    yet the sandbox never answers 429, because every caller draws from the one Redis bucket."""
    zoho_sandbox.configure(rate_per_minute=1200)
    account.settings["rate_limit_per_minute"] = 1200
    account.save()
    calls, workers = 1260, 6
    failures = []
    started = time.monotonic()

    def worker(count):
        client = client_for(account)  # each worker its own client and session, as separate processes have
        try:
            for _ in range(count):
                client.get("/locations")
        except Exception as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=worker, args=(calls // workers,)) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started

    statuses = [r.status for r in zoho_sandbox.logged_requests("GET", "/locations")]
    assert not failures, failures[:3]
    assert statuses.count(429) == 0
    assert statuses.count(200) == calls
    assert elapsed >= (calls - 1200 * 0.95) / 19 * 0.8  # the limiter made them wait for refills


def test_the_circuit_opens_after_repeated_failures_and_closes_when_the_partner_recovers(account, zoho_sandbox):
    account.settings.update(circuit_fail_max=3, circuit_reset_seconds=1)
    account.save()
    client = client_for(account)
    warm_up(account)
    zoho_sandbox.clear_request_log()
    zoho_sandbox.configure_faults(error_rate=1.0)

    with pytest.raises(CircuitOpen):
        client.get("/locations")
    sent = len(zoho_sandbox.logged_requests("GET", "/locations"))
    with pytest.raises(CircuitOpen):
        client.get("/locations")

    assert sent == 3
    assert len(zoho_sandbox.logged_requests("GET", "/locations")) == 3  # no call while open
    account.refresh_from_db()
    assert account.circuit_state == "open"

    zoho_sandbox.clear_faults()
    time.sleep(1.1)
    assert client.get("/locations").status == 200
    account.refresh_from_db()
    assert account.circuit_state == "closed"


def found_by_search(account, text) -> list[str]:
    """The sales orders a person finds by typing ``text`` in Zoho's search."""
    orders = client_for(account).get("/salesorders", {"search_text": text}).data["salesorders"]
    return [order["salesorder_id"] for order in orders]


class TestPush:
    @pytest.fixture
    def pos(self, account, zoho_sandbox, channel_with, listing_for):
        item = zoho_sandbox.add_item(sku="TOMB45-001", stock={HEAD_OFFICE: 10})
        full_sync(account)
        variant = Variant.objects.get(sku="TOMB45-001")
        channel = channel_with(account.warehouse, code="counter", kind="pos")
        listing_for(channel, variant)
        return channel, variant, item

    def sell(self, pos, units, sale_id="S-1", channel=None, **figures):
        pos_channel, variant, _ = pos
        reservations.record_pos_sale(
            channel=channel or pos_channel,
            sale_id=sale_id,
            lines=[reservations.LineRequest(variant, units, **figures)],
            invoice_number=f"INV-{sale_id}",
        )

    def test_a_sale_here_becomes_one_confirmed_sales_order_there(self, account, zoho_sandbox, pos):
        self.sell(pos, 2)

        assert outbox.deliver_due() == 1

        (order,) = zoho_sandbox.orders()
        message = OutboundMessage.objects.get()
        assert order["reference_number"] == "S-1 / INV-S-1"
        assert found_by_search(account, "S-1") == found_by_search(account, "INV-S-1") == [order["salesorder_id"]]
        assert message.dedupe_key in order["notes"]
        assert order["status"] == "confirmed"
        assert [(line["item_id"], line["quantity"]) for line in order["line_items"]] == [(pos[2]["item_id"], 2)]
        assert sandbox_stock(zoho_sandbox, "TOMB45-001") == 8
        assert message.status == OutboundMessage.Status.DELIVERED
        assert not zoho_sandbox.spec_violations()

    def test_a_sale_written_before_its_item_was_linked_reaches_zoho_by_its_sku(
        self, account, zoho_sandbox, pos, superuser
    ):
        ExternalRef.objects.filter(account=account).delete()  # as before the first sync linked the item
        self.sell(pos, 2)
        stock.adjust_stock(
            warehouse=account.warehouse, variant=pos[1], delta=-1, reason="damage", source="admin", actor=superuser
        )
        assert {line["external_id"] for m in OutboundMessage.objects.all() for line in m.payload["lines"]} == {""}

        assert outbox.deliver_due() == 2

        (order,) = zoho_sandbox.orders()
        (adjustment,) = zoho_sandbox.adjustments()
        assert [line["item_id"] for line in order["line_items"]] == [pos[2]["item_id"]]
        assert [line["item_id"] for line in adjustment["line_items"]] == [pos[2]["item_id"]]
        assert sandbox_stock(zoho_sandbox, "TOMB45-001") == 7
        assert set(OutboundMessage.objects.values_list("status", flat=True)) == {OutboundMessage.Status.DELIVERED}

    def test_the_sales_order_carries_the_price_and_tax_the_pos_charged(self, account, zoho_sandbox, pos):
        (tax,) = client_for(account).get("/settings/taxes").data["taxes"]  # Sales Tax, 8%
        account.settings["tax_id"] = tax["tax_id"]
        account.save()
        self.sell(pos, 2, unit_price=Decimal("18.50"), tax=Decimal("2.96"))
        self.sell(pos, 1, sale_id="S-2", unit_price=Decimal("9.00"), tax=Decimal("0"))

        outbox.deliver_due()

        taxed, untaxed = sorted(zoho_sandbox.orders(), key=lambda order: order["reference_number"])
        (line,), (plain,) = taxed["line_items"], untaxed["line_items"]
        assert (line["rate"], line["quantity"], line["tax_id"]) == (18.5, 2, tax["tax_id"])
        assert line["description"] == "Tax charged: 2.96"
        assert (taxed["sub_total"], taxed["tax_total"], taxed["total"]) == (37, 2.96, 39.96)
        assert (plain["rate"], plain["tax_id"], untaxed["tax_total"]) == (9, "", 0)
        assert not zoho_sandbox.spec_violations()

    def test_a_sale_is_found_by_its_reference_and_our_note_not_by_another_channels_order_number(
        self, account, zoho_sandbox, pos, channel_with, listing_for
    ):
        other_till = channel_with(account.warehouse, code="till-2", kind="pos")
        listing_for(other_till, pos[1])
        self.sell(pos, 1, sale_id="1001")
        outbox.deliver_due()

        self.sell(pos, 1, sale_id="1001", channel=other_till)
        outbox.deliver_due()

        assert [order["reference_number"] for order in zoho_sandbox.orders()] == ["1001 / INV-1001"] * 2
        assert sandbox_stock(zoho_sandbox, "TOMB45-001") == 8

    def test_a_sale_is_never_counted_twice_nor_resurrected(self, account, zoho_sandbox, pos):
        self.sell(pos, 2)
        stale = full_sync(account)  # before delivery: Zoho still says 10
        assert stale.status == SyncJob.Status.SUCCEEDED
        assert on_hand(account, "TOMB45-001") == 8

        outbox.deliver_due()
        full_sync(account)  # after: Zoho says 8

        assert on_hand(account, "TOMB45-001") == 8
        assert (
            not StockMovement.objects.filter(reason="sync_correction", variant__sku="TOMB45-001")
            .exclude(reference__contains=f"job {SyncJob.objects.order_by('id').first().pk}")
            .exists()
        )

    def test_a_sale_in_zohos_own_ui_shows_up_as_one_correction(self, account, zoho_sandbox, pos):
        self.sell(pos, 2)
        outbox.deliver_due()
        zoho_sandbox.adjust_stock("TOMB45-001", HEAD_OFFICE, -1)

        full_sync(account)

        assert on_hand(account, "TOMB45-001") == 7
        (correction,) = StockMovement.objects.filter(reason="sync_correction", quantity=-1)
        assert correction.variant.sku == "TOMB45-001"

    def test_an_unanswered_delivery_is_not_sent_twice(self, account, zoho_sandbox, pos):
        self.sell(pos, 2)
        outbox.deliver_due()
        OutboundMessage.objects.update(status=OutboundMessage.Status.PENDING, next_attempt_at=timezone.now())

        outbox.deliver_due()

        assert len(zoho_sandbox.orders()) == 1
        assert OutboundMessage.objects.get().response["found_existing"] is True

    def test_a_clerks_count_becomes_an_inventory_adjustment(self, account, zoho_sandbox, pos, superuser):
        stock.adjust_stock(
            warehouse=account.warehouse,
            variant=pos[1],
            set_on_hand=13,
            reason="count",
            source="admin",
            actor=superuser,
        )
        outbox.deliver_due()

        (adjustment,) = zoho_sandbox.adjustments()
        assert adjustment["line_items"][0]["quantity_adjusted"] == 3
        assert sandbox_stock(zoho_sandbox, "TOMB45-001") == 13
        assert not zoho_sandbox.spec_violations()

    @pytest.fixture
    def brief_backoff(self, monkeypatch):
        """Zoho clients wait at most 10 ms between their attempts at one call instead of up to 0.25, 0.5, 1 and
        2 s (15 s on average over eight failed deliveries): the outbox's schedule is what is tested here."""
        build = clients._zoho_client

        def _zoho_client(account):
            client = build(account)
            client.max_backoff_seconds = 0.01
            return client

        monkeypatch.setattr(clients, "_zoho_client", _zoho_client)

    @pytest.fixture
    def slow_zoho(self, account, zoho_sandbox, pos, brief_backoff):
        """Zoho answers after 0.7 s, our client gives up after 0.3 s: every call times out, yet Zoho does it."""
        account.settings["read_timeout_seconds"] = 0.3
        account.save()
        warm_up(account)
        zoho_sandbox.configure_faults(latency_ms=700)
        return zoho_sandbox

    def test_a_sales_order_zoho_was_too_slow_to_confirm_is_found_not_made_again(self, account, slow_zoho, pos):
        self.sell(pos, 2)
        outbox.deliver_due()  # the order is created, but we time out before the answer
        wait_until(lambda: slow_zoho.logged_requests("POST", "/salesorders"), what="Zoho to finish the order")
        message = OutboundMessage.objects.get()
        assert (message.status, message.response["sending"]) == ("pending", "salesorder")

        send_again_now()
        outbox.deliver_due()  # still too slow: even the look-up times out, so nothing is sent
        slow_zoho.clear_faults()
        send_again_now()
        outbox.deliver_due()

        (order,) = slow_zoho.orders()
        message.refresh_from_db()
        assert (message.status, message.response["found_existing"]) == ("delivered", True)
        assert message.response["salesorder_id"] == order["salesorder_id"]
        assert len(slow_zoho.logged_requests("POST", "/salesorders")) == 1
        assert sandbox_stock(slow_zoho, "TOMB45-001") == on_hand(account, "TOMB45-001") == 8
        booked = StockMovement.objects.count()
        full_sync(account)
        assert StockMovement.objects.count() == booked  # no correction: the sale counted once on both sides

    def test_an_adjustment_zoho_was_too_slow_to_confirm_is_applied_once(self, account, slow_zoho, pos, superuser):
        stock.adjust_stock(
            warehouse=account.warehouse, variant=pos[1], delta=1, reason="receipt", source="admin", actor=superuser
        )
        for _ in range(3):  # a delta Zoho applied, three deliveries that each timed out
            send_again_now()
            outbox.deliver_due()
        wait_until(lambda: slow_zoho.adjustments(), what="Zoho to finish the adjustment")
        slow_zoho.clear_faults()
        send_again_now()
        outbox.deliver_due()

        (adjustment,) = slow_zoho.adjustments()
        message = OutboundMessage.objects.get()
        assert adjustment["reference_number"] == message.dedupe_key
        assert (message.status, message.response["found_existing"]) == ("delivered", True)
        assert sandbox_stock(slow_zoho, "TOMB45-001") == on_hand(account, "TOMB45-001") == 11
        booked = StockMovement.objects.count()
        full_sync(account)
        assert StockMovement.objects.count() == booked
        assert not slow_zoho.spec_violations()

    def test_a_return_is_an_adjustment_naming_the_sales_order_and_counted_once(self, account, zoho_sandbox, pos):
        self.sell(pos, 3)
        outbox.deliver_due()
        sale = Reservation.objects.get()
        reservations.record_return(
            channel=pos[0],
            reservation_id=sale.pk,
            return_ref="R-1",
            lines=[reservations.ReturnRequest(pos[1], 2)],
            restock=True,
        )
        stale = full_sync(account)  # read before the return reached Zoho: still 7 there
        assert stale.status == SyncJob.Status.SUCCEEDED

        outbox.deliver_due()
        full_sync(account)

        (order,) = zoho_sandbox.orders()
        (adjustment,) = zoho_sandbox.adjustments()
        assert adjustment["line_items"][0]["quantity_adjusted"] == 2
        assert order["salesorder_number"] in adjustment["description"]
        assert adjustment["reason"].startswith("Stockpool return")
        assert sandbox_stock(zoho_sandbox, "TOMB45-001") == on_hand(account, "TOMB45-001") == 9
        first_pull = SyncJob.objects.order_by("id").first()
        assert (
            not StockMovement.objects.filter(reason="sync_correction")
            .exclude(reference=f"zoho sync job {first_pull.pk}")
            .exists()
        )
        documents = PartnerDocument.objects.filter(reservation=sale).order_by("id")
        assert [(d.kind, d.partner_id) for d in documents] == [
            ("sales_order", order["salesorder_id"]),
            ("adjustment", adjustment["inventory_adjustment_id"]),
        ]
        assert not zoho_sandbox.spec_violations()

    def test_failures_are_retried_later_and_dead_lettered_at_last(self, account, zoho_sandbox, pos, brief_backoff):
        self.sell(pos, 1)
        zoho_sandbox.configure_faults(error_rate=1.0)

        for _ in range(outbox.MAX_ATTEMPTS):
            OutboundMessage.objects.update(next_attempt_at=timezone.now())
            outbox.deliver_due()

        message = OutboundMessage.objects.get()
        assert (message.status, message.attempts) == (OutboundMessage.Status.DEAD, outbox.MAX_ATTEMPTS)
        assert message.last_error

        zoho_sandbox.clear_faults()
        outbox.retry(OutboundMessage.objects.all())
        outbox.deliver_due()
        assert OutboundMessage.objects.get().status == OutboundMessage.Status.DELIVERED


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_job_killed_mid_pull_resumes_without_duplicates(account, zoho_sandbox):
    zoho_sandbox.seed(items=1000)
    zoho_sandbox.configure_faults(latency_ms=250)
    job, _ = start_sync(account, SyncJob.Kind.FULL)
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    worker = subprocess.Popen(  # noqa: S603 (our own manage.py)
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            f"from connectors.sync import run_sync_job; run_sync_job({job.pk})",
        ],
        env=env,
        cwd=settings.BASE_DIR,
    )
    try:
        deadline = time.monotonic() + 60
        while SyncJob.objects.get(pk=job.pk).processed < 400:
            assert worker.poll() is None, "the worker ended before it was killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        worker.kill()
        worker.wait()
    killed = SyncJob.objects.get(pk=job.pk)
    assert killed.status == SyncJob.Status.RUNNING
    assert killed.checkpoint["page"] in (3, 4)
    zoho_sandbox.clear_faults()

    resumed = run_sync_job(job.pk)

    assert resumed.status == SyncJob.Status.SUCCEEDED, resumed.errors
    assert resumed.processed == 1000
    assert resumed.created_count == 1000
    assert Variant.objects.count() == 1000
    assert ExternalRef.objects.filter(account=account, content_type__model="variant").count() == 1000
    assert not ledger_mismatches().exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_worker_killed_while_zoho_makes_the_sales_order_leaves_one_order(
    account, zoho_sandbox, channel_with, listing_for
):
    zoho_sandbox.add_item(sku="TOMB45-001", stock={HEAD_OFFICE: 10})
    full_sync(account)
    channel = channel_with(account.warehouse, code="counter", kind="pos")
    listing_for(channel, Variant.objects.get(sku="TOMB45-001"))
    reservations.record_pos_sale(
        channel=channel, sale_id="S-1", lines=[reservations.LineRequest(Variant.objects.get(), 2)]
    )
    zoho_sandbox.configure_faults(latency_ms=1500)

    kill_while_sending(start_outbox_worker(), "salesorder")
    wait_until(lambda: zoho_sandbox.orders(), what="Zoho to finish the order the killed worker asked for")
    zoho_sandbox.clear_faults()
    assert OutboundMessage.objects.get().status == OutboundMessage.Status.SENDING  # held by the dead worker
    assert outbox.deliver_due() == 0  # its lease still runs: nobody sends it meanwhile
    expire_leases()
    outbox.deliver_due()

    (order,) = zoho_sandbox.orders()
    message = OutboundMessage.objects.get()
    assert (message.status, message.response["salesorder_id"]) == ("delivered", order["salesorder_id"])
    assert sandbox_stock(zoho_sandbox, "TOMB45-001") == on_hand(account, "TOMB45-001") == 8
    booked = StockMovement.objects.count()
    full_sync(account)
    assert StockMovement.objects.count() == booked


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def test_zohos_category_tree_is_mirrored_and_items_filed_under_it(account, zoho_sandbox):
    zoho_sandbox.seed(items=20)
    zoho_categories = [
        c for c in client_for(account).get("/categories").data["categories"] if str(c["category_id"]) != "-1"
    ]

    full_sync(account)
    categories_after_first_pull = Category.objects.count()
    full_sync(account)

    assert Category.objects.count() == categories_after_first_pull  # linked again, not copied
    refs = ExternalRef.objects.filter(account=account, content_type__model="category")
    assert sorted(refs.values_list("external_id", flat=True)) == sorted(str(c["category_id"]) for c in zoho_categories)
    for item in zoho_sandbox.items.values():
        category = Variant.objects.select_related("product__category").get(sku=item.sku).product.category
        assert (category.name, str(refs.get(object_id=category.pk).external_id)) == (
            item.category_name,
            str(item.category_id),
        )
