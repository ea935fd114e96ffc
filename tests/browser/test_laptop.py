"""The back office on a laptop (issue 14): Chromium at 1366x768 with the navigation sidebar open, as a
newcomer finds it. The key columns of each list are in view without scrolling sideways, low stock is a
warning, an account's page has its own buttons, a reservation's page is to read, a reseller's sidebar
holds only what can be its data, the dashboard fills the page and a sync's figures move with its bar.
"""

import re
from datetime import timedelta

from django.utils import timezone

from tests.browser.conftest import MANAGER, skip_unless_browser

skip_unless_browser()

from playwright.sync_api import expect  # noqa: E402 - only once the module is known to run

from alerts.models import Kind  # noqa: E402
from connectors.models import ConnectorAccount, SyncJob  # noqa: E402
from inventory import services  # noqa: E402
from inventory.models import Organization, StockMovement  # noqa: E402
from reservations import services as reservations  # noqa: E402
from tests.connectors.accounts import zoho_account  # noqa: E402
from tests.factories import (  # noqa: E402
    AlertFactory,
    ChannelFactory,
    ChannelListingFactory,
    ChannelWarehouseFactory,
    ConnectorAccountFactory,
    OrganizationFactory,
    ProductFactory,
    ReservationLineFactory,
    SyncJobFactory,
    VariantFactory,
    WarehouseFactory,
)

#: The longest SKU and product names of the demo catalogue, and a sale's reference (a reservation id).
LONG_SKU = "TROLLI-CRAWLERS-PINK-LEMONADE-VERY-BERRY-SOUR-XL"
LONG_PRODUCT = "Lotus I+ Heat Management Device, Rechargeable"
SALE_REFERENCE = "vip-smoke:12730091-cbe4-4c9d-bac3-a3b8b49b47c4"
LIVE_TIMEOUT_MS = 10_000


def first_row(page):
    return page.locator("#result_list tbody tr").first


def assert_in_view(page, columns: list[str]) -> None:
    """Each column's heading and first cell end inside the viewport, and neither the page nor the list
    scrolls sideways."""
    expect(page.locator(".main.shifted #nav-sidebar")).to_be_visible()  # the sidebar open, as it starts
    width = page.viewport_size["width"]
    for column in columns:
        heading = page.locator(f"#result_list thead th.column-{column}")
        for cell in (heading, first_row(page).locator(f".field-{column}")):
            expect(cell).to_be_visible()
            box = cell.bounding_box()
            assert box["x"] >= 0, (column, box)
            assert box["x"] + box["width"] <= width, (column, box)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.evaluate("[...document.querySelectorAll('.results')].every(e => e.scrollWidth <= e.clientWidth)")


def _stock_world():
    """A warehouse with a long-named SKU that runs low, one sold out, one healthy, and their ledger."""
    warehouse = WarehouseFactory(code="bmb-cash-carry", name="BMB Cash & Carry")
    product = ProductFactory(name=LONG_PRODUCT)
    low = VariantFactory(sku=LONG_SKU, product=product, low_stock_threshold=5)
    out = VariantFactory(sku="KALOUD-LOTUS-BLACK", product=product, low_stock_threshold=5)
    healthy = VariantFactory(sku="KALOUD-LOTUS-GOLD", product=product, low_stock_threshold=5)
    for variant, quantity in ((low, 3), (out, 2), (healthy, 40)):
        services.receive_stock(
            warehouse=warehouse, variant=variant, quantity=quantity, source=StockMovement.Source.SYSTEM
        )
    services.adjust_stock(
        warehouse=warehouse,
        variant=out,
        delta=-2,
        reason=StockMovement.Reason.SALE,
        source=StockMovement.Source.API,
        reference=SALE_REFERENCE,
    )
    return low, out, healthy


def test_stock_levels_show_their_key_columns_and_low_stock_as_a_warning(page, staff_user, log_in):
    low, out, healthy = _stock_world()
    log_in(page, staff_user())

    page.goto("/admin/inventory/stocklevel/")

    assert_in_view(
        page, ["sku", "warehouse_code", "on_hand", "reserved", "available", "low_stock", "movements", "adjust"]
    )
    rows = {variant.sku: page.locator("#result_list tbody tr").filter(has_text=variant.sku) for variant in (low, out)}
    badge = rows[low.sku].locator("td.field-low_stock .sp-badge")
    expect(badge).to_have_text("Low")
    expect(badge).to_have_css("background-color", "rgb(254, 243, 199)")  # amber
    expect(badge).to_have_attribute("title", re.compile("at or below the threshold of 5"))
    expect(rows[out.sku].locator("td.field-low_stock .sp-badge")).to_have_text("Out")
    healthy_row = page.locator("#result_list tbody tr").filter(has_text=healthy.sku).first
    expect(healthy_row.locator("td.field-low_stock .sp-badge")).to_have_count(0)
    expect(page.locator("td.field-low_stock img")).to_have_count(0)  # no ticks nor crosses


def test_the_ledger_shows_its_key_columns(page, staff_user, log_in):
    _stock_world()
    log_in(page, staff_user())

    page.goto("/admin/inventory/stockmovement/")

    columns = ["when", "sku", "warehouse_code", "signed_quantity", "on_hand_after", "reason", "made_by"]
    assert_in_view(page, [*columns, "short_reference"])
    reference = first_row(page).locator(".field-short_reference .sp-clip")
    expect(reference).to_have_attribute("title", SALE_REFERENCE)  # cut to the column, whole on hover


def test_alerts_show_their_key_columns_and_messages_read_as_sentences(page, staff_user, log_in):
    warehouse = WarehouseFactory(name="BMB Wholesale INC. Cash & Carry")
    AlertFactory(
        kind=Kind.REORDER_POINT,
        severity="medium",
        warehouse=warehouse,
        variant=VariantFactory(sku=LONG_SKU),
        subject_label=f"SKU {LONG_SKU} at BMB Wholesale INC. Cash & Carry",
        message="3 on hand, at or below the reorder point of 6; reorder now to avoid selling out over the weekend.",
    )
    log_in(page, staff_user(MANAGER))

    page.goto("/admin/alerts/alert/")

    assert_in_view(page, ["severity_badge", "kind", "subject_and_message", "status", "count", "last_seen_at"])
    message = first_row(page).locator(".field-subject_and_message .sp-detail")
    expect(message).to_contain_text("reorder now")
    box = message.bounding_box()
    assert box["width"] >= 250, box  # a sentence's width, not a word's
    assert box["height"] <= 4 * 18, box  # a few lines, not one word per line


def test_connector_accounts_and_sync_jobs_show_their_key_columns(page, staff_user, log_in):
    account = ConnectorAccountFactory(name="BMB Wholesale · Zoho Inventory")
    SyncJobFactory(account=account, status=SyncJob.Status.RUNNING, processed=1400, total=4200)
    log_in(page, staff_user())

    page.goto("/admin/connectors/connectoraccount/")
    assert_in_view(
        page, ["name_and_organization", "kind", "warehouse_code", "enabled", "health", "circuit_state", "last_success"]
    )

    page.goto("/admin/connectors/syncjob/")
    assert_in_view(
        page,
        [
            "id",
            "account_and_kind",
            "status_and_progress",
            "live_processed",
            "live_created_count",
            "live_failed_count",
            "live_finished_at",
        ],
    )


def test_an_account_page_has_test_connection_and_sync_now_buttons(page, staff_user, log_in, zoho_sandbox):
    account = zoho_account(zoho_sandbox)
    ConnectorAccount.objects.filter(pk=account.pk).update(name="Zoho BMB")
    log_in(page, staff_user(MANAGER))

    page.goto(f"/admin/connectors/connectoraccount/{account.pk}/change/")
    test_button = page.get_by_role("button", name="Test connection")
    sync_button = page.get_by_role("button", name="Sync now")
    for button in (test_button, sync_button):
        expect(button).to_be_visible()
        box = button.bounding_box()
        assert box["x"] + box["width"] <= page.viewport_size["width"], box

    test_button.click()
    expect(page.locator(".messagelist .success")).to_contain_text("Zoho BMB")
    expect(page).to_have_url(re.compile(rf"/connectoraccount/{account.pk}/change/$"))

    page.get_by_role("button", name="Sync now").click()
    job = SyncJob.objects.get(account=account)
    expect(page.locator(".messagelist")).to_contain_text(f"Incremental pull started (job {job.pk}).")
    assert (job.kind, job.started_by.username) == (SyncJob.Kind.INCREMENTAL, "manager")


def test_a_reservation_page_names_its_lines_and_has_no_save_buttons(page, staff_user, log_in):
    line = ReservationLineFactory(
        variant=VariantFactory(sku=LONG_SKU, product=ProductFactory(name=LONG_PRODUCT)),
        warehouse=WarehouseFactory(code="bmb-cash-carry", name="BMB Cash & Carry"),
        quantity=4,
        unit_price="2.50",
    )
    for user in (staff_user(), staff_user(MANAGER)):
        page.context.clear_cookies()
        log_in(page, user)

        page.goto(f"/admin/reservations/reservation/{line.reservation.pk}/change/")

        lines = page.locator("#reservation-lines tbody tr")
        expect(lines).to_have_count(1)
        expect(lines).to_contain_text(LONG_SKU)
        expect(lines).to_contain_text("BMB Cash & Carry (bmb-cash-carry)")
        expect(lines).to_contain_text("2.50")
        expect(page.locator("#content")).not_to_contain_text(str(line))  # "4 x <id> @ <id>"
        expect(page.locator(".submit-row input[type=submit]")).to_have_count(0)
        expect(page.locator("#content h1")).to_have_text("View reservation")


def test_a_sale_page_shows_its_returns_and_what_it_sold_beyond_our_stock(page, staff_user, log_in):
    warehouse = WarehouseFactory(code="bmb-cash-carry", name="BMB Cash & Carry")
    variant = VariantFactory(sku=LONG_SKU, product=ProductFactory(name=LONG_PRODUCT))
    services.receive_stock(warehouse=warehouse, variant=variant, quantity=3, source=StockMovement.Source.SYSTEM)
    till, marketplace = (ChannelFactory(code=code) for code in ("bookbarber-pos", "amazon-us"))
    for channel in (till, marketplace):
        ChannelWarehouseFactory(channel=channel, warehouse=warehouse)
        ChannelListingFactory(channel=channel, variant=variant)
    sale, _ = reservations.record_pos_sale(channel=till, sale_id="POS-1", lines=[reservations.LineRequest(variant, 2)])
    reservations.record_return(
        channel=till,
        reservation_id=sale.pk,
        return_ref="REFUND-77",
        lines=[reservations.ReturnRequest(variant, 1)],
        restock=True,
        reason="the customer changed their mind",
    )
    order = reservations.record_channel_order(
        channel=marketplace,
        order_ref="113-0000001-0000001",
        lines=[reservations.LineRequest(variant, 5)],
        state=reservations.SOLD,
    )
    log_in(page, staff_user(MANAGER))

    page.goto(f"/admin/reservations/reservation/{sale.pk}/change/")
    returned = page.locator("#reservation-returns tbody tr")
    expect(returned).to_have_count(1)
    expect(returned).to_contain_text("REFUND-77")
    expect(returned).to_contain_text("bmb-cash-carry")
    expect(returned).to_contain_text("the customer changed their mind")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    page.goto(f"/admin/reservations/reservation/{order.pk}/change/")
    expect(page.locator("#reservation-lines")).to_contain_text("none: sold beyond our stock")
    expect(page.locator("#reservation-incidents")).to_contain_text("3 units")
    expect(page.locator("#reservation-incidents")).to_contain_text("source the units or cancel the order")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_reseller_s_sidebar_holds_only_what_can_be_its_data(page, staff_user, log_in):
    WarehouseFactory(name="The supplier's warehouse")  # the test organization's, not the reseller's
    shop = OrganizationFactory(name="Corner Shop", slug="corner-shop", kind=Organization.Kind.RESELLER)
    ChannelFactory(organization=shop, name="Corner Shop web store")
    log_in(page, staff_user(MANAGER, username="shop-manager", organization=shop))

    page.goto("/admin/reservations/reservation/")

    sidebar = page.locator('#nav-sidebar th[scope="row"]')  # a section's row, not its app's heading
    for shown in ("Reservations", "Channel listings", "Alerts", "Channel webhooks"):
        expect(sidebar.get_by_role("link", name=shown, exact=True)).to_be_visible()
    for hidden in ("Warehouses", "Stock levels", "Stock movements", "Connector accounts", "Sync jobs"):
        expect(sidebar.get_by_role("link", name=hidden, exact=True)).to_have_count(0)
    page.goto("/admin/")
    expect(page.locator("#content-main")).not_to_contain_text("Stock levels")
    response = page.goto("/admin/inventory/stocklevel/")  # still answers, as before: nothing of theirs in it
    assert response.status == 200
    expect(page.locator("#changelist")).to_contain_text("0 stock levels")


def test_the_dashboard_fills_the_page(page, staff_user, log_in):
    _stock_world()
    log_in(page, staff_user())

    content = page.locator("#content").bounding_box()
    for part in ("#stockpool-dashboard", ".sp-kpis", "#sync-health", ".sp-charts"):
        box = page.locator(part).bounding_box()
        assert box["width"] >= content["width"] - 2 * 24 - 1, (part, box, content)  # all but the padding
    kpis = page.locator(".sp-kpi")
    last = kpis.nth(kpis.count() - 1).bounding_box()
    row = page.locator(".sp-kpis").bounding_box()
    assert last["x"] + last["width"] >= row["x"] + row["width"] - 1, (last, row)  # no empty track at the end
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_running_job_s_counts_move_with_its_bar_on_the_list_and_the_dashboard(page, staff_user, log_in):
    account = ConnectorAccountFactory(name="Zoho BMB")
    job = SyncJobFactory(account=account, status=SyncJob.Status.RUNNING, total=300, started_at=timezone.now())
    log_in(page, staff_user(MANAGER))

    page.goto("/admin/connectors/syncjob/")
    row = first_row(page)
    page.evaluate("window.loadedOnce = true")
    _worker_counts(job, processed=120, created_count=7, unchanged_count=113)
    expect(row.locator(".field-live_processed")).to_have_text("120", timeout=LIVE_TIMEOUT_MS)
    expect(row.locator(".field-live_created_count")).to_have_text("7")
    expect(row.locator(".field-live_unchanged_count")).to_have_text("113")
    expect(row.locator(".field-live_finished_at")).to_have_text("-")
    finished = _worker_finishes(job, account)
    expect(row.locator(f'[data-sync-status-of="{job.pk}"]')).to_have_text("Succeeded", timeout=LIVE_TIMEOUT_MS)
    expect(row.locator(".field-live_processed")).to_have_text("300")
    expect(row.locator(".field-live_created_count")).to_have_text("20")
    expect(row.locator(".field-live_finished_at")).to_have_text(finished)
    assert page.evaluate("window.loadedOnce") is True

    SyncJob.objects.filter(pk=job.pk).update(status=SyncJob.Status.RUNNING, processed=0, finished_at=None)
    page.goto("/admin/")
    health = page.locator(f'#sync-health tr[data-account="{account.pk}"]')
    expect(health).to_contain_text("0 of 300 processed")
    page.evaluate("window.loadedOnce = true")
    _worker_counts(job, processed=150)
    expect(health).to_contain_text("150 of 300 processed", timeout=LIVE_TIMEOUT_MS)
    _worker_finishes(job, account)
    expect(health).to_contain_text("idle", timeout=LIVE_TIMEOUT_MS)  # the section read again once it ended
    expect(health).to_contain_text("0 failed of 1")
    expect(health.locator(".sp-state")).to_have_text("ok")
    assert page.evaluate("window.loadedOnce") is True


def _worker_counts(job, **counts) -> None:
    """What the sync worker commits after a page of items."""
    SyncJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now(), **counts)


def _worker_finishes(job, account) -> str:
    """The worker's last page and the job's end; the finish time as the admin shows it."""
    finished = timezone.now()
    SyncJob.objects.filter(pk=job.pk).update(
        status=SyncJob.Status.SUCCEEDED,
        processed=300,
        created_count=20,
        unchanged_count=280,
        finished_at=finished,
        heartbeat_at=finished,
    )
    ConnectorAccount.objects.filter(pk=account.pk).update(last_success_at=finished - timedelta(seconds=1))
    return timezone.localtime(finished).strftime("%Y-%m-%d %H:%M")
