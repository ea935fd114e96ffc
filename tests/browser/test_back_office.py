"""The back office in a real browser: what a clerk and a manager do, end to end, against ``live_server``.

Each test builds the little world it needs (live-server tests are transactional: what an earlier
one flushed is gone) and works only through the pages, as a person would; the database is read
afterwards only to confirm what the page said.
"""

import re
import threading
from datetime import timedelta

from django.db import connections
from django.test import RequestFactory
from django.utils import timezone

from tests.browser.conftest import CLERK, MANAGER, skip_unless_browser

skip_unless_browser()

from playwright.sync_api import expect  # noqa: E402 - only once the module is known to run

from alerts.models import Alert, Kind  # noqa: E402
from config.dashboard import dashboard  # noqa: E402
from connectors.models import ConnectorAccount, SyncJob  # noqa: E402
from connectors.sync import run_sync_job  # noqa: E402
from inventory import services  # noqa: E402
from inventory.models import StockMovement  # noqa: E402
from tests.connectors.accounts import zoho_account  # noqa: E402
from tests.factories import (  # noqa: E402
    AlertFactory,
    ChannelFactory,
    ChannelListingFactory,
    ChannelWarehouseFactory,
    SyncJobFactory,
    VariantFactory,
    WarehouseFactory,
)

#: A sync job slow enough to be watched: three pages of items, each answer delayed.
SYNC_ITEMS = 600
SYNC_LATENCY_MS = 500
SYNC_TIMEOUT_MS = 20_000


def row(page, text: str):
    """The changelist row holding ``text``."""
    return page.locator("#result_list tbody tr").filter(has_text=text)


def test_logging_in_refuses_a_wrong_password_and_lets_the_right_one_in(page, staff_user, log_in):
    WarehouseFactory()  # the clerk's organization keeps stock: its sections show
    clerk = staff_user(CLERK)

    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/admin/$"))
    page.get_by_label("Username").fill(clerk.username)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()

    expect(page.locator(".errornote")).to_contain_text("Please enter the correct username and password")
    expect(page).to_have_url(re.compile(r"/admin/login/"))

    log_in(page, clerk)

    expect(page.locator("#content h1")).to_have_text("Back office")
    expect(page.get_by_role("link", name="Stock levels")).to_be_visible()


def test_a_clerk_adjusts_stock_with_a_reason_and_sees_the_new_ledger_row(page, staff_user, log_in):
    warehouse = WarehouseFactory(code="main", name="Main")
    variant = VariantFactory(sku="TOMB45-001")
    services.receive_stock(warehouse=warehouse, variant=variant, quantity=20, source=StockMovement.Source.SYSTEM)
    clerk = staff_user(CLERK)
    log_in(page, clerk)

    page.get_by_role("link", name="Stock levels").first.click()
    row(page, "TOMB45-001").get_by_role("link", name="Adjust").click()
    expect(page.locator("#content h1")).to_contain_text("Adjust stock")
    page.get_by_label("Change by").fill("-3")
    page.get_by_label("Reason").select_option(label="Damage or loss")
    page.get_by_label("Reference").fill("BREAKAGE-17")
    page.get_by_label("Note").fill("Dropped a case in aisle 4.")
    page.get_by_role("button", name=re.compile("^Adjust stock")).click()

    expect(page.locator(".messagelist")).to_contain_text(
        "Booked damage or loss: -3 of TOMB45-001 at main (on hand now 17)."
    )
    expect(page.locator("#content h1")).to_contain_text("stock movement")
    booked = row(page, "BREAKAGE-17")
    expect(booked).to_have_count(1)
    expect(booked.locator("td.field-sku")).to_have_text("TOMB45-001")
    expect(booked.locator("td.field-signed_quantity")).to_have_text("-3")
    expect(booked.locator("td.field-on_hand_after")).to_have_text("17")
    expect(booked.locator("td.field-reason")).to_have_text("Damage or loss")
    expect(booked.locator("td.field-made_by")).to_contain_text(clerk.username)
    movement = StockMovement.objects.get(reference="BREAKAGE-17")
    assert (movement.quantity, movement.reason, movement.actor) == (-3, StockMovement.Reason.DAMAGE, clerk)


def test_a_manager_acknowledges_an_alert_with_a_note(page, staff_user, log_in):
    ours = {"warehouse": WarehouseFactory()}  # the test organization's, of which staff users are members
    out = AlertFactory(variant=VariantFactory(sku="OUT-001"), subject_label="SKU OUT-001", severity="critical", **ours)
    other = AlertFactory(
        variant=VariantFactory(sku="LOW-002"), subject_label="SKU LOW-002", kind=Kind.LOW_STOCK, **ours
    )
    manager = staff_user(MANAGER)
    log_in(page, manager)

    page.goto("/admin/alerts/alert/")
    expect(row(page, "SKU OUT-001").locator("td.field-status")).to_have_text("Open")
    row(page, "SKU OUT-001").locator("input.action-select").check()
    page.locator("select[name=action]").select_option(label="Acknowledge selected alerts")
    page.locator("input[name=note]").fill("Reorder placed with BMB.")
    page.get_by_role("button", name="Go").click()

    expect(page.locator(".messagelist")).to_contain_text("Acknowledged 1 alert(s).")
    expect(row(page, "SKU OUT-001").locator("td.field-status")).to_have_text("Acknowledged")
    expect(row(page, "SKU LOW-002").locator("td.field-status")).to_have_text("Open")
    out.refresh_from_db()
    other.refresh_from_db()
    assert (out.status, out.acknowledged_by, out.note) == (
        Alert.Status.ACKNOWLEDGED,
        manager,
        "Reorder placed with BMB.",
    )
    assert other.status == Alert.Status.OPEN


def test_a_sync_started_in_the_admin_shows_its_progress_live_until_it_succeeds(page, staff_user, log_in, zoho_sandbox):
    account = zoho_account(zoho_sandbox)
    ConnectorAccount.objects.filter(pk=account.pk).update(name="Zoho BMB")
    zoho_sandbox.seed(items=SYNC_ITEMS)
    manager = staff_user(MANAGER)
    log_in(page, manager)

    # Start it as a manager would: "Sync now (full)" on the account.
    page.goto("/admin/connectors/connectoraccount/")
    row(page, "Zoho BMB").locator("input.action-select").check()
    page.locator("select[name=action]").select_option(label="Sync now (full)")
    page.get_by_role("button", name="Go").click()
    job = SyncJob.objects.get(account=account)
    expect(page.locator(".messagelist")).to_contain_text(f"Full pull started (job {job.pk})")
    assert job.status == SyncJob.Status.QUEUED

    page.goto("/admin/connectors/syncjob/")
    row(page, "Zoho BMB").get_by_role("link", name=str(job.pk), exact=True).click()
    status = page.locator(f'[data-sync-status-of="{job.pk}"]')
    bar = page.locator(".sync-progress progress")
    label = page.locator('.sync-progress [data-sync-field="label"]')
    expect(status).to_have_text("Queued")
    page.evaluate("window.loadedOnce = true")  # gone if the page were reloaded

    # The Celery worker's part (the tests' broker is in memory, with no worker): run the job.
    zoho_sandbox.configure_faults(latency_ms=SYNC_LATENCY_MS)
    worker = threading.Thread(target=_run_job, args=(job.pk,), name=f"sync-job-{job.pk}")
    worker.start()
    try:
        expect(status).to_have_text("Running", timeout=SYNC_TIMEOUT_MS)
        expect(label).to_have_text(re.compile(r"^([1-9]\d*|[1-9]\d?%)$"), timeout=SYNC_TIMEOUT_MS)  # under way
        expect(status).to_have_text("Succeeded", timeout=SYNC_TIMEOUT_MS)
    finally:
        worker.join(timeout=SYNC_TIMEOUT_MS / 1000)

    expect(bar).to_have_attribute("value", "100")
    expect(bar).to_have_js_property("value", 100)
    expect(label).to_have_text("100%")
    job.refresh_from_db()
    assert (job.status, job.processed, job.failed_count) == (SyncJob.Status.SUCCEEDED, SYNC_ITEMS, 0)
    # Its figures followed the bar: what the worker counted and when it finished, as a reload would show.
    expect(page.locator(".field-live_processed .readonly")).to_have_text(str(SYNC_ITEMS))
    expect(page.locator(".field-live_created_count .readonly")).to_have_text(str(job.created_count))
    finished = timezone.localtime(job.finished_at).strftime("%Y-%m-%d %H:%M")
    expect(page.locator(".field-live_finished_at .readonly")).to_have_text(finished)
    assert page.evaluate("window.loadedOnce") is True


def _run_job(job_id: int) -> None:
    try:
        run_sync_job(job_id)
    finally:
        connections.close_all()


def test_the_dashboard_draws_every_chart_without_a_script_error(page, staff_user, log_in, console_errors):
    _trading_world()
    root = staff_user()
    log_in(page, root)

    expected = _chart_keys_for(root)
    assert len(expected) >= 5, expected
    panels = page.locator(".sp-chart")
    expect(panels).to_have_count(len(expected))
    for key in expected:
        panel = page.locator(f"#panel-{key}")
        svg = panel.locator("svg")
        expect(svg).to_have_count(1)
        expect(svg).to_be_visible()
        box = svg.bounding_box()
        assert box, key
        assert box["width"] > 200, (key, box)
        assert box["height"] > 60, (key, box)
        assert svg.locator("rect, path, polyline, polygon, line, circle").count() > 0, f"{key} draws nothing"
        expect(svg.locator(".chart-empty")).to_have_count(0)
    page.wait_for_load_state("networkidle")
    assert console_errors == []


def _chart_keys_for(user) -> list[str]:
    request = RequestFactory().get("/admin/")
    request.user = user
    return [chart["key"] for chart in dashboard(request)["charts"]]


def _trading_world() -> None:
    """Enough of everything for each chart to have something to draw."""
    main, shop = WarehouseFactory(code="main", name="Main"), WarehouseFactory(code="shop", name="Shop")
    variants = [VariantFactory(sku=f"DASH-{n:03d}") for n in range(3)]
    for number, variant in enumerate(variants):
        services.receive_stock(warehouse=main, variant=variant, quantity=40 + number, source="system")
        services.receive_stock(warehouse=shop, variant=variant, quantity=5, source="system")
        services.adjust_stock(warehouse=main, variant=variant, delta=-2, reason="damage", source="system")
    channel = ChannelFactory(code="web", name="Web shop")
    ChannelWarehouseFactory(channel=channel, warehouse=main, priority=0)
    for variant in variants:
        ChannelListingFactory(channel=channel, variant=variant)
    services.refresh_listings(listing_ids=channel.listings.values_list("pk", flat=True), cause="rules")
    AlertFactory(variant=variants[0], severity="high")
    AlertFactory(variant=variants[1], severity="low", kind=Kind.LOW_STOCK)
    now = timezone.now()
    for days_ago, minutes, status in ((0, 3, "succeeded"), (1, 5, "succeeded"), (2, 4, "failed")):
        finished = now - timedelta(days=days_ago)
        SyncJobFactory(status=status, started_at=finished - timedelta(minutes=minutes), finished_at=finished)
