"""The inventory admin: every page renders, the ledger is read-only, and stock changes only through services."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from rest_framework.authtoken.models import Token

from inventory import services
from inventory.models import Category, ChannelListing, ListingStateChange, StockLevel, StockMovement, Variant
from tests import factories
from tests.factories import (
    CategoryFactory,
    ChannelFactory,
    ChannelListingFactory,
    ChannelWarehouseFactory,
    MembershipFactory,
    UserFactory,
    VariantFactory,
    WarehouseFactory,
)

pytestmark = pytest.mark.django_db

Reason = StockMovement.Reason
Source = StockMovement.Source

REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)
REGISTERED_IDS = [model._meta.label for model, _ in REGISTERED]
INVENTORY_MODELS = [model for model, _ in REGISTERED if model._meta.app_label == "inventory"]


def admin_url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def movements_url(level):
    query = f"warehouse__id__exact={level.warehouse_id}&variant__id__exact={level.variant_id}"
    return f"{admin_url(StockMovement, 'changelist')}?{query}"


def change_form_data(client, url, **changes):
    """What a browser would post back from the change form at ``url``, with ``changes`` made."""
    page = client.get(url)
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    for inline in page.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data.update({management.add_prefix(name): value for name, value in management.initial.items()})
    data.update(changes)
    return {name: "" if value is None else value for name, value in data.items()}


def log_in(client, user):
    client.force_login(user)
    return client


def form_errors(response):
    return response.context["adminform"].form.errors


@pytest.fixture
def root_client(client, superuser):
    return log_in(client, superuser)


@pytest.fixture
def level(warehouse, variant, receive):
    """Ten units of the variant booked at the warehouse."""
    receive(warehouse, variant, 10)
    return StockLevel.objects.get(warehouse=warehouse, variant=variant)


@pytest.fixture
def clerk(db):
    """A staff member who may look at stock and the catalog, but holds no stock permission."""
    user = UserFactory(username="clerk")
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_stocklevel", "view_variant", "view_warehouse"])
    )
    return user


def stock_and_list(warehouse, variant, **rules):
    """Ten units of ``variant`` booked at ``warehouse`` and listed, with ``rules``, on a channel drawing from it."""
    services.receive_stock(warehouse=warehouse, variant=variant, quantity=10, source=Source.SYSTEM)
    channel = ChannelFactory()
    ChannelWarehouseFactory(channel=channel, warehouse=warehouse)
    listing = ChannelListingFactory(channel=channel, variant=variant, **rules)
    services.refresh_listings(listing_ids=[listing.pk], cause=ListingStateChange.Cause.RULES)


def add_rows(n):
    """n more rows in every inventory changelist, each with its own related objects."""
    root = CategoryFactory()
    for _ in range(n):
        MembershipFactory()  # a user and an organization
        stock_and_list(WarehouseFactory(), VariantFactory(product__category=CategoryFactory(parent=root)), buffer=1)


def example_of(model):
    """An existing row of ``model``: the world's, or else one from the model's factory."""
    existing = model._default_manager.first()
    if existing is not None:
        return existing
    model_factory = getattr(factories, f"{model.__name__}Factory", None)
    assert model_factory, f"Give {model._meta.label} a row in the `world` fixture or a factory in tests/factories.py"
    return model_factory()


# --- Every page renders ------------------------------------------------------------------------


class TestEveryPage:
    """Every admin page renders, over one world made once for all of them: they only read it."""

    @pytest.fixture(scope="class")
    @classmethod
    def world(cls, class_db):
        """A row of every model the admin shows, so each change form has something to open."""
        superuser = UserFactory(username="root", is_superuser=True)
        category = CategoryFactory(parent=CategoryFactory(name="Tobacco", slug="tobacco"), name="Pipe", slug="pipe")
        stock_and_list(WarehouseFactory(), VariantFactory(product__category=category))
        Group.objects.create(name="Clerks")
        Token.objects.create(user=superuser)
        every_minute = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.MINUTES)
        PeriodicTask.objects.create(
            name="heartbeat", task="config.celery.record_worker_heartbeat_task", interval=every_minute
        )
        CrontabSchedule.objects.create()
        SolarSchedule.objects.create(event="sunrise", latitude=0, longitude=0)
        ClockedSchedule.objects.create(clocked_time=timezone.now())

    @pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=REGISTERED_IDS)
    def test_every_changelist_renders(self, root_client, world, model, model_admin):
        assert root_client.get(admin_url(model, "changelist")).status_code == 200

    @pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=REGISTERED_IDS)
    def test_every_change_form_renders(self, root_client, world, model, model_admin):
        assert root_client.get(admin_url(model, "change", example_of(model).pk)).status_code == 200

    @pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=REGISTERED_IDS)
    def test_every_allowed_add_form_renders(self, root_client, world, model, model_admin, rf, superuser):
        request = rf.get("/")
        request.user = superuser

        response = root_client.get(admin_url(model, "add"))

        assert response.status_code == (200 if model_admin.has_add_permission(request) else 403)


class TestChangelistQueries:
    """No inventory changelist queries per row, over rows made once for the ten of them: they only read them."""

    @pytest.fixture(scope="class")
    @classmethod
    def queries_for_three_rows(cls, class_db):
        """{model: the queries of its changelist with three rows}; then 27 rows more are added."""
        client = Client()
        client.force_login(UserFactory(username="root", is_superuser=True))
        add_rows(3)
        queries = {}
        for model in INVENTORY_MODELS:
            url = admin_url(model, "changelist")
            client.get(url)  # warm the per-process caches (content types, ...)
            with CaptureQueriesContext(connection) as three_rows:
                client.get(url)
            queries[model] = len(three_rows)
        add_rows(27)
        return queries

    @pytest.mark.parametrize("model", INVENTORY_MODELS, ids=[model._meta.label for model in INVENTORY_MODELS])
    def test_changelists_do_not_query_per_row(
        self, root_client, queries_for_three_rows, model, django_assert_max_num_queries
    ):
        with django_assert_max_num_queries(queries_for_three_rows[model]):
            response = root_client.get(admin_url(model, "changelist"))

        assert response.context["cl"].result_count >= 30


# --- The ledger ----------------------------------------------------------------------------------


def test_ledger_offers_no_add_change_or_delete_even_to_superusers(root_client, level):
    movement = StockMovement.objects.get()
    change_url = admin_url(StockMovement, "change", movement.pk)
    delete_url = admin_url(StockMovement, "delete", movement.pk)

    assert root_client.get(admin_url(StockMovement, "add")).status_code == 403
    assert root_client.get(change_url).status_code == 200  # to view it
    assert root_client.post(change_url, {"quantity": 999, "on_hand_after": 999}).status_code == 403
    assert root_client.get(delete_url).status_code == 403
    assert root_client.post(delete_url, {"post": "yes"}).status_code == 403
    changelist = root_client.get(admin_url(StockMovement, "changelist"))
    assert not changelist.context["cl"].model_admin.get_actions(changelist.wsgi_request)
    root_client.post(
        admin_url(StockMovement, "changelist"),
        {"action": "delete_selected", "_selected_action": [movement.pk], "index": 0, "post": "yes"},
    )

    unchanged = StockMovement.objects.get()
    assert (unchanged.pk, unchanged.quantity, unchanged.on_hand_after) == (movement.pk, 10, 10)


def test_ledger_lists_signed_quantities_of_one_level(root_client, level, superuser):
    services.adjust_stock(
        warehouse=level.warehouse, variant=level.variant, reason=Reason.DAMAGE, delta=-3, source=Source.ADMIN
    )
    WarehouseFactory()  # another level's movements stay out of the filtered list
    response = root_client.get(movements_url(level))

    assert [m.quantity for m in response.context["cl"].result_list] == [-3, 10]
    assert b'<td class="field-signed_quantity">-3</td>' in response.content
    assert b'<td class="field-signed_quantity">+10</td>' in response.content


# --- Adjusting one level -------------------------------------------------------------------------


def test_adjust_books_one_admin_movement_and_shows_the_ledger(root_client, level, superuser):
    response = root_client.post(
        admin_url(StockLevel, "adjust", level.pk),
        {"delta": -3, "reason": Reason.DAMAGE, "reference": "BIN-7", "note": "Crushed in transit"},
    )

    assert response.status_code == 302
    assert response.url == movements_url(level)
    booked = StockMovement.objects.exclude(reason=Reason.RECEIPT).get()
    assert (booked.quantity, booked.on_hand_after, booked.reason, booked.source, booked.actor) == (
        -3,
        7,
        Reason.DAMAGE,
        Source.ADMIN,
        superuser,
    )
    assert (booked.reference, booked.note) == ("BIN-7", "Crushed in transit")
    level.refresh_from_db()
    assert level.on_hand == 7


def test_adjust_requires_a_reason(root_client, level):
    response = root_client.post(admin_url(StockLevel, "adjust", level.pk), {"delta": -3})

    assert response.status_code == 200
    assert "reason" in form_errors(response)
    assert StockMovement.objects.count() == 1


@pytest.mark.parametrize(
    ("posted", "error"),
    [
        ({"reason": Reason.COUNT}, "Give either a change or a counted quantity."),
        ({"delta": 2, "set_on_hand": 4, "reason": Reason.COUNT}, "not both"),
        ({"delta": 0, "reason": Reason.ADJUSTMENT}, "A change of zero books nothing."),
        ({"set_on_hand": -1, "reason": Reason.COUNT}, "greater than or equal to 0"),
        ({"delta": 1, "reason": Reason.SALE}, "Select a valid choice."),
        ({"delta": 1, "reason": Reason.SYNC_CORRECTION}, "Select a valid choice."),
    ],
)
def test_adjust_refuses_an_incomplete_or_contradictory_form(root_client, level, posted, error):
    response = root_client.post(admin_url(StockLevel, "adjust", level.pk), posted)

    assert response.status_code == 200
    assert error in str(form_errors(response))
    assert StockMovement.objects.count() == 1


def test_adjust_below_reserved_is_a_form_error_and_changes_nothing(root_client, level):
    StockLevel.objects.filter(pk=level.pk).update(reserved=8)

    response = root_client.post(admin_url(StockLevel, "adjust", level.pk), {"delta": -5, "reason": Reason.DAMAGE})

    assert response.status_code == 200
    assert "below the 8 units reserved" in str(form_errors(response))
    level.refresh_from_db()
    assert (level.on_hand, level.reserved) == (10, 8)
    assert StockMovement.objects.count() == 1


def test_a_counted_quantity_books_the_difference(root_client, level, superuser):
    response = root_client.post(
        admin_url(StockLevel, "adjust", level.pk), {"set_on_hand": 4, "reason": Reason.COUNT, "reference": "COUNT-12"}
    )

    assert response.status_code == 302
    booked = StockMovement.objects.get(reason=Reason.COUNT)
    assert (booked.quantity, booked.on_hand_after, booked.source, booked.actor) == (-6, 4, Source.ADMIN, superuser)


def test_a_count_that_matches_books_nothing(root_client, level):
    response = root_client.post(
        admin_url(StockLevel, "adjust", level.pk), {"set_on_hand": 10, "reason": Reason.COUNT}, follow=True
    )

    assert "nothing was booked" in response.content.decode()
    assert StockMovement.objects.count() == 1


def test_the_adjust_form_is_linked_from_the_list_and_the_level(root_client, level):
    adjust_url = admin_url(StockLevel, "adjust", level.pk)

    changelist = root_client.get(admin_url(StockLevel, "changelist"))
    level_page = root_client.get(admin_url(StockLevel, "change", level.pk))
    adjust_page = root_client.get(adjust_url)

    assert f'href="{adjust_url}"' in changelist.content.decode()
    assert f'href="{adjust_url}"' in level_page.content.decode()
    assert adjust_page.status_code == 200
    assert b"<td>10</td><td>0</td><td>10</td>" in adjust_page.content  # on hand, reserved, available


# --- Receiving and transferring ------------------------------------------------------------------


def test_receive_books_a_receipt(root_client, warehouse, variant, superuser):
    response = root_client.post(
        admin_url(StockLevel, "receive"),
        {"warehouse": warehouse.pk, "variant": variant.pk, "quantity": 12, "reference": "PO-881"},
    )

    assert response.status_code == 302
    receipt = StockMovement.objects.get()
    assert (receipt.reason, receipt.quantity, receipt.source, receipt.actor, receipt.reference) == (
        Reason.RECEIPT,
        12,
        Source.ADMIN,
        superuser,
        "PO-881",
    )
    assert StockLevel.objects.get(warehouse=warehouse, variant=variant).on_hand == 12


def test_receive_form_is_prefilled_from_the_level_page_link(root_client, level):
    response = root_client.get(
        f"{admin_url(StockLevel, 'receive')}?warehouse={level.warehouse_id}&variant={level.variant_id}&quantity=lots"
    )

    assert response.status_code == 200
    assert f'<option value="{level.variant_id}" selected>'.encode() in response.content
    assert b"admin-autocomplete" in response.content


def test_transfer_moves_stock_in_one_operation(root_client, level, superuser):
    store = WarehouseFactory(code="store")

    response = root_client.post(
        admin_url(StockLevel, "transfer"),
        {"from_warehouse": level.warehouse_id, "to_warehouse": store.pk, "variant": level.variant_id, "quantity": 4},
    )

    assert response.status_code == 302
    out_leg, in_leg = StockMovement.objects.filter(reason=Reason.TRANSFER).order_by("quantity")
    assert (out_leg.warehouse, out_leg.quantity, in_leg.warehouse, in_leg.quantity) == (level.warehouse, -4, store, 4)
    assert out_leg.operation_id == in_leg.operation_id
    assert {(m.source, m.actor) for m in (out_leg, in_leg)} == {(Source.ADMIN, superuser)}
    on_hand = dict(StockLevel.objects.filter(variant=level.variant).values_list("warehouse__code", "on_hand"))
    assert on_hand == {level.warehouse.code: 6, "store": 4}


@pytest.mark.parametrize(
    ("quantity", "same_warehouse", "error"),
    [(11, False, "it cannot go below zero"), (2, True, "Choose a different warehouse")],
)
def test_transfer_refusals_change_nothing(root_client, level, quantity, same_warehouse, error):
    destination = level.warehouse if same_warehouse else WarehouseFactory()

    response = root_client.post(
        admin_url(StockLevel, "transfer"),
        {
            "from_warehouse": level.warehouse_id,
            "to_warehouse": destination.pk,
            "variant": level.variant_id,
            "quantity": quantity,
        },
    )

    assert response.status_code == 200
    assert error in str(form_errors(response))
    assert StockMovement.objects.count() == 1


# --- Bulk adjustment -----------------------------------------------------------------------------


@pytest.fixture
def two_levels(warehouse, receive):
    """Levels holding 10 and 2 units."""
    plenty, scarce = VariantFactory(), VariantFactory()
    receive(warehouse, plenty, 10)
    receive(warehouse, scarce, 2)
    return [StockLevel.objects.get(variant=plenty), StockLevel.objects.get(variant=scarce)]


def bulk_adjust(client, levels, **form):
    data = {"action": "adjust_selected_levels", "_selected_action": [level.pk for level in levels], **form}
    return client.post(admin_url(StockLevel, "changelist"), data)


def test_bulk_adjust_asks_for_the_change_first(root_client, two_levels):
    response = bulk_adjust(root_client, two_levels, index=0)

    assert response.status_code == 200
    assert "admin/inventory/stocklevel/bulk_adjust.html" in [t.name for t in response.templates]
    assert StockMovement.objects.count() == 2


def test_bulk_adjust_requires_a_reason(root_client, two_levels):
    response = bulk_adjust(root_client, two_levels, apply="1", delta=-1)

    assert response.status_code == 200
    assert "reason" in form_errors(response)
    assert StockMovement.objects.count() == 2


def test_bulk_adjust_is_all_or_nothing(root_client, two_levels, superuser):
    refused = bulk_adjust(root_client, two_levels, apply="1", delta=-3, reason=Reason.DAMAGE)

    assert refused.status_code == 200
    assert "below zero" in str(form_errors(refused))
    assert [StockLevel.objects.get(pk=level.pk).on_hand for level in two_levels] == [10, 2]

    applied = bulk_adjust(root_client, two_levels, apply="1", delta=-2, reason=Reason.DAMAGE)

    assert applied.status_code == 302
    assert [StockLevel.objects.get(pk=level.pk).on_hand for level in two_levels] == [8, 0]
    booked = StockMovement.objects.filter(reason=Reason.DAMAGE)
    assert {(m.quantity, m.source, m.actor) for m in booked} == {(-2, Source.ADMIN, superuser)}
    assert len({m.operation_id for m in booked}) == 1


# --- Permission ----------------------------------------------------------------------------------


def test_stock_operations_need_the_adjust_stock_permission(client, clerk, level):
    log_in(client, clerk)
    operation_urls = [
        admin_url(StockLevel, "adjust", level.pk),
        admin_url(StockLevel, "receive"),
        admin_url(StockLevel, "transfer"),
    ]

    assert [client.get(url).status_code for url in operation_urls] == [403, 403, 403]
    assert [client.post(url, {"delta": 5, "reason": Reason.ADJUSTMENT}).status_code for url in operation_urls] == [
        403,
        403,
        403,
    ]
    changelist = client.get(admin_url(StockLevel, "changelist"))
    assert changelist.status_code == 200
    assert operation_urls[0] not in changelist.content.decode()
    assert "adjust_selected_levels" not in changelist.content.decode()
    assert StockMovement.objects.count() == 1


def test_the_adjust_stock_permission_opens_the_operations(client, clerk, level):
    clerk.user_permissions.add(Permission.objects.get(codename="adjust_stock"))
    log_in(client, clerk)

    response = client.post(admin_url(StockLevel, "adjust", level.pk), {"delta": 5, "reason": Reason.RETURN})

    assert response.status_code == 302
    assert StockMovement.objects.get(reason=Reason.RETURN).actor == clerk


# --- Stock level and variant lists ---------------------------------------------------------------


def test_stock_levels_filter_below_threshold_and_sort_by_available(root_client, warehouse, receive):
    low, healthy = VariantFactory(low_stock_threshold=5), VariantFactory(low_stock_threshold=5)
    receive(warehouse, low, 5)
    receive(warehouse, healthy, 20)
    changelist = admin_url(StockLevel, "changelist")

    below = root_client.get(f"{changelist}?below_threshold=yes")
    column = root_client.get(changelist).context["cl"].list_display.index("available")
    by_available = root_client.get(f"{changelist}?o=-{column}")

    assert [level.variant for level in below.context["cl"].result_list] == [low]
    assert [level.variant for level in by_available.context["cl"].result_list] == [healthy, low]


def test_variant_list_shows_stock_on_hand_over_all_warehouses(root_client, variant, receive):
    receive(WarehouseFactory(), variant, 10)
    receive(WarehouseFactory(), variant, 5)

    response = root_client.get(admin_url(Variant, "changelist"))

    assert b'<td class="field-total_on_hand">15</td>' in response.content


def test_category_list_shows_full_paths_in_tree_order(root_client):
    tobacco = CategoryFactory(name="Tobacco")
    CategoryFactory(parent=CategoryFactory(parent=tobacco, name="Pipe"), name="Aromatic")
    CategoryFactory(name="Accessories")

    response = root_client.get(admin_url(Category, "changelist"))

    assert [str(category) for category in response.context["cl"].result_list] == [
        "Accessories",
        "Tobacco",
        "Tobacco / Pipe",
        "Tobacco / Pipe / Aromatic",
    ]


# --- Channel listings ----------------------------------------------------------------------------


@pytest.fixture
def listing(warehouse, variant, receive, channel_with, listing_for):
    """A listing over a pool of 10 units, sellable."""
    receive(warehouse, variant, 10)
    listing = listing_for(channel_with(warehouse), variant)
    services.refresh_listings(listing_ids=[listing.pk], cause=ListingStateChange.Cause.RULES)
    listing.refresh_from_db()
    assert listing.is_sellable
    return listing


def test_listing_list_shows_the_channel_availability(root_client, listing):
    services.update_listing_rules(listing, buffer=2, allocation_percent=50)

    response = root_client.get(admin_url(ChannelListing, "changelist"))

    assert b'<td class="field-pool">10</td>' in response.content
    assert b'<td class="field-channel_available">4</td>' in response.content


def test_editing_the_buffer_changes_sellability_and_records_it(root_client, listing):
    change_url = admin_url(ChannelListing, "change", listing.pk)

    hidden = root_client.post(change_url, change_form_data(root_client, change_url, buffer=10))

    assert hidden.status_code == 302
    listing.refresh_from_db()
    assert (listing.buffer, listing.is_sellable) == (10, False)
    latest = listing.state_changes.first()
    assert (latest.sellable, latest.available, latest.cause) == (False, 0, ListingStateChange.Cause.RULES)

    root_client.post(change_url, change_form_data(root_client, change_url, buffer=2))

    listing.refresh_from_db()
    assert listing.is_sellable
    assert [change.sellable for change in listing.state_changes.all()] == [True, False, True]
    page = root_client.get(change_url)
    assert len(page.context["inline_admin_formsets"][0].formset.forms) == 3


def test_a_listing_added_in_the_admin_gets_its_sellable_state(root_client, warehouse, variant, receive, channel_with):
    receive(warehouse, variant, 10)
    channel = channel_with(warehouse)
    add_url = admin_url(ChannelListing, "add")
    form = change_form_data(root_client, add_url, channel=channel.pk, variant=variant.pk)

    response = root_client.post(add_url, form)

    assert response.status_code == 302
    listing = ChannelListing.objects.get()
    assert listing.is_sellable
    assert listing.state_changes.get().cause == ListingStateChange.Cause.RULES


def test_deactivating_a_variant_makes_its_listings_unsellable(root_client, listing):
    change_url = admin_url(Variant, "change", listing.variant_id)

    response = root_client.post(change_url, change_form_data(root_client, change_url, active=False))

    assert response.status_code == 302
    listing.refresh_from_db()
    assert not listing.is_sellable
    assert listing.state_changes.first().cause == ListingStateChange.Cause.CATALOG
