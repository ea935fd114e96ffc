"""The demo world that ``make run`` loads: complete, consistent with the ledger, and safe to load again."""

import io
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import F

from alerts import services as alerts
from alerts.models import Alert, Kind, Severity
from alerts.selectors import sku_subject
from config.celery import app as celery_app
from connectors import services as connectors
from connectors.models import ConnectorAccount, SyncConflict
from inventory import demo, services
from inventory.models import (
    Category,
    Channel,
    ChannelListing,
    ChannelWarehouse,
    ListingStateChange,
    Organization,
    Product,
    StockLevel,
    StockMovement,
    Variant,
    Warehouse,
)
from inventory.selectors import ledger_mismatches, listing_availability

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def load_demo() -> str:
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


@pytest.fixture
def worker(django_capture_on_commit_callbacks):
    """Runs what a commit queues as ``make run``'s worker would, at once: ``with worker(): ...``."""
    before = {name: celery_app.conf[name] for name in ("task_always_eager", "task_eager_propagates")}
    celery_app.conf.update(task_always_eager=True, task_eager_propagates=True)
    try:
        yield lambda: django_capture_on_commit_callbacks(execute=True)
    finally:
        celery_app.conf.update(before)


def open_alerts() -> list[tuple[str, str, str]]:
    return sorted(Alert.objects.active().values_list("kind", "subject", "severity"))


def last_geekbar_at_bmb() -> list[tuple[str, str, str]]:
    """(kind, subject, severity) of the alerts on BMB's last Geek Bar Watermelon Ice: low, due for reorder, and
    gone from the resellers' stores (their buffers hold the last unit back)."""
    geekbar = Variant.objects.get(sku="GEEKBAR-PULSE-WATERMELON-ICE")
    at_bmb = sku_subject(geekbar.pk, Organization.objects.get(slug="bmb-wholesale").pk)
    listings = dict(ChannelListing.objects.filter(variant=geekbar).values_list("channel__code", "pk"))
    return [
        (Kind.LOW_STOCK, at_bmb, Severity.MEDIUM),
        (Kind.REORDER_POINT, at_bmb, Severity.MEDIUM),
        (Kind.OUT_OF_STOCK, f"listing:{listings['vip-smoke']}", Severity.MEDIUM),
        (Kind.OUT_OF_STOCK, f"listing:{listings['sigdistro']}", Severity.MEDIUM),
    ]


def the_demo_morning() -> list[tuple[str, str, str]]:
    """Every alert the demo opens on: the last Geek Bar at BMB, Reuzel Blue sold out at BookBarber, and a price
    BMB's Zoho Inventory disagrees on."""
    reuzel = Variant.objects.get(sku="REUZEL-BLUE-4OZ")
    at_bookbarber = sku_subject(reuzel.pk, Organization.objects.get(slug="bookbarber").pk)
    zoho = ConnectorAccount.objects.get(kind="zoho_inventory")
    return sorted(
        [
            *last_geekbar_at_bmb(),
            (Kind.OUT_OF_STOCK, at_bookbarber, Severity.HIGH),
            (Kind.REORDER_POINT, at_bookbarber, Severity.MEDIUM),
            (Kind.SYNC_CONFLICT, f"account:{zoho.pk}", Severity.MEDIUM),
        ]
    )


def world_snapshot() -> dict:
    return {
        "counts": {
            model.__name__: model.objects.count()
            for model in (
                Organization,
                Warehouse,
                Channel,
                ChannelWarehouse,
                Category,
                Product,
                Variant,
                StockLevel,
                StockMovement,
                ChannelListing,
                ListingStateChange,
            )
        },
        "levels": set(StockLevel.objects.values_list("variant__sku", "warehouse__code", "on_hand")),
        "listings": set(
            ChannelListing.objects.values_list(
                "channel__code", "variant__sku", "buffer", "allocation_percent", "max_quantity", "price", "is_sellable"
            )
        ),
        "variants": set(Variant.objects.values_list("sku", "barcode", "price", "cost_price", "low_stock_threshold")),
    }


def ean13_is_valid(code: str) -> bool:
    if len(code) != 13 or not code.isdigit():
        return False
    weighted = sum(int(digit) * (3 if position % 2 else 1) for position, digit in enumerate(code[:12]))
    return (10 - weighted % 10) % 10 == int(code[12])


def test_organizations_warehouses_and_channels_are_wired_as_the_design_describes():
    # When
    load_demo()

    # Then
    kinds = dict(Organization.objects.values_list("slug", "kind"))
    assert kinds == {
        "bmb-wholesale": Organization.Kind.SUPPLIER,
        "vip-smoke": Organization.Kind.RESELLER,
        "sigdistro": Organization.Kind.RESELLER,
        "bookbarber": Organization.Kind.RETAILER,
    }
    assert Organization.objects.get(slug="bmb-wholesale").name == "BMB Wholesale INC. Cash & Carry"
    warehouses = {w.code: w for w in Warehouse.objects.select_related("organization")}
    assert {code: (w.organization.slug, w.system_of_record) for code, w in warehouses.items()} == {
        "bmb-cash-carry": ("bmb-wholesale", Warehouse.SystemOfRecord.ZOHO_INVENTORY),
        "bookbarber-shop": ("bookbarber", Warehouse.SystemOfRecord.CIN7_CORE),
        "amazon-fba-us": ("bmb-wholesale", Warehouse.SystemOfRecord.AMAZON_FBA),
    }
    assert all(w.external_location_id and w.is_mirrored for w in warehouses.values())

    channels = {c.code: c for c in Channel.objects.select_related("organization")}
    assert {code: (c.kind, c.organization.slug) for code, c in channels.items()} == {
        "vip-smoke": (Channel.Kind.STOREFRONT, "vip-smoke"),
        "sigdistro": (Channel.Kind.STOREFRONT, "sigdistro"),
        "bmb-b2b": (Channel.Kind.WHOLESALE, "bmb-wholesale"),
        "medusa-store": (Channel.Kind.STOREFRONT, "bmb-wholesale"),
        "bookbarber-pos": (Channel.Kind.POS, "bookbarber"),
        "amazon-us": (Channel.Kind.MARKETPLACE, "bmb-wholesale"),
    }
    draws_from = {
        code: list(
            ChannelWarehouse.objects.filter(channel__code=code)
            .order_by("priority")
            .values_list("warehouse__code", "priority")
        )
        for code in channels
    }
    assert draws_from["amazon-us"] == [("bmb-cash-carry", 0), ("amazon-fba-us", 1)]
    assert draws_from["bookbarber-pos"] == [("bookbarber-shop", 0)]
    for code in ("vip-smoke", "sigdistro", "bmb-b2b", "medusa-store"):
        assert draws_from[code] == [("bmb-cash-carry", 0)]
    assert channels["bookbarber-pos"].reservation_ttl_seconds < 900
    assert channels["vip-smoke"].reservation_ttl_seconds == 900


def test_catalogue_is_a_two_level_tree_of_hundreds_of_priced_variants_with_unique_codes():
    # When
    load_demo()

    # Then
    assert Category.objects.filter(parent__isnull=True).count() >= 3
    assert Category.objects.filter(parent__parent__isnull=True, parent__isnull=False).count() >= 10
    assert not Product.objects.filter(category__parent__isnull=True).exists()
    variants = list(Variant.objects.select_related("product"))
    assert len(variants) >= 300
    barcodes = [v.barcode for v in variants]
    assert len(set(barcodes)) == len(barcodes)
    assert all(ean13_is_valid(code) for code in barcodes)
    assert Variant.objects.get(sku="TOMB45-SHAVE-CBLCK").product.brand == "Tomb45"
    for variant in variants:
        assert variant.sku == variant.sku.upper()
        assert " " not in variant.sku
        assert variant.name
        assert variant.attributes
        assert Decimal(0) < variant.cost_price < variant.price
        assert variant.reorder_point > variant.low_stock_threshold > 0


def test_stock_is_above_every_reorder_point_but_for_the_storys_shortages_and_every_level_matches_its_ledger():
    # When
    load_demo()

    # Then
    levels = StockLevel.objects.all()
    due = levels.filter(on_hand__lte=F("variant__reorder_point"))
    shortages = due.values_list("warehouse__code", "variant__sku", "on_hand")
    assert {(code, sku): on_hand for code, sku, on_hand in shortages} == {
        ("bmb-cash-carry", "GEEKBAR-PULSE-WATERMELON-ICE"): 1,
        ("bookbarber-shop", "REUZEL-BLUE-4OZ"): 0,
    }
    # More than a low-stock threshold over the reorder point: even SigDistro's half after its buffer of 2 is some.
    comfortable = F("variant__reorder_point") + F("variant__low_stock_threshold")
    assert not levels.exclude(pk__in=due).filter(on_hand__lte=comfortable).exists()
    assert not ledger_mismatches().exists()
    movements = StockMovement.objects.all()
    assert set(movements.values_list("reason", "source", "reference")) == {
        (StockMovement.Reason.RECEIPT, StockMovement.Source.SYSTEM, demo.OPENING_STOCK_REFERENCE)
    }
    assert movements.count() == levels.filter(on_hand__gt=0).count()
    assert movements.values("operation_id").distinct().count() == 1

    barber = levels.filter(variant__product__category__parent__slug="barber-grooming")
    smoke = levels.filter(variant__product__category__parent__slug="vape-smoke")
    assert barber.filter(warehouse__code="bookbarber-shop").exists()
    assert barber.filter(warehouse__code="bmb-cash-carry").exists()
    assert not smoke.exclude(warehouse__code__in=["bmb-cash-carry", "amazon-fba-us"]).exists()
    amazon = levels.filter(warehouse__code="amazon-fba-us")
    assert 0 < amazon.count() < levels.filter(warehouse__code="bmb-cash-carry").count()


def test_every_channel_lists_variants_with_its_exposure_rules_and_a_computed_sellable_state():
    # When
    load_demo()

    # Then
    listings = ChannelListing.objects.all()
    bmb_variants = set(StockLevel.objects.filter(warehouse__code="bmb-cash-carry").values_list("variant_id", flat=True))
    for code in ("vip-smoke", "sigdistro", "bmb-b2b", "medusa-store"):
        assert set(listings.filter(channel__code=code).values_list("variant_id", flat=True)) == bmb_variants
    amazon = set(listings.filter(channel__code="amazon-us").values_list("variant_id", flat=True))
    assert amazon
    assert amazon < bmb_variants
    barber = set(Variant.objects.filter(product__category__parent__slug="barber-grooming").values_list("id", flat=True))
    assert set(listings.filter(channel__code="bookbarber-pos").values_list("variant_id", flat=True)) == barber

    rules = {
        code: set(
            listings.filter(channel__code=code).values_list("buffer", "allocation_percent", "max_quantity").distinct()
        )
        for code in ("vip-smoke", "sigdistro", "bmb-b2b", "amazon-us")
    }
    assert rules == {
        "vip-smoke": {(1, 100, None)},
        "sigdistro": {(2, 50, None)},
        "bmb-b2b": {(0, 100, None)},
        "amazon-us": {(3, 100, 25)},
    }
    assert not listings.filter(channel__code="bmb-b2b", price__isnull=True).exists()

    assert all(entry.rules.is_sellable == entry.sellable for entry in listing_availability(listings))
    assert listings.filter(is_sellable=True).exists()
    assert listings.filter(is_sellable=False).exists()
    assert ListingStateChange.objects.filter(cause=ListingStateChange.Cause.CATALOG).count() == (
        listings.filter(is_sellable=True).count()
    )


def test_loading_twice_gives_the_same_world():
    # Given
    load_demo()
    first = world_snapshot()

    # When
    load_demo()

    # Then
    assert world_snapshot() == first
    assert not ledger_mismatches().exists()


def test_reloading_keeps_stock_and_exposure_rules_that_staff_changed():
    # Given
    load_demo()
    level = StockLevel.objects.filter(warehouse__code="bmb-cash-carry", on_hand__gt=0).order_by("pk").first()
    services.adjust_stock(
        warehouse=level.warehouse,
        variant=level.variant,
        reason=StockMovement.Reason.COUNT,
        source=StockMovement.Source.ADMIN,
        set_on_hand=level.on_hand + 7,
    )
    listing = ChannelListing.objects.get(channel__code="vip-smoke", variant=level.variant)
    services.update_listing_rules(listing, buffer=4)
    movements = StockMovement.objects.count()

    # When
    load_demo()

    # Then
    level_after = StockLevel.objects.get(pk=level.pk)
    assert level_after.on_hand == level.on_hand + 7
    assert StockMovement.objects.count() == movements
    assert ChannelListing.objects.get(pk=listing.pk).buffer == 4


def test_reloading_brings_drifted_catalogue_rows_back_in_line_with_the_demo_data():
    # Given
    load_demo()
    variant = Variant.objects.get(sku="TOMB45-SHAVE-CBLCK")
    Variant.objects.filter(pk=variant.pk).update(price=Decimal("99.00"), name="Renamed")

    # When
    load_demo()

    # Then
    reloaded = Variant.objects.get(pk=variant.pk)
    assert (reloaded.price, reloaded.name) == (variant.price, variant.name)


def test_admin_login_follows_the_demo_password_setting(settings):
    # Given
    settings.DEMO_ADMIN_PASSWORD = "first-demo-pass"
    load_demo()
    settings.DEMO_ADMIN_PASSWORD = "second-demo-pass"

    # When
    output = load_demo()

    # Then
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser
    assert admin.is_staff
    assert admin.is_active
    assert admin.check_password("second-demo-pass")
    assert "Admin login: admin / second-demo-pass\n" in output
    assert "Stock clerk at BMB Wholesale INC. Cash & Carry login: clerk / second-demo-pass\n" in output
    assert "Manager at BMB Wholesale INC. Cash & Carry login: manager / second-demo-pass\n" in output
    assert output.rstrip().endswith("Manager at BookBarber login: bookbarber-manager / second-demo-pass")
    for slug in ("vip-smoke", "sigdistro", "bookbarber"):
        for role, group in (("clerk", "Stock clerk"), ("manager", "Manager")):
            user = get_user_model().objects.get(username=f"{slug}-{role}")
            assert [m.organization.slug for m in user.memberships.all()] == [slug]
            assert [g.name for g in user.groups.all()] == [group]
    clerk = get_user_model().objects.get(username="clerk")
    assert [(m.organization.slug, m.role) for m in clerk.memberships.all()] == [("bmb-wholesale", "clerk")]
    assert clerk.check_password("second-demo-pass")
    assert [g.name for g in clerk.groups.all()] == ["Stock clerk"]
    assert not clerk.is_superuser
    assert clerk.has_perm("inventory.adjust_stock")
    assert not clerk.has_perm("alerts.resolve_alert")


def test_output_summarises_the_world():
    # When
    output = load_demo()

    # Then
    units = sum(StockLevel.objects.values_list("on_hand", flat=True))
    assert "organizations  4" in output
    assert "warehouses     3" in output
    assert "channels       6" in output
    assert f"variants       {Variant.objects.count()}" in output
    assert f"listings       {ChannelListing.objects.count()}" in output
    assert f"units on hand  {units}" in output


def test_the_demo_opens_on_a_handful_of_alerts_that_tell_its_story_and_the_minute_sweep_adds_none(worker):
    # When
    with worker():
        load_demo()

    # Then: the worker has evaluated the stock the opening booked (an empty level books nothing)
    assert open_alerts() == sorted(last_geekbar_at_bmb())

    # When
    with worker():
        alerts.evaluate()  # beat's sweep of every kind

    # Then
    assert open_alerts() == the_demo_morning()
    assert Alert.objects.count() == len(the_demo_morning())  # nothing raised and resolved on the way


def test_the_zoho_price_waits_for_bmbs_manager_once_and_loading_again_raises_nothing_more(worker):
    # Given
    with worker():
        load_demo()
    zoho = ConnectorAccount.objects.get(kind="zoho_inventory")

    # Then
    conflict = SyncConflict.objects.get()
    assert zoho.conflict_strategy == ConnectorAccount.ConflictStrategy.MANUAL
    assert (conflict.account, conflict.variant.sku, conflict.field) == (zoho, "ELFBAR-BC5000-BLUE-RAZZ-ICE", "price")
    assert (conflict.local_value, conflict.remote_value, conflict.status) == ("16.99", "17.99", "open")

    # When
    connectors.resolve_conflict(conflict, take_partner_value=False, user=None)
    with worker():
        load_demo()
        alerts.evaluate()

    # Then
    assert SyncConflict.objects.get().status == SyncConflict.Status.RESOLVED
    assert open_alerts() == [alert for alert in the_demo_morning() if alert[0] != Kind.SYNC_CONFLICT]
