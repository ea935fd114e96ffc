"""Issue 9: organizations see only what is theirs, in the admin and the staff API.

Two worlds, each a supplier whose warehouse feeds two competing resellers. Every organization's
rows carry marker strings: ``cat<world>`` on the supplier's catalogue its resellers may sell,
``mkr<world><reseller>`` on what a reseller shares with its supplier (channel, listing, alert),
``pvs…`` on what is private to the supplier (its ledger references, an unstocked product, its
account and alerts) and ``pvr…`` on what is private to a reseller (its orders and sales, customers,
refused requests, API key and webhook). Each role of each organization visits every admin
changelist, the change form of every planted row, the exports, an autocomplete, the dashboard and
every staff API list, and must meet no marker it may not see; writes across organizations, and
beyond the user's role in an organization, are refused and change nothing.
"""

import json
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from rest_framework.test import APIClient

from alerts import notifications
from alerts import services as alert_services
from alerts.models import Alert, AlertRule
from alerts.models import Kind as AlertKind
from config.dashboard import dashboard
from connectors.models import ChannelWebhook, OutboundMessage, SyncConflict, SyncJob
from connectors.sync import RemoteItem, upsert_items
from inventory import services
from inventory.imports import plan_stock_import, read_stock_file
from inventory.models import (
    ChannelListing,
    Membership,
    Organization,
    StockLevel,
    StockMovement,
    Variant,
    Warehouse,
)
from inventory.scoping import listings_ruled_by, listings_with_pool_seen_by, manageable_by, visible_to
from reservations import services as reservations
from reservations.models import ChannelActivity, ChannelApiKey, Reservation, StockRefusal
from reservations.selectors import channel_figures
from tests.factories import (
    AlertFactory,
    AlertRuleFactory,
    ChannelApiKeyFactory,
    ChannelFactory,
    ChannelListingFactory,
    ChannelWarehouseFactory,
    ChannelWebhookFactory,
    ConnectorAccountFactory,
    OrganizationFactory,
    OutboundMessageFactory,
    SyncJobFactory,
    UserFactory,
    VariantFactory,
    WarehouseFactory,
)

pytestmark = pytest.mark.django_db

ROLES = (Membership.Role.CLERK, Membership.Role.MANAGER, Membership.Role.ADMINISTRATOR)


@dataclass
class Org:
    key: str
    organization: Organization
    tokens: set[str]  # the markers its staff may meet
    objects: list = field(default_factory=list)  # planted rows: (model instance, org keys that may see it)
    warehouses: list = field(default_factory=list)


@dataclass
class Worlds:
    orgs: dict[str, Org]
    every_token: set[str]
    planted: list  # (instance, frozenset of org keys that may see it)


def _build_world(n: int) -> dict[str, Org]:
    supplier = OrganizationFactory(name=f"Supplier {n}", slug=f"supplier-{n}", kind=Organization.Kind.SUPPLIER)
    warehouse = WarehouseFactory(organization=supplier, code=f"wh-{n}", name=f"Warehouse {n}")
    variant = VariantFactory(
        sku=f"cat{n}-sku", product__name=f"cat{n} product", product__organization=supplier, cost_price="4.21"
    )
    unstocked = VariantFactory(sku=f"pvs{n}-unstocked", product__organization=supplier)
    movement = services.receive_stock(
        warehouse=warehouse,
        variant=variant,
        quantity=50,
        source=StockMovement.Source.SYSTEM,
        reference=f"pvs{n}-receipt",
    )
    level = StockLevel.objects.get(warehouse=warehouse, variant=variant)
    account = ConnectorAccountFactory(organization=supplier, warehouse=warehouse, name=f"pvs{n} Zoho account")
    job = SyncJobFactory(account=account)
    supplier_alert = AlertFactory(
        kind=AlertKind.LOW_STOCK,
        variant=variant,
        warehouse=warehouse,
        subject=f"level:{level.pk}",
        message=f"pvs{n} low at the warehouse",
    )
    own_channel = ChannelFactory(organization=supplier, code=f"pvs{n}-counter", name=f"pvs{n} counter")
    ChannelWarehouseFactory(channel=own_channel, warehouse=warehouse)
    s = f"s{n}"
    orgs = {
        s: Org(s, supplier, {f"pvs{n}", f"mkr{n}a", f"mkr{n}b", f"cat{n}"}, warehouses=[warehouse]),
    }
    orgs[s].objects += [
        (warehouse, {s}),
        (level, {s}),
        (movement, {s}),
        (account, {s}),
        (job, {s}),
        (supplier_alert, {s}),
        (own_channel, {s}),
        (unstocked, {s}),
        (unstocked.product, {s}),
    ]
    for r in "ab":
        key = f"r{n}{r}"
        reseller = OrganizationFactory(
            name=f"Reseller {n}{r}", slug=f"reseller-{n}{r}", kind=Organization.Kind.RESELLER
        )
        channel = ChannelFactory(organization=reseller, code=f"mkr{n}{r}-store", name=f"mkr{n}{r} store")
        ChannelWarehouseFactory(channel=channel, warehouse=warehouse)
        listing = ChannelListingFactory(channel=channel, variant=variant, buffer=1, price=Decimal("97.53"))
        hold, _ = reservations.reserve(
            channel=channel, order_ref=f"pvr{n}{r}-order-1", lines=[reservations.LineRequest(variant, 2)]
        )
        sale, _ = reservations.record_pos_sale(
            channel=channel,
            sale_id=f"pvr{n}{r}-sale-1",
            lines=[reservations.LineRequest(variant, 1, unit_price=Decimal("12.34"))],
            invoice_number=f"pvr{n}{r}-invoice",
            customer_name=f"pvr{n}{r} customer",
        )
        refusal = StockRefusal.objects.create(
            channel=channel, variant=variant, order_ref=f"pvr{n}{r}-refused", requested=500, available=40
        )
        api_key = ChannelApiKeyFactory(channel=channel, name=f"pvr{n}{r} till")
        webhook = ChannelWebhookFactory(channel=channel, url=f"https://pvr{n}{r}.example/events")
        alert = AlertFactory(
            kind=AlertKind.OUT_OF_STOCK,
            variant=variant,
            channel=channel,
            subject=f"listing:{listing.pk}",
            message=f"mkr{n}{r} sold out",
        )
        orgs[key] = Org(key, reseller, {f"mkr{n}{r}", f"pvr{n}{r}", f"cat{n}"})
        orgs[key].objects += [
            (channel, {key, s}),
            (ChannelActivity.objects.get(pk=channel.pk), {key, s}),
            (listing, {key, s}),
            (alert, {key, s}),
            (hold, {key}),
            (sale, {key}),
            (refusal, {key}),
            (api_key, {key}),
            (webhook, {key}),
        ]
    resellers = {f"r{n}a", f"r{n}b"}
    orgs[s].objects += [(variant, {s, *resellers}), (variant.product, {s, *resellers})]
    return orgs


def _build_worlds() -> Worlds:
    orgs = {**_build_world(1), **_build_world(2)}
    every_token = set().union(*(org.tokens for org in orgs.values()))
    planted = [(obj, frozenset(seen_by)) for org in orgs.values() for obj, seen_by in org.objects]
    return Worlds(orgs, every_token, planted)


@pytest.fixture
def worlds(db) -> Worlds:
    return _build_worlds()


def _staff(org: Org, role: str):
    user = UserFactory(username=f"{org.key}-{role}", organization=False)
    services.set_membership(user, org.organization, role)
    return user


def _forbidden(worlds: Worlds, org: Org) -> set[str]:
    return worlds.every_token - org.tokens


def _leaks(body: str, forbidden: set[str]) -> set[str]:
    return {token for token in forbidden if token in body}


def _admin_url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


CASES = [(key, role) for key in ("s1", "r1a", "r1b", "s2", "r2a") for role in ROLES]


class TestSweeps:
    """Every organization's every role sweeps the admin and the staff API over the same two worlds, made
    once for the thirty sweeps: they only read them (a session or a last login is rolled back after each)."""

    @pytest.fixture(scope="class")
    @classmethod
    def worlds(cls, class_db) -> Worlds:
        return _build_worlds()

    @pytest.mark.parametrize(("org_key", "role"), CASES)
    def test_admin_sweep_shows_no_other_organizations_rows(self, client, worlds, org_key, role):
        org = worlds.orgs[org_key]
        client.force_login(_staff(org, role))
        forbidden = _forbidden(worlds, org)
        opened = 0

        for model in admin.site._registry:
            response = client.get(_admin_url(model, "changelist"))
            assert response.status_code in (200, 403), (model, response.status_code)
            if response.status_code == 200:
                opened += 1
                assert not _leaks(response.content.decode(), forbidden), f"{model.__name__} changelist"

        for obj, seen_by in worlds.planted:
            if type(obj) not in admin.site._registry:  # refusals: counted on the dashboard, not listed
                continue
            response = client.get(_admin_url(type(obj), "change", obj.pk))
            label = f"{type(obj).__name__} {obj.pk} ({sorted(seen_by)})"
            if org_key in seen_by:
                assert response.status_code in (200, 403), label  # 403: their role there may not view it
            else:
                assert response.status_code == 404, label  # not even confirmed to exist
            if response.status_code == 200:
                assert not _leaks(response.content.decode(), forbidden), label
            history = client.get(_admin_url(type(obj), "history", obj.pk))
            assert history.status_code in ((200, 403) if org_key in seen_by else (404,)), f"{label} history"
            if history.status_code == 200:
                assert not _leaks(history.content.decode(), forbidden), f"{label} history"

        # Every admin export (the lists as filtered), and the stock import page listing the warehouses.
        for model in admin.site._registry:
            for fmt in ("csv", "json"):
                try:
                    url = _admin_url(model, "export", fmt)
                except NoReverseMatch:
                    break
                response = client.get(url)
                assert response.status_code in (200, 403), url
                if response.status_code == 200:
                    body = b"".join(response.streaming_content).decode("utf-8-sig")
                    assert not _leaks(body, forbidden), url
        response = client.get(_admin_url(StockLevel, "import"))
        if response.status_code == 200:
            assert not _leaks(response.content.decode(), forbidden), "stock import"

        # Searching another organization's order reference or SKU finds nothing.
        for token in sorted(forbidden):
            for model in (Reservation, StockMovement, ChannelListing):
                response = client.get(_admin_url(model, "changelist"), {"q": token})
                if response.status_code == 200:
                    assert response.context["cl"].result_count == 0, (model.__name__, token)

        assert opened >= 5  # every role opens at least the stock, ledger, channels, listings and alerts

        # The dashboard (the admin index): its figures, charts and their data tables.
        response = client.get(reverse("admin:index"))
        assert response.status_code == 200
        assert not _leaks(response.content.decode(), forbidden), "dashboard"
        for other in Warehouse.objects.exclude(organization=org.organization):
            assert other.name not in response.content.decode(), "dashboard"

        # Autocomplete and raw-id lookups offer only the user's own warehouses.
        response = client.get(
            reverse("admin:autocomplete"),
            {"app_label": "inventory", "model_name": "channelwarehouse", "field_name": "warehouse", "term": ""},
        )
        if response.status_code == 200:
            offered = {int(row["id"]) for row in json.loads(response.content)["results"]}
            assert offered <= {w.pk for w in org.warehouses}
        response = client.get(_admin_url(Warehouse, "changelist"), {"_to_field": "id", "_popup": "1"})
        if response.status_code == 200:
            for other in Warehouse.objects.exclude(organization=org.organization):
                assert f"/warehouse/{other.pk}/change/" not in response.content.decode()

    @pytest.mark.parametrize(("org_key", "role"), CASES)
    def test_staff_api_sweep_shows_no_other_organizations_rows(self, client, worlds, org_key, role):
        org = worlds.orgs[org_key]
        client.force_login(_staff(org, role))
        forbidden = _forbidden(worlds, org)
        own_codes = {w.code for w in org.warehouses}

        for url in ("/api/v1/stock/", "/api/v1/movements/", "/api/v1/alerts/"):
            response = client.get(url)
            assert response.status_code in (200, 403), url
            if response.status_code == 200:
                assert not _leaks(response.content.decode(), forbidden), url
                for row in response.json()["results"]:
                    if "warehouse" in row and isinstance(row["warehouse"], str):
                        assert row["warehouse"] in own_codes, (url, row)
        for url in ("/api/v1/export/stock.csv", "/api/v1/export/stock.json"):
            response = client.get(url)
            assert response.status_code in (200, 403), url
            if response.status_code == 200:
                body = b"".join(response.streaming_content).decode("utf-8-sig")
                assert not _leaks(body, forbidden), url
                for other in Warehouse.objects.exclude(organization=org.organization):
                    assert other.code not in body, url
        for job in SyncJob.objects.all():
            response = client.get(f"/api/v1/sync-jobs/{job.pk}/")
            if job.account.organization_id != org.organization.pk:
                assert response.status_code in (403, 404)


def test_a_staff_user_without_membership_sees_nothing(client, worlds):
    user = UserFactory(username="loner", organization=False)
    services.sync_role_groups(user)
    for model in (Warehouse, StockLevel, ChannelListing, Alert, ChannelApiKey):
        assert not visible_to(model, user).exists()
    assert visible_to(Warehouse, UserFactory(username="root", is_superuser=True)).count() == Warehouse.objects.count()


# --- Writes across organizations -------------------------------------------------------------------


def _adjust(client, warehouse):
    return client.post(
        "/api/v1/stock/adjustments/",
        {"adjustments": [{"sku": "cat1-sku", "warehouse": warehouse.code, "delta": -5, "reason": "damage"}]},
        content_type="application/json",
    )


@pytest.mark.parametrize("org_key", ["r1a", "s2"])
def test_nobody_adjusts_another_organizations_stock(client, worlds, org_key):
    warehouse = worlds.orgs["s1"].warehouses[0]
    level = StockLevel.objects.get(warehouse=warehouse)
    client.force_login(_staff(worlds.orgs[org_key], Membership.Role.MANAGER))
    response = _adjust(client, warehouse)
    assert 400 <= response.status_code < 500
    assert level.on_hand == StockLevel.objects.get(pk=level.pk).on_hand == 48  # 50 received, 2 sold
    assert not StockMovement.objects.filter(reason="damage").exists()


def test_the_suppliers_clerk_adjusts_its_own_stock(client, worlds):
    warehouse = worlds.orgs["s1"].warehouses[0]
    client.force_login(_staff(worlds.orgs["s1"], Membership.Role.CLERK))
    assert _adjust(client, warehouse).status_code == 201
    assert StockLevel.objects.get(warehouse=warehouse).on_hand == 43


def test_a_reseller_cannot_change_a_competitors_listing_in_the_admin(client, worlds):
    listing = ChannelListing.objects.get(channel__code="mkr1b-store")
    client.force_login(_staff(worlds.orgs["r1a"], Membership.Role.ADMINISTRATOR))
    response = client.post(_admin_url(ChannelListing, "change", listing.pk), {"buffer": 99, "enabled": ""})
    assert response.status_code in (403, 404)
    listing.refresh_from_db()
    assert (listing.buffer, listing.enabled) == (1, True)


def test_a_reseller_cannot_attach_a_foreign_warehouse_to_its_channel(client, worlds):
    channel = worlds.orgs["r1a"].objects[0][0]
    foreign = worlds.orgs["s2"].warehouses[0]
    client.force_login(_staff(worlds.orgs["r1a"], Membership.Role.ADMINISTRATOR))
    page = client.get(_admin_url(type(channel), "change", channel.pk))
    assert page.status_code == 200
    formset = page.context["inline_admin_formsets"][0].formset
    assert not formset.form.base_fields["warehouse"].queryset.filter(pk=foreign.pk).exists()
    assert foreign not in formset.forms[0].fields["warehouse"].queryset
    # The supplier's warehouse it already draws from stays valid, so the channel can be saved.
    assert worlds.orgs["s1"].warehouses[0] in formset.forms[0].fields["warehouse"].queryset


def test_a_reseller_cannot_read_or_revoke_another_organizations_keys(client, worlds):
    key = ChannelApiKey.objects.get(name="pvr1b till")
    client.force_login(_staff(worlds.orgs["r1a"], Membership.Role.MANAGER))
    assert client.get(_admin_url(ChannelApiKey, "change", key.pk)).status_code == 404
    response = client.post(
        _admin_url(ChannelApiKey, "changelist"), {"action": "revoke_selected", "_selected_action": [key.pk]}
    )
    assert response.status_code in (200, 302)
    key.refresh_from_db()
    assert key.revoked_at is None


def test_the_supplier_cannot_read_a_resellers_keys(client, worlds):
    key = ChannelApiKey.objects.get(name="pvr1a till")
    client.force_login(_staff(worlds.orgs["s1"], Membership.Role.MANAGER))
    assert client.get(_admin_url(ChannelApiKey, "change", key.pk)).status_code == 404


def test_a_supplier_clerk_cannot_change_exposure_rules_and_its_manager_can(client, worlds):
    listing = ChannelListing.objects.get(channel__code="mkr1a-store")
    clerk = _staff(worlds.orgs["s1"], Membership.Role.CLERK)
    manager = _staff(worlds.orgs["s1"], Membership.Role.MANAGER)
    assert not clerk.has_perm("inventory.change_exposure_rules")
    client.force_login(clerk)
    response = client.post(
        _admin_url(ChannelListing, "changelist"),
        {"action": "change_listing_rules", "_selected_action": [listing.pk], "apply": "1", "buffer": "7"},
    )
    listing.refresh_from_db()
    assert listing.buffer == 1
    assert manager.has_perm("inventory.change_exposure_rules")
    assert visible_to(ChannelListing, manager).filter(pk=listing.pk).exists()
    assert response.status_code in (200, 302, 403)


def test_alerts_and_syncs_of_another_organization_are_not_found(client, worlds):
    client.force_login(_staff(worlds.orgs["s2"], Membership.Role.MANAGER))
    alert = Alert.objects.get(message="pvs1 low at the warehouse")
    assert (
        client.post(f"/api/v1/alerts/{alert.pk}/acknowledge/", {}, content_type="application/json").status_code == 404
    )
    alert.refresh_from_db()
    assert alert.status == Alert.Status.OPEN
    account = worlds.orgs["s1"].objects[3][0]
    response = client.post(
        "/api/v1/sync-jobs/", {"account": account.pk, "kind": "full"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert SyncJob.objects.filter(account=account).count() == 1


# --- Memberships and their groups ------------------------------------------------------------------


def test_set_membership_keeps_the_groups_in_step_with_the_highest_role(worlds):
    user = UserFactory(username="both", organization=False)
    assert not visible_to(Warehouse, user).exists()
    services.set_membership(user, worlds.orgs["s1"].organization, Membership.Role.CLERK)
    assert [g.name for g in user.groups.all()] == ["Stock clerk"]
    assert list(visible_to(Warehouse, user)) == worlds.orgs["s1"].warehouses  # not the cached nothing
    services.set_membership(user, worlds.orgs["r1a"].organization, Membership.Role.MANAGER)
    assert [g.name for g in user.groups.all()] == ["Manager"]
    services.remove_membership(user, worlds.orgs["r1a"].organization)
    assert [g.name for g in user.groups.all()] == ["Stock clerk"]
    services.remove_membership(user, worlds.orgs["s1"].organization)
    assert not user.groups.exists()


def test_the_supplier_issues_no_keys_for_a_resellers_channel(client, worlds):
    """The supplier sees the resellers' channels drawing from it, but owns them not: no keys, no webhooks."""
    client.force_login(_staff(worlds.orgs["s1"], Membership.Role.ADMINISTRATOR))
    reseller_channel = worlds.orgs["r1a"].objects[0][0]
    for model in (ChannelApiKey, ChannelWebhookFactory._meta.model):
        form = client.get(_admin_url(model, "add")).context["adminform"].form
        offered = form.fields["channel"].queryset
        assert not offered.filter(pk=reseller_channel.pk).exists(), model
        assert offered.filter(code="pvs1-counter").exists(), model
    response = client.post(_admin_url(ChannelApiKey, "add"), {"channel": reseller_channel.pk, "name": "sneaky"})
    assert response.status_code == 200  # the form again, with the error
    assert not ChannelApiKey.objects.filter(name="sneaky").exists()


def test_cost_prices_are_the_suppliers(client, worlds):
    """The reseller sees the SKU it sells, not what the supplier paid for it; the supplier whose catalogue
    it is does, and another supplier does not."""
    supplier = worlds.orgs["s1"].organization
    variant = VariantFactory(sku="COSTED", cost_price="1.23", product__organization=supplier)
    ChannelListingFactory(channel=worlds.orgs["r1a"].objects[0][0], variant=variant)
    url = _admin_url(type(variant), "change", variant.pk)
    client.force_login(_staff(worlds.orgs["r1a"], Membership.Role.ADMINISTRATOR))
    page = client.get(url)
    assert page.status_code == 200
    assert "cost_price" not in page.context["adminform"].form.fields
    assert "1.23" not in page.content.decode()
    assert not page.context["has_change_permission"]  # the supplier's catalogue, not the reseller's
    client.force_login(_staff(worlds.orgs["s1"], Membership.Role.ADMINISTRATOR))
    assert "cost_price" in client.get(url).context["adminform"].form.fields
    client.force_login(_staff(worlds.orgs["s2"], Membership.Role.ADMINISTRATOR))
    assert client.get(url).status_code == 404


def test_an_organizations_administrator_manages_its_users_but_not_superuser_status_or_groups(client, worlds):
    administrator = _staff(worlds.orgs["r1a"], Membership.Role.ADMINISTRATOR)
    colleague = _staff(worlds.orgs["r1a"], Membership.Role.CLERK)
    competitor = _staff(worlds.orgs["r1b"], Membership.Role.CLERK)
    client.force_login(administrator)
    user_model = type(colleague)
    page = client.get(_admin_url(user_model, "change", colleague.pk))
    assert page.status_code == 200
    assert not {"is_superuser", "groups", "user_permissions"} & set(page.context["adminform"].form.fields)
    assert client.get(_admin_url(user_model, "change", competitor.pk)).status_code == 404
    listed = client.get(_admin_url(user_model, "changelist")).content.decode()
    assert colleague.username in listed
    assert competitor.username not in listed


def _change_rules(client, listing, **form):
    data = {"action": "change_listing_rules", "_selected_action": [listing.pk], "apply": "1", **form}
    return client.post(_admin_url(ChannelListing, "changelist"), data)


def test_exposure_rules_are_set_by_the_supplier_whose_stock_the_channel_sells(client, worlds):
    listing = ChannelListing.objects.get(channel__code="mkr1a-store")
    client.force_login(_staff(worlds.orgs["r1a"], Membership.Role.MANAGER))
    form = client.get(_admin_url(ChannelListing, "change", listing.pk)).context["adminform"].form
    assert "buffer" not in form.fields
    assert "price" in form.fields
    _change_rules(client, listing, buffer="9")
    listing.refresh_from_db()
    assert listing.buffer == 1

    client.force_login(_staff(worlds.orgs["s2"], Membership.Role.MANAGER))
    _change_rules(client, listing, buffer="9")
    listing.refresh_from_db()
    assert listing.buffer == 1

    client.force_login(_staff(worlds.orgs["s1"], Membership.Role.MANAGER))
    _change_rules(client, listing, buffer="9")
    listing.refresh_from_db()
    assert listing.buffer == 9


# --- What a supplier knows of its resellers' channels: figures, not orders ------------------------


def test_the_supplier_sees_figures_of_a_resellers_channel_but_not_its_orders(client, worlds):
    client.force_login(_staff(worlds.orgs["s1"], Membership.Role.MANAGER))
    page = client.get(_admin_url(ChannelActivity, "changelist"))
    figures = {row.code: row.figures for row in page.context["cl"].result_list}

    assert set(figures) == {"pvs1-counter", "mkr1a-store", "mkr1b-store"}
    reseller = figures["mkr1a-store"]
    assert (reseller.holds, reseller.units_held, reseller.units_sold, reseller.refused) == (1, 2, 1, 1)
    assert not visible_to(Reservation, _staff(worlds.orgs["s1"], Membership.Role.CLERK)).exists()
    # The sale left the supplier's stock and its ledger, under the reservation's id, not the order number.
    sale = StockMovement.objects.get(
        reason=StockMovement.Reason.SALE, warehouse__code="wh-1", reference__startswith="mkr1a"
    )
    reservation = Reservation.objects.get(order_ref="pvr1a-sale-1")
    assert sale.reference == f"mkr1a-store:{reservation.pk}"


def test_the_dashboard_counts_other_organizations_holds_on_the_suppliers_stock(rf, worlds):
    kpis = _dashboard_kpis(rf, _staff(worlds.orgs["s1"], Membership.Role.MANAGER))
    assert kpis["active_reservations"]["value"] == "2"  # one hold of each reseller, 2 units each
    assert "4 units" in kpis["active_reservations"]["note"]
    assert kpis["refusals_today"]["value"] == "2"

    kpis = _dashboard_kpis(rf, _staff(worlds.orgs["r1a"], Membership.Role.MANAGER))
    assert kpis["active_reservations"]["value"] == "1"
    assert kpis["refusals_today"]["value"] == "1"


# --- Roles are per organization ---------------------------------------------------------------------


@pytest.fixture
def clerk_here_manager_there(worlds):
    """A clerk at supplier 1 who is a manager at reseller 1a."""
    user = _staff(worlds.orgs["s1"], Membership.Role.CLERK)
    services.set_membership(user, worlds.orgs["r1a"].organization, Membership.Role.MANAGER)
    return user


def test_a_manager_elsewhere_is_still_a_clerk_at_the_supplier(client, worlds, clerk_here_manager_there):
    client.force_login(clerk_here_manager_there)
    listing = ChannelListing.objects.get(channel__code="mkr1a-store")

    _change_rules(client, listing, buffer="9")  # exposure rules take a manager at the supplier
    listing.refresh_from_db()
    assert listing.buffer == 1

    account = worlds.orgs["s1"].objects[3][0]
    response = client.post(
        "/api/v1/sync-jobs/", {"account": account.pk, "kind": "full"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert SyncJob.objects.filter(account=account).count() == 1

    alert = Alert.objects.get(message="pvs1 low at the warehouse")
    assert client.post(f"/api/v1/alerts/{alert.pk}/resolve/", {}, content_type="application/json").status_code == 403
    assert (
        client.post(f"/api/v1/alerts/{alert.pk}/acknowledge/", {}, content_type="application/json").status_code == 200
    )
    alert.refresh_from_db()
    assert alert.status == Alert.Status.ACKNOWLEDGED

    # The supplier's stock is not exported to them (a manager's right, which they hold only at the reseller).
    body = b"".join(client.get("/api/v1/export/stock.csv").streaming_content).decode("utf-8-sig")
    assert "wh-1" not in body
    # Nor are the supplier's partner accounts on their dashboard, nor its account's page.
    assert "pvs1 Zoho account" not in client.get(reverse("admin:index")).content.decode()
    assert client.get(_admin_url(type(account), "change", account.pk)).status_code == 403

    # A clerk adjusts the supplier's stock.
    assert _adjust(client, worlds.orgs["s1"].warehouses[0]).status_code == 201


def test_a_manager_elsewhere_manages_there(client, worlds, clerk_here_manager_there):
    client.force_login(clerk_here_manager_there)
    channel = worlds.orgs["r1a"].objects[0][0]
    response = client.post(_admin_url(ChannelApiKey, "add"), {"channel": channel.pk, "name": "New till"})
    assert response.status_code == 200
    assert ChannelApiKey.objects.filter(name="New till", channel=channel).exists()
    listing = ChannelListing.objects.get(channel=channel)
    url = _admin_url(ChannelListing, "change", listing.pk)
    form = client.get(url).context["adminform"].form
    assert "price" in form.fields  # their own channel's price
    assert "buffer" not in form.fields  # the supplier's rule
    response = client.post(url, {"price": "88.00", **_no_inline_rows(client.get(url))})
    assert response.status_code == 302
    listing.refresh_from_db()
    assert listing.price == Decimal("88.00")


def test_admin_actions_leave_out_rows_beyond_the_users_role(client, worlds, clerk_here_manager_there):
    """Bulk-resolving alerts of both organizations resolves only the reseller's: a clerk at the supplier."""
    client.force_login(clerk_here_manager_there)
    theirs = Alert.objects.get(message="mkr1a sold out")
    suppliers = Alert.objects.get(message="pvs1 low at the warehouse")
    response = client.post(
        _admin_url(Alert, "changelist"),
        {"action": "resolve_selected", "_selected_action": [theirs.pk, suppliers.pk], "note": ""},
        follow=True,
    )
    assert response.status_code == 200
    assert "1 selected row(s) left out" in response.content.decode()
    theirs.refresh_from_db()
    suppliers.refresh_from_db()
    assert (theirs.status, suppliers.status) == (Alert.Status.RESOLVED, Alert.Status.OPEN)


# --- An organization's administrator invites its people -------------------------------------------


def test_an_administrator_invites_a_user_into_their_organization_only(client, worlds):
    administrator = _staff(worlds.orgs["r1a"], Membership.Role.ADMINISTRATOR)
    client.force_login(administrator)
    user_model = type(administrator)
    form = client.get(_admin_url(user_model, "add")).context["adminform"].form
    assert list(form.fields["organization"].queryset) == [worlds.orgs["r1a"].organization]

    invite = {"username": "new-clerk", "password1": "a-Long-pass-9281", "password2": "a-Long-pass-9281"}
    refused = client.post(
        _admin_url(user_model, "add"), {**invite, "organization": worlds.orgs["r1b"].organization.pk, "role": "clerk"}
    )
    assert refused.status_code == 200  # the form again: a competitor is not theirs to staff
    assert not user_model.objects.filter(username="new-clerk").exists()

    response = client.post(
        _admin_url(user_model, "add"),
        {**invite, "usable_password": "true", "organization": worlds.orgs["r1a"].organization.pk, "role": "clerk"},
    )
    assert response.status_code == 302
    invited = user_model.objects.get(username="new-clerk")
    assert invited.is_staff
    assert not invited.is_superuser
    assert [(m.organization, m.role) for m in invited.memberships.all()] == [
        (worlds.orgs["r1a"].organization, Membership.Role.CLERK)
    ]
    assert [group.name for group in invited.groups.all()] == ["Stock clerk"]
    assert client.get(_admin_url(user_model, "change", invited.pk)).status_code == 200


def test_an_administrator_cannot_change_someone_another_organization_relies_on(client, worlds):
    shared = _staff(worlds.orgs["r1a"], Membership.Role.CLERK)
    services.set_membership(shared, worlds.orgs["r1b"].organization, Membership.Role.CLERK)
    client.force_login(_staff(worlds.orgs["r1a"], Membership.Role.ADMINISTRATOR))
    page = client.get(_admin_url(type(shared), "change", shared.pk))
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    url = reverse("admin:auth_user_password_change", args=[shared.pk])
    response = client.post(url, {"password1": "taken-Over-123", "password2": "taken-Over-123"})
    assert response.status_code == 403
    shared.refresh_from_db()
    assert not shared.check_password("taken-Over-123")


def _no_inline_rows(page) -> dict:
    """The management forms of a change page's inlines, posting no rows."""
    data = {}
    for inline in page.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data.update({management.add_prefix(name): value for name, value in management.initial.items()})
    return data


def _dashboard_kpis(rf, user) -> dict[str, dict]:
    request = rf.get("/admin/")
    request.user = user
    return {kpi["key"]: kpi for kpi in dashboard(request)["kpis"]}


def test_the_supplier_sets_a_resellers_rules_but_neither_sees_nor_sets_its_price(client, worlds):
    listing = ChannelListing.objects.get(channel__code="mkr1a-store")
    url = _admin_url(ChannelListing, "change", listing.pk)
    client.force_login(_staff(worlds.orgs["s1"], Membership.Role.MANAGER))
    page = client.get(url)
    assert "buffer" in page.context["adminform"].form.fields
    assert "price" not in page.context["adminform"].form.fields
    assert "97.53" not in page.content.decode()
    client.post(
        url, {"buffer": "3", "allocation_percent": "100", "enabled": "on", "price": "1.00", **_no_inline_rows(page)}
    )
    listing.refresh_from_db()
    assert (listing.buffer, listing.price) == (3, Decimal("97.53"))


# --- Alert notifications --------------------------------------------------------------------------


def test_alert_notifications_carry_only_what_the_receiving_organization_sees(worlds, mailoutbox):
    """Every organization subscribes to every planted alert's kind; each is mailed its own and its
    partners' shared alerts, and no marker of anyone else's."""
    kinds = set(Alert.objects.values_list("kind", flat=True))
    for org in worlds.orgs.values():
        for kind in kinds:
            AlertRuleFactory(organization=org.organization, kind=kind, email_recipients=f"{org.key}@example.com")

    for rule, alerts in notifications.claim(list(Alert.objects.values_list("pk", flat=True))).items():
        notifications.send_email(rule, alerts)

    mailed = {}
    for message in mailoutbox:
        for address in message.to:
            mailed.setdefault(address.split("@")[0], []).append(f"{message.subject}\n{message.body}")
    assert set(mailed) == set(worlds.orgs)  # everyone heard of something
    for key, org in worlds.orgs.items():
        text = "\n".join(mailed[key])
        assert not _leaks(text, _forbidden(worlds, org)), key
    assert "pvs1 low at the warehouse" in "\n".join(mailed["s1"])
    assert "mkr1a sold out" in "\n".join(mailed["s1"])
    assert "mkr1a sold out" in "\n".join(mailed["r1a"])


def test_listing_exports_leave_out_the_fields_that_are_another_organizations(client, worlds):
    url = _admin_url(ChannelListing, "export", "json")
    client.force_login(_staff(worlds.orgs["s1"], Membership.Role.MANAGER))
    rows = {row["channel"]: row for row in json.loads(b"".join(client.get(url).streaming_content))["results"]}
    assert rows["mkr1a-store"]["price"] is None  # the reseller's price
    assert rows["mkr1a-store"]["pool"] == 44  # the supplier's stock: 50 received, 2 sold, 4 held

    client.force_login(_staff(worlds.orgs["r1a"], Membership.Role.MANAGER))
    (row,) = json.loads(b"".join(client.get(url).streaming_content))["results"]
    assert row["price"] == "97.53"
    assert row["pool"] is None  # the supplier's stock


# --- Found by review: each a way across the boundary, closed ------------------------------------------


def test_a_sync_links_another_organizations_sku_for_its_stock_but_never_changes_it(worlds):
    variant = Variant.objects.get(sku="cat1-sku")
    before = (variant.price, variant.cost_price, variant.active)
    account = SyncJob.objects.get(account__organization=worlds.orgs["s2"].organization).account
    item = RemoteItem("ext-1", "cat1-sku", "cat1", "cat1", price=Decimal("0.01"), cost_price=Decimal("0.02"))
    item.active = False

    linked, outcome = upsert_items(account, [item])

    assert linked == {"ext-1": variant}
    assert (outcome.updated, outcome.unchanged) == (0, 1)
    variant.refresh_from_db()
    assert (variant.price, variant.cost_price, variant.active) == before
    assert not SyncConflict.objects.filter(variant=variant).exists()


def test_a_reseller_with_a_warehouse_of_its_own_still_does_not_set_the_suppliers_rules(client, worlds):
    reseller = worlds.orgs["r1a"]
    channel = reseller.objects[0][0]
    ChannelWarehouseFactory(channel=channel, warehouse=WarehouseFactory(organization=reseller.organization), priority=1)
    listing = ChannelListing.objects.get(channel=channel)
    manager = _staff(reseller, Membership.Role.MANAGER)
    client.force_login(manager)

    _change_rules(client, listing, buffer="0")
    listing.refresh_from_db()
    assert listing.buffer == 1
    assert not listings_ruled_by(ChannelListing.objects.filter(pk=listing.pk), manager, perm=None).exists()
    page = client.get(_admin_url(ChannelListing, "change", listing.pk))
    assert "buffer" not in page.context["adminform"].form.fields
    assert "pool" not in page.context["adminform"].form.fields


def test_a_reseller_files_no_variant_under_the_suppliers_product(client, worlds):
    product = Variant.objects.get(sku="cat1-sku").product
    client.force_login(_staff(worlds.orgs["r1a"], Membership.Role.ADMINISTRATOR))
    response = client.post(
        _admin_url(Variant, "add"),
        {
            "product": product.pk,
            "sku": "INJECTED-SKU",
            "price": "1",
            "low_stock_threshold": "5",
            **_no_inline_rows(client.get(_admin_url(Variant, "add"))),
        },
    )
    assert response.status_code == 200  # the form again
    assert not Variant.objects.filter(sku="INJECTED-SKU").exists()


def test_another_organizations_sku_is_unknown_to_the_stock_api_and_imports(client, worlds):
    client.force_login(_staff(worlds.orgs["s2"], Membership.Role.CLERK))
    body = {"adjustments": [{"sku": "pvs1-unstocked", "warehouse": "wh-2", "delta": 5, "reason": "receipt"}]}
    response = client.post("/api/v1/stock/adjustments/", body, content_type="application/json")
    assert response.status_code == 400
    assert not StockLevel.objects.filter(variant__sku="pvs1-unstocked").exists()
    user = _staff(worlds.orgs["s2"], Membership.Role.MANAGER)
    plan = plan_stock_import(
        read_stock_file(b"sku,warehouse,delta\npvs1-unstocked,wh-2,5\n", name="in.csv"),
        warehouses=manageable_by(Warehouse, user, "inventory.adjust_stock"),
        variants=visible_to(Variant, user, "inventory.adjust_stock"),
    )
    assert not plan.is_valid


def test_a_resellers_listing_alert_is_the_resellers_to_resolve(client, worlds):
    alert = Alert.objects.get(message="mkr1a sold out")
    client.force_login(_staff(worlds.orgs["s1"], Membership.Role.MANAGER))
    assert client.post(f"/api/v1/alerts/{alert.pk}/resolve/", content_type="application/json").status_code == 403
    client.force_login(_staff(worlds.orgs["r1a"], Membership.Role.MANAGER))
    assert client.post(f"/api/v1/alerts/{alert.pk}/resolve/", content_type="application/json").status_code == 200


def test_stock_alerts_are_per_organization_and_price_variance_within_one(worlds):
    AlertRule.objects.filter(organization=None, kind=AlertKind.PRICE_VARIANCE).update(enabled=True)
    ChannelListing.objects.filter(channel__code="mkr1b-store").update(price=Decimal("150.00"))
    Variant.objects.filter(sku="cat1-sku").update(low_stock_threshold=100)
    alert_services.evaluate([AlertKind.LOW_STOCK, AlertKind.PRICE_VARIANCE])
    low = Alert.objects.get(kind=AlertKind.LOW_STOCK, variant__sku="cat1-sku", warehouse=None, channel=None)
    assert low.organization == worlds.orgs["s1"].organization
    reseller = _staff(worlds.orgs["r1a"], Membership.Role.MANAGER)
    assert not visible_to(Alert, reseller).filter(pk=low.pk).exists()
    assert not Alert.objects.filter(kind=AlertKind.PRICE_VARIANCE).exists()  # 97.53 and 150.00 are two businesses


def test_a_supplier_deletes_no_resellers_listing(client, worlds):
    listing = ChannelListing.objects.get(channel__code="mkr1a-store")
    client.force_login(_staff(worlds.orgs["s1"], Membership.Role.ADMINISTRATOR))
    assert client.post(_admin_url(ChannelListing, "delete", listing.pk), {"post": "yes"}).status_code == 403
    client.post(
        _admin_url(ChannelListing, "changelist"),
        {"action": "delete_selected", "_selected_action": [listing.pk], "post": "yes"},
    )
    assert ChannelListing.objects.filter(pk=listing.pk).exists()


@pytest.mark.parametrize(
    ("org_key", "model", "lookup"),
    [("s1", ChannelListing, {"price": "97.53"}), ("r1a", Variant, {"cost_price": "4.21"})],
)
def test_lists_are_not_filtered_by_another_organizations_prices(client, worlds, org_key, model, lookup):
    client.force_login(_staff(worlds.orgs[org_key], Membership.Role.MANAGER))
    assert client.get(_admin_url(model, "changelist"), lookup).status_code == 400


def test_a_clerk_at_two_organizations_sees_no_third_organizations_pool(client, worlds):
    user = _staff(worlds.orgs["s2"], Membership.Role.CLERK)
    services.set_membership(user, worlds.orgs["r1a"].organization, Membership.Role.CLERK)
    client.force_login(user)
    page = client.get(_admin_url(ChannelListing, "changelist"))
    shown = {listing.channel.code: listing.pool_shown for listing in page.context["cl"].result_list}
    assert shown["mkr1a-store"] is False
    assert shown["mkr2a-store"] is True  # its own supplier's stock


def test_the_dashboard_does_not_confirm_another_organizations_sku(rf, worlds):
    request = rf.get("/admin/", {"variant": "pvs1-unstocked"})
    request.user = _staff(worlds.orgs["s2"], Membership.Role.MANAGER)
    assert "No variant has the SKU" in dashboard(request)["charts"][0]["note"]


def test_organizations_are_made_by_superusers_only(client, worlds):
    client.force_login(_staff(worlds.orgs["r1a"], Membership.Role.ADMINISTRATOR))
    response = client.post(_admin_url(Organization, "add"), {"name": "Mine", "slug": "mine", "kind": "supplier"})
    assert response.status_code == 403
    assert not Organization.objects.filter(slug="mine").exists()


def test_an_alert_does_not_name_another_organizations_rule(client, worlds):
    supplier = worlds.orgs["s1"].organization
    rule = AlertRule.objects.create(
        name="pvs1 watch on the reseller",
        organization=supplier,
        kind=AlertKind.OUT_OF_STOCK,
        scope="channel",
        channel=worlds.orgs["r1a"].objects[0][0],
    )
    alert = Alert.objects.get(message="mkr1a sold out")
    Alert.objects.filter(pk=alert.pk).update(rule=rule)
    client.force_login(_staff(worlds.orgs["r1a"], Membership.Role.MANAGER))
    page = client.get(_admin_url(Alert, "change", alert.pk)).content.decode()
    assert "pvs1" not in page
    client.force_login(_staff(worlds.orgs["s1"], Membership.Role.MANAGER))
    assert "pvs1 watch on the reseller" in client.get(_admin_url(Alert, "change", alert.pk)).content.decode()


# --- Found by the second review ---------------------------------------------------------------------


@pytest.fixture
def resellers_own_product(worlds, receive):
    """Reseller 1a stocks a product of its own in a warehouse of its own, which its store also draws on."""
    reseller = worlds.orgs["r1a"]
    channel = reseller.objects[0][0]
    backroom = WarehouseFactory(organization=reseller.organization, code="pvr1a-backroom")
    ChannelWarehouseFactory(channel=channel, warehouse=backroom, priority=1)
    variant = VariantFactory(sku="pvr1a-own-sku", product__organization=reseller.organization)
    receive(backroom, variant, 30)
    return ChannelListingFactory(channel=channel, variant=variant)


def test_the_supplier_neither_rules_nor_sees_a_resellers_own_stock(client, worlds, resellers_own_product):
    own = resellers_own_product
    supplied = ChannelListing.objects.get(channel=own.channel, variant__sku="cat1-sku")
    client.force_login(_staff(worlds.orgs["s1"], Membership.Role.MANAGER))
    _change_rules(client, own, enabled="off", buffer="30")
    own.refresh_from_db()
    assert (own.enabled, own.buffer) == (True, 0)
    client.get(_admin_url(ChannelListing, "change", supplied.pk))  # the supplier's listing: its to rule
    rows = json.loads(b"".join(client.get(_admin_url(ChannelListing, "export", "json")).streaming_content))
    pools = {(row["channel"], row["sku"]): row["pool"] for row in rows["results"]}
    assert pools[("mkr1a-store", "cat1-sku")] == 44
    assert ("mkr1a-store", "pvr1a-own-sku") not in pools  # another organization's SKU: not even listed to it

    reseller = _staff(worlds.orgs["r1a"], Membership.Role.MANAGER)
    client.force_login(reseller)
    _change_rules(client, own, buffer="2")
    own.refresh_from_db()
    assert own.buffer == 2
    assert listings_with_pool_seen_by(ChannelListing.objects.filter(pk=own.pk), reseller).exists()
    assert not listings_with_pool_seen_by(ChannelListing.objects.filter(pk=supplied.pk), reseller).exists()


def test_a_listing_of_the_suppliers_stock_added_again_waits_for_the_supplier(client, worlds):
    listing = ChannelListing.objects.get(channel__code="mkr1a-store")
    ChannelListing.objects.filter(pk=listing.pk).update(enabled=False, max_quantity=0)  # the supplier's rules
    client.force_login(_staff(worlds.orgs["r1a"], Membership.Role.ADMINISTRATOR))
    assert client.post(_admin_url(ChannelListing, "delete", listing.pk), {"post": "yes"}).status_code == 302
    add = client.get(_admin_url(ChannelListing, "add"))
    assert set(add.context["adminform"].form.fields) == {"channel", "variant", "price"}
    response = client.post(
        _admin_url(ChannelListing, "add"),
        {
            "channel": listing.channel_id,
            "variant": listing.variant_id,
            "enabled": "on",
            "buffer": "0",
            **_no_inline_rows(add),
        },
    )
    assert response.status_code == 302
    again = ChannelListing.objects.get(channel=listing.channel_id, variant=listing.variant_id)
    assert (again.enabled, again.is_sellable) == (False, False)


def test_a_channel_webhooks_dead_letters_are_its_organizations_alone(worlds):
    webhook = ChannelWebhook.objects.get(channel__code="mkr1a-store")
    OutboundMessageFactory(
        account=None,
        channel_webhook=webhook,
        kind=OutboundMessage.Kind.CHANNEL_EVENT,
        status=OutboundMessage.Status.DEAD,
        last_error="https://pvr1a.example/events answered 500",
    )
    alert_services.evaluate([AlertKind.DEAD_LETTER])
    alert = Alert.objects.get(kind=AlertKind.DEAD_LETTER)
    assert visible_to(Alert, _staff(worlds.orgs["r1a"], Membership.Role.CLERK)).filter(pk=alert.pk).exists()
    assert not visible_to(Alert, _staff(worlds.orgs["s1"], Membership.Role.MANAGER)).filter(pk=alert.pk).exists()


def test_a_channel_key_knows_no_other_organizations_sku_and_plants_no_refusals(worlds):
    key = ChannelApiKeyFactory(channel=worlds.orgs["r2a"].objects[0][0])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {key.plain_key}")
    body = api.get("/api/v1/availability/", {"sku": ["pvs1-unstocked", "cat1-sku", "cat2-sku"]}).json()
    assert body["unknown_skus"] == ["pvs1-unstocked", "cat1-sku"]
    assert [item["sku"] for item in body["items"]] == ["cat2-sku"]
    refusals = StockRefusal.objects.count()
    response = api.post(
        "/api/v1/reservations/",
        {"order_ref": "probe-1", "items": [{"sku": "cat1-sku", "quantity": 1}]},
        format="json",
        HTTP_IDEMPOTENCY_KEY="probe-1",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_sku"
    assert StockRefusal.objects.count() == refusals


def test_the_channels_own_rule_decides_its_listings_alert(worlds):
    channel = worlds.orgs["r1a"].objects[0][0]
    Variant.objects.filter(sku="cat1-sku").update(low_stock_threshold=1000)
    supplier_rule = AlertRule.objects.create(
        name="s1 on the store",
        organization=worlds.orgs["s1"].organization,
        kind=AlertKind.LOW_STOCK,
        scope="channel",
        channel=channel,
        throttle_minutes=100000,
    )
    own_rule = AlertRule.objects.create(
        name="r1a on its store",
        organization=worlds.orgs["r1a"].organization,
        kind=AlertKind.LOW_STOCK,
        scope="channel",
        channel=channel,
    )
    alert_services.evaluate([AlertKind.LOW_STOCK])
    assert Alert.objects.get(kind=AlertKind.LOW_STOCK, channel=channel).rule == own_rule
    assert supplier_rule.pk < own_rule.pk


def test_a_refusal_for_a_resellers_own_product_is_not_its_suppliers_figure(worlds, resellers_own_product):
    own = resellers_own_product
    StockRefusal.objects.create(
        channel=own.channel, variant=own.variant, order_ref="pvr1a-own-refused", requested=99, available=30
    )
    supplier = _staff(worlds.orgs["s1"], Membership.Role.MANAGER)
    reseller = _staff(worlds.orgs["r1a"], Membership.Role.MANAGER)
    assert channel_figures([own.channel_id], supplier)[own.channel_id].refused == 1  # for cat1-sku only
    assert channel_figures([own.channel_id], reseller)[own.channel_id].refused == 2
