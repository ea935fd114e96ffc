"""What a newcomer met in the admin (issue 14), server side: the sections a user's organizations can have
data in, the low-stock badge, an account's own "Sync now" and "Test connection" buttons, a reservation's
page to read, the live sync figures, and a refused page logged in one line.

How the pages look at 1366x768 is checked in a real browser in tests/browser/test_laptop.py.
"""

import logging

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from connectors import admin as connectors_admin
from connectors.models import ConnectorAccount, SyncJob
from inventory.models import Organization, StockLevel, Warehouse
from reservations.models import Reservation
from tests.factories import (
    ChannelFactory,
    ConnectorAccountFactory,
    OrganizationFactory,
    ReservationLineFactory,
    StockLevelFactory,
    SyncJobFactory,
    UserFactory,
    VariantFactory,
    WarehouseFactory,
    give_role,
)

pytestmark = pytest.mark.django_db

CLERK, MANAGER, ADMINISTRATOR = "Stock clerk", "Manager", "Administrator"

#: Sections whose rows hang off warehouses or partner accounts: a reseller without either has none.
STOCK_SECTIONS = {"inventory.Warehouse", "inventory.StockLevel", "inventory.StockMovement"}
ACCOUNT_SECTIONS = {
    "connectors.ConnectorAccount",
    "connectors.SyncJob",
    "connectors.SyncConflict",
    "connectors.ExternalRef",
    "connectors.WebhookEvent",
}


def admin_url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def sections_of(rf, user) -> set[str]:
    request = rf.get("/admin/")
    request.user = user
    return {model["model"]._meta.label for app in admin.site.get_app_list(request) for model in app["models"]}


@pytest.fixture
def reseller():
    """An organization with a channel of its own and no warehouse, drawing from the test organization's."""
    organization = OrganizationFactory(name="Corner Shop", slug="corner-shop", kind=Organization.Kind.RESELLER)
    ChannelFactory(organization=organization)
    return organization


def staff_of(organization, role, username):
    return give_role(UserFactory(username=username, organization=organization), role, organization)


# --- Sections ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [CLERK, MANAGER])
def test_a_reseller_without_warehouses_is_not_shown_stock_ledger_or_account_sections(rf, reseller, role):
    ConnectorAccountFactory()  # the supplier's warehouse and account exist, but are not the reseller's
    user = staff_of(reseller, role, f"shop-{role.split()[-1].lower()}")

    shown = sections_of(rf, user)

    assert shown & (STOCK_SECTIONS | ACCOUNT_SECTIONS) == set()
    assert {"reservations.Reservation", "inventory.ChannelListing", "alerts.Alert"} <= shown


def test_a_supplier_s_manager_sees_its_stock_and_account_sections(rf):
    ConnectorAccountFactory()

    shown = sections_of(rf, give_role(UserFactory(username="supplier-manager"), MANAGER))

    assert shown >= STOCK_SECTIONS | ACCOUNT_SECTIONS


def test_a_reseller_s_administrator_who_may_add_a_warehouse_or_account_sees_their_sections(rf, reseller):
    shown = sections_of(rf, staff_of(reseller, ADMINISTRATOR, "shop-admin"))

    assert shown >= STOCK_SECTIONS | ACCOUNT_SECTIONS


def test_a_superuser_sees_every_section(rf):
    root = UserFactory(username="root", is_superuser=True)

    assert sections_of(rf, root) == {model._meta.label for model in admin.site._registry}


def test_a_hidden_section_answers_as_before(client, reseller):
    supplier_level = StockLevelFactory(warehouse=WarehouseFactory(), variant=VariantFactory(), on_hand=5)
    client.force_login(staff_of(reseller, MANAGER, "shop-manager"))

    assert client.get(admin_url(StockLevel, "changelist")).status_code == 200  # an empty list, as before
    assert client.get(admin_url(StockLevel, "change", supplier_level.pk)).status_code == 404
    assert client.get(admin_url(Warehouse, "change", supplier_level.warehouse_id)).status_code == 404
    assert client.get(admin_url(ConnectorAccount, "changelist")).status_code == 200
    sidebar = client.get(admin_url(Reservation, "changelist")).content.decode()
    assert 'id="nav-sidebar"' in sidebar
    assert admin_url(StockLevel, "changelist") not in sidebar
    assert admin_url(Reservation, "changelist") in sidebar


# --- Stock levels -----------------------------------------------------------------------------------


def test_stock_levels_mark_low_and_out_in_warning_colours_and_nothing_when_healthy(client, superuser):
    warehouse = WarehouseFactory()
    for sku, on_hand in (("LOW-1", 2), ("OUT-1", 0), ("PLENTY-1", 40)):
        StockLevelFactory(warehouse=warehouse, variant=VariantFactory(sku=sku, low_stock_threshold=3), on_hand=on_hand)
    client.force_login(superuser)

    page = client.get(admin_url(StockLevel, "changelist")).content.decode()

    cells = {sku: _cell_of(page, sku, "low_stock") for sku in ("LOW-1", "OUT-1", "PLENTY-1")}
    assert 'class="sp-badge sp-badge-warn"' in cells["LOW-1"]
    assert ">Low<" in cells["LOW-1"]
    assert 'class="sp-badge sp-badge-bad"' in cells["OUT-1"]
    assert ">Out<" in cells["OUT-1"]
    assert "sp-badge" not in cells["PLENTY-1"]
    assert "icon-yes" not in page
    assert "icon-no" not in page


def _cell_of(page: str, sku: str, field: str) -> str:
    row = page[page.index(sku) :]
    row = row[: row.index("</tr>")]
    cell = row[row.index(f'class="field-{field}"') :]
    return cell[: cell.index("</td>")]


# --- An account's own buttons -----------------------------------------------------------------------


def run_url(account, action):
    return reverse("admin:connectors_connectoraccount_run", args=[account.pk, action])


def test_an_account_page_offers_its_actions_as_buttons_to_who_may_run_them(client):
    account = ConnectorAccountFactory()
    client.force_login(give_role(UserFactory(username="manager"), MANAGER))

    page = client.get(admin_url(ConnectorAccount, "change", account.pk)).content.decode()

    for action, label in (("test_connection", "Test connection"), ("sync_incremental", "Sync now")):
        assert f'action="{run_url(account, action)}"' in page
        assert f">{label}</button>" in page
    assert 'name="csrfmiddlewaretoken"' in page


def test_sync_now_on_the_page_starts_a_job_through_the_service_and_says_so(client):
    account = ConnectorAccountFactory(name="Zoho main")
    client.force_login(give_role(UserFactory(username="manager"), MANAGER))

    response = client.post(run_url(account, "sync_incremental"), follow=True)

    job = SyncJob.objects.get(account=account)
    assert (job.kind, job.status) == (SyncJob.Kind.INCREMENTAL, SyncJob.Status.QUEUED)
    assert response.redirect_chain[-1][0] == admin_url(ConnectorAccount, "change", account.pk)
    assert f"Incremental pull started (job {job.pk})." in response.content.decode()


def test_test_connection_on_the_page_goes_through_the_service_and_shows_its_answer(client, superuser, monkeypatch):
    account = ConnectorAccountFactory(name="Zoho main")
    tested = []
    monkeypatch.setattr(
        connectors_admin.services, "test_connection", lambda acc: tested.append(acc.pk) or (False, "401 Unauthorized")
    )
    client.force_login(superuser)

    response = client.post(run_url(account, "test_connection"), follow=True)

    assert tested == [account.pk]
    assert "401 Unauthorized" in response.content.decode()


def test_the_buttons_are_checked_like_the_list_actions(client, reseller):
    account = ConnectorAccountFactory()
    clerk = give_role(UserFactory(username="clerk"), CLERK)
    outsider = staff_of(reseller, MANAGER, "shop-manager")

    client.force_login(clerk)  # no connector actions in the role
    assert client.get(admin_url(ConnectorAccount, "change", account.pk)).status_code == 403
    assert client.post(run_url(account, "sync_incremental")).status_code == 403
    client.force_login(outsider)  # another organization's account: not even there
    assert client.post(run_url(account, "sync_incremental")).status_code == 404
    client.force_login(give_role(UserFactory(username="manager"), MANAGER))
    assert client.get(run_url(account, "sync_incremental")).status_code == 405  # a button, never a link
    assert client.post(run_url(account, "delete_selected")).status_code == 403  # only the page's actions
    assert not SyncJob.objects.exists()


def test_the_buttons_need_the_csrf_token(superuser):
    account = ConnectorAccountFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)

    assert client.post(run_url(account, "sync_incremental")).status_code == 403
    assert not SyncJob.objects.exists()


def test_a_disabled_account_is_not_synced_and_the_page_says_why(client, superuser):
    account = ConnectorAccountFactory(name="Zoho paused", enabled=False)
    client.force_login(superuser)

    response = client.post(run_url(account, "sync_incremental"), follow=True)

    assert "Zoho paused" in response.content.decode()
    assert "disabled, no sync started" in response.content.decode()
    assert not SyncJob.objects.exists()


# --- A reservation's page ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", [None, MANAGER, CLERK])
def test_a_reservation_page_names_its_lines_and_offers_no_save(client, role):
    warehouse = WarehouseFactory(code="main", name="Main store")
    line = ReservationLineFactory(
        variant=VariantFactory(sku="TAFFY-BLUE"), warehouse=warehouse, quantity=4, unit_price="2.50"
    )
    user = UserFactory(username="root", is_superuser=True) if role is None else give_role(UserFactory(), role)
    client.force_login(user)

    page = client.get(admin_url(Reservation, "change", line.reservation.pk)).content.decode()

    lines = page[page.index('id="reservation-lines"') :]
    assert "TAFFY-BLUE" in lines
    assert "Main store (main)" in lines
    assert '<td class="sp-number">4</td>' in lines
    assert '<td class="sp-number">2.50</td>' in lines
    assert str(line) not in page  # "4 x <variant id> @ <warehouse id>"
    assert 'name="_save"' not in page
    assert 'name="_continue"' not in page
    assert client.get(admin_url(Reservation, "delete", line.reservation.pk)).status_code == 403


# --- Live sync figures ------------------------------------------------------------------------------


def test_a_running_job_s_figures_are_marked_for_the_script_and_a_finished_one_s_are_not(client, superuser):
    running = SyncJobFactory(status=SyncJob.Status.RUNNING, processed=40, total=100, created_count=3)
    finished = SyncJobFactory(status=SyncJob.Status.SUCCEEDED, processed=9, total=9)
    client.force_login(superuser)

    page = client.get(admin_url(SyncJob, "changelist")).content.decode()

    for field, value in (("processed", "40"), ("created_count", "3"), ("finished_at", "-")):
        assert f'<span data-sync-of="{running.pk}" data-sync-field="{field}">{value}</span>' in page
    assert f'data-sync-of="{finished.pk}"' not in page
    job_page = client.get(admin_url(SyncJob, "change", running.pk)).content.decode()
    assert f'<span data-sync-of="{running.pk}" data-sync-field="processed">40</span>' in job_page
    dashboard = client.get(reverse("admin:index")).content.decode()
    assert 'id="sync-health" data-sync-refresh' in dashboard
    assert f'<span data-sync-of="{running.pk}" data-sync-field="processed">40</span> of' in dashboard


# --- Logging ----------------------------------------------------------------------------------------


def test_a_refused_admin_page_is_one_warning_line_without_traceback(client, caplog):
    client.force_login(give_role(UserFactory(username="clerk"), CLERK))

    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client.get(admin_url(ConnectorAccount, "changelist")).status_code == 403

    (record,) = [record for record in caplog.records if record.name == "django.request"]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == f"Forbidden (Permission denied): {admin_url(ConnectorAccount, 'changelist')}"
    assert record.exc_info is None
    assert "Traceback" not in caplog.text


def test_a_server_error_keeps_its_traceback(caplog):
    try:
        raise RuntimeError("boom")
    except RuntimeError as error:
        with caplog.at_level(logging.ERROR, logger="django.request"):
            logging.getLogger("django.request").error("Internal Server Error: /admin/", exc_info=error)

    (record,) = caplog.records
    assert record.exc_info is not None
    assert "Traceback" in caplog.text
    assert "RuntimeError: boom" in caplog.text
