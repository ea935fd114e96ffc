"""Alert rules per organization: subscriptions hear only of what their organization sees, detection stays
the platform's, digests go out once, and the admin keeps each organization to its own rules.

The world: a supplier whose warehouse feeds a reseller's store and a competitor's store, each
listing SKUs of the supplier's; a second supplier with a warehouse of its own. Platform rules (no
organization) raise out-of-stock alerts per SKU, per level at each warehouse and per listing on each
store, and sync failures of the supplier's account, and tell the platform operator of all of them.
"""

import io
import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from alerts import demo, notifications, services
from alerts.models import Alert, AlertRule, Kind
from config.celery import app as celery_app
from connectors import signing
from connectors.models import ConnectorAccount, SyncJob
from inventory import services as stock
from inventory.models import Channel, Membership, Organization, Variant, Warehouse
from inventory.scoping import visible_to_organizations
from tests.factories import (
    AlertFactory,
    AlertRuleFactory,
    ChannelFactory,
    ChannelListingFactory,
    ChannelWarehouseFactory,
    ConnectorAccountFactory,
    OrganizationFactory,
    SyncJobFactory,
    UserFactory,
    VariantFactory,
    WarehouseFactory,
)
from tests.threads import run_together

OPERATOR = demo.PLATFORM_EMAIL
ALERT_LINK = re.compile(r"/admin/alerts/alert/(\d+)/")


@dataclass
class World:
    supplier: Organization
    reseller: Organization
    competitor: Organization
    other_supplier: Organization
    warehouse: Warehouse
    other_warehouse: Warehouse
    store: Channel
    rival_store: Channel
    account: ConnectorAccount
    shared: Variant  # stocked at the warehouse, listed on both stores
    rivals_only: Variant  # stocked at the warehouse, listed on the competitor's store only
    elsewhere: Variant  # stocked at the other supplier's warehouse only


def _out_of_stock_at(warehouse, variant):
    """A level that exists (so its warehouse's organization stocks the SKU) and holds nothing."""
    stock.receive_stock(warehouse=warehouse, variant=variant, quantity=1, source="system")
    stock.adjust_stock(warehouse=warehouse, variant=variant, delta=-1, reason="damage", source="admin")


@pytest.fixture
def world(db) -> World:
    supplier = OrganizationFactory(slug="supplier", kind=Organization.Kind.SUPPLIER)
    reseller = OrganizationFactory(slug="reseller", kind=Organization.Kind.RESELLER)
    competitor = OrganizationFactory(slug="competitor", kind=Organization.Kind.RESELLER)
    other_supplier = OrganizationFactory(slug="other-supplier", kind=Organization.Kind.SUPPLIER)
    warehouse = WarehouseFactory(organization=supplier, code="supplier-wh")
    other_warehouse = WarehouseFactory(organization=other_supplier, code="other-wh")
    store = ChannelFactory(organization=reseller, code="reseller-store")
    rival_store = ChannelFactory(organization=competitor, code="competitor-store")
    for channel in (store, rival_store):
        ChannelWarehouseFactory(channel=channel, warehouse=warehouse)
    shared, rivals_only = (VariantFactory(sku=sku, product__organization=supplier) for sku in ("SHARED", "RIVALS-ONLY"))
    elsewhere = VariantFactory(sku="ELSEWHERE", product__organization=other_supplier)
    for variant in (shared, rivals_only):
        _out_of_stock_at(warehouse, variant)
    _out_of_stock_at(other_warehouse, elsewhere)
    ChannelListingFactory(channel=store, variant=shared)
    ChannelListingFactory(channel=rival_store, variant=shared)
    ChannelListingFactory(channel=rival_store, variant=rivals_only)
    account = ConnectorAccountFactory(organization=supplier, warehouse=warehouse)
    SyncJobFactory(account=account, status=SyncJob.Status.FAILED, finished_at=timezone.now())

    AlertRule.objects.filter(organization=None, kind__in=[Kind.OUT_OF_STOCK, Kind.SYNC_FAILED]).update(
        email_recipients=OPERATOR
    )
    for place in (warehouse, other_warehouse):
        AlertRule.objects.create(
            name=f"Out at {place}",
            kind=Kind.OUT_OF_STOCK,
            scope="warehouse",
            warehouse=place,
            email_recipients=OPERATOR,
        )
    for channel in (store, rival_store):
        AlertRule.objects.create(
            name=f"Out on {channel}",
            kind=Kind.OUT_OF_STOCK,
            scope="channel",
            channel=channel,
            email_recipients=OPERATOR,
        )
    return World(
        supplier,
        reseller,
        competitor,
        other_supplier,
        warehouse,
        other_warehouse,
        store,
        rival_store,
        account,
        shared,
        rivals_only,
        elsewhere,
    )


@pytest.fixture
def eager():
    """Queued tasks run at once, raising what they raise: the notification path as a worker runs it."""
    before = {name: celery_app.conf[name] for name in ("task_always_eager", "task_eager_propagates")}
    celery_app.conf.update(task_always_eager=True, task_eager_propagates=True)
    try:
        yield
    finally:
        celery_app.conf.update(before)


def raise_alerts(capture, kinds=(Kind.OUT_OF_STOCK, Kind.SYNC_FAILED)):
    """Evaluate and run what the commit queues (the notification task, eagerly)."""
    with capture(execute=True):
        services.evaluate(list(kinds))


def alert(kind, subject) -> int:
    return Alert.objects.active().get(kind=kind, subject=subject).pk


def listing_subject(channel, variant):
    return f"listing:{channel.listings.get(variant=variant).pk}"


def mailed_to(address) -> set[int]:
    """Ids of the alerts linked from every email sent to ``address``."""
    return {int(pk) for message in mail.outbox if address in message.to for pk in ALERT_LINK.findall(message.body)}


def subscribe(organization, kind=Kind.OUT_OF_STOCK, **fields):
    return AlertRuleFactory(
        organization=organization, kind=kind, email_recipients=f"{kind}@{organization.slug}.example", **fields
    )


@pytest.mark.usefixtures("eager")
class TestSubscriptions:
    def test_a_reseller_hears_of_its_store_never_of_a_competitor_or_the_suppliers_alerts(
        self, world, django_capture_on_commit_callbacks
    ):
        """Not even of the SKU's own alert, which sums the supplier's stock: of its listing."""
        out, failed = subscribe(world.reseller), subscribe(world.reseller, Kind.SYNC_FAILED)

        raise_alerts(django_capture_on_commit_callbacks)

        assert mailed_to(out.recipients[0]) == {alert(Kind.OUT_OF_STOCK, listing_subject(world.store, world.shared))}
        assert [m for m in mail.outbox if failed.recipients[0] in m.to] == []  # the account is the supplier's

    def test_a_supplier_hears_of_its_warehouse_its_account_and_the_stores_drawing_from_it(
        self, world, django_capture_on_commit_callbacks
    ):
        out, failed = subscribe(world.supplier), subscribe(world.supplier, Kind.SYNC_FAILED)

        raise_alerts(django_capture_on_commit_callbacks)

        assert mailed_to(out.recipients[0]) == {
            alert(Kind.OUT_OF_STOCK, f"variant:{world.shared.pk}@organization:{world.supplier.pk}"),
            alert(Kind.OUT_OF_STOCK, f"variant:{world.rivals_only.pk}@organization:{world.supplier.pk}"),
            alert(Kind.OUT_OF_STOCK, f"variant:{world.shared.pk}@warehouse:{world.warehouse.pk}"),
            alert(Kind.OUT_OF_STOCK, f"variant:{world.rivals_only.pk}@warehouse:{world.warehouse.pk}"),
            alert(Kind.OUT_OF_STOCK, listing_subject(world.store, world.shared)),
            alert(Kind.OUT_OF_STOCK, listing_subject(world.rival_store, world.shared)),
            alert(Kind.OUT_OF_STOCK, listing_subject(world.rival_store, world.rivals_only)),
        }
        assert mailed_to(failed.recipients[0]) == {alert(Kind.SYNC_FAILED, f"account:{world.account.pk}")}

    def test_every_rule_is_told_only_what_its_organization_sees_and_the_platform_of_everything(
        self, world, django_capture_on_commit_callbacks
    ):
        rules = [
            subscribe(organization, kind)
            for organization in (world.supplier, world.reseller, world.competitor, world.other_supplier)
            for kind in (Kind.OUT_OF_STOCK, Kind.SYNC_FAILED)
        ]

        raise_alerts(django_capture_on_commit_callbacks)

        for rule in rules:
            seen = visible_to_organizations(Alert.objects.filter(kind=rule.kind), [rule.organization_id])
            assert mailed_to(rule.recipients[0]) == set(seen.values_list("pk", flat=True)), rule.name
        assert mailed_to(OPERATOR) == set(Alert.objects.values_list("pk", flat=True))
        told = set(Alert.objects.values_list("rule", flat=True)) | {r.pk for r in rules if mailed_to(r.recipients[0])}
        assert len(mail.outbox) == len(told)  # one email per rule told

    def test_a_subscriptions_webhook_is_signed_with_its_secret_and_posted_only_what_it_sees(
        self, world, webhook_receiver, django_capture_on_commit_callbacks
    ):
        rule = subscribe(world.reseller)
        rule.webhook_url, rule.webhook_secret = webhook_receiver.url, "whsec_reseller"
        rule.save()

        raise_alerts(django_capture_on_commit_callbacks)

        received = webhook_receiver.wait_for(1)
        for request in received:
            assert signing.verify(request.headers["stockpool-signature"], request.body, "whsec_reseller") is None
        assert {request.json["alert"]["id"] for request in received} == mailed_to(rule.recipients[0])
        assert len(received) == 1  # its listing's; not the SKU's own alert, which sums the supplier's stock

    def test_a_rule_is_not_told_of_an_alert_its_organization_no_longer_sees_even_one_it_raised(
        self, world, webhook_receiver, django_capture_on_commit_callbacks
    ):
        narrowed = AlertRuleFactory(
            organization=world.supplier,
            kind=Kind.LOW_STOCK,
            scope="warehouse",
            warehouse=world.warehouse,
            threshold=3,
            webhook_url=webhook_receiver.url,
        )
        variant = VariantFactory()
        stock.receive_stock(warehouse=world.warehouse, variant=variant, quantity=2, source="system")
        takeover = subscribe(world.other_supplier, Kind.LOW_STOCK)
        with django_capture_on_commit_callbacks(execute=False) as queued:
            services.evaluate([Kind.LOW_STOCK], variant_ids=[variant.pk])
        raised = Alert.objects.get(rule=narrowed)

        # Before the notification runs, the warehouse passes to the other supplier.
        Warehouse.objects.filter(pk=world.warehouse.pk).update(organization=world.other_supplier)
        for callback in queued:
            callback()
        notifications.post_raised(raised.pk, narrowed.pk)

        assert mailed_to(narrowed.recipients[0]) == set()
        assert webhook_receiver.received == []
        assert raised.pk in mailed_to(takeover.recipients[0])
        assert not notifications.addressed_to(narrowed, Alert.objects.filter(pk=raised.pk)).exists()

    def test_a_subscriber_hears_of_a_flapping_subject_once_within_the_throttle(
        self, world, django_capture_on_commit_callbacks
    ):
        rule = subscribe(world.reseller)
        raise_alerts(django_capture_on_commit_callbacks, [Kind.OUT_OF_STOCK])
        Alert.objects.update(status=Alert.Status.RESOLVED)  # the condition cleared...

        raise_alerts(django_capture_on_commit_callbacks, [Kind.OUT_OF_STOCK])  # ...and holds again

        assert Alert.objects.active().count() == Alert.objects.filter(status=Alert.Status.RESOLVED).count()
        assert len([m for m in mail.outbox if m.to == rule.recipients]) == 1


class TestDetectionStaysThePlatforms:
    def test_a_subscription_does_not_become_the_general_stock_rule(self, world, receive):
        variant = VariantFactory(low_stock_threshold=5)
        receive(world.warehouse, variant, 50)
        platform = AlertRule.objects.get(organization=None, kind=Kind.LOW_STOCK, scope="all")
        platform.delete()
        subscribe(world.supplier, Kind.LOW_STOCK, threshold=100, severity="critical")
        platform.pk = None
        platform.save()  # now younger than the subscription

        services.evaluate([Kind.LOW_STOCK], variant_ids=[variant.pk])
        assert not Alert.objects.filter(kind=Kind.LOW_STOCK).exists()

        AlertRule.objects.filter(pk=platform.pk).update(enabled=False)
        services.evaluate([Kind.LOW_STOCK])
        assert not Alert.objects.filter(kind=Kind.LOW_STOCK).exists()  # a subscription alone detects nothing

    def test_a_subscription_does_not_become_a_swept_kinds_rule(self, world):
        ConnectorAccount.objects.filter(pk=world.account.pk).update(
            created_at=timezone.now() - timedelta(hours=3), last_success_at=timezone.now() - timedelta(minutes=10)
        )
        platform = AlertRule.objects.get(organization=None, kind=Kind.SYNC_STALE)
        platform.delete()
        subscribe(world.supplier, Kind.SYNC_STALE, threshold=1)
        platform.pk = None
        platform.save()

        services.evaluate([Kind.SYNC_STALE])
        assert not Alert.objects.filter(kind=Kind.SYNC_STALE).exists()  # 10 minutes is within the platform's hour

        ConnectorAccount.objects.filter(pk=world.account.pk).update(last_success_at=timezone.now() - timedelta(hours=2))
        services.evaluate([Kind.SYNC_STALE])
        assert Alert.objects.get(kind=Kind.SYNC_STALE).rule == platform

    def test_an_organizations_narrowed_rule_refines_detection_of_its_own_subject(self, world, receive):
        variant = VariantFactory(low_stock_threshold=1)
        receive(world.warehouse, variant, 4)
        rule = AlertRuleFactory(
            organization=world.supplier, kind=Kind.LOW_STOCK, scope="warehouse", warehouse=world.warehouse, threshold=5
        )
        services.evaluate([Kind.LOW_STOCK], variant_ids=[variant.pk])
        assert Alert.objects.active().get(kind=Kind.LOW_STOCK).rule == rule


class TestValidation:
    @pytest.mark.parametrize(
        ("owner", "fields", "refused"),
        [
            ("reseller", {"scope": "warehouse", "warehouse": "warehouse"}, "warehouse"),
            ("supplier", {"scope": "warehouse", "warehouse": "other_warehouse"}, "warehouse"),
            ("reseller", {"scope": "channel", "channel": "rival_store"}, "channel"),
            ("other_supplier", {"scope": "channel", "channel": "store"}, "channel"),
            ("reseller", {"scope": "variant", "variant": "rivals_only"}, "variant"),
            ("supplier", {"scope": "variant", "variant": "elsewhere"}, "variant"),
            ("reseller", {"scope": "channel", "channel": "store"}, None),
            ("supplier", {"scope": "channel", "channel": "rival_store"}, None),  # draws from its warehouse
            ("supplier", {"scope": "warehouse", "warehouse": "warehouse"}, None),
            ("reseller", {"scope": "variant", "variant": "shared"}, "variant"),  # it lists it: the supplier's SKU
            ("supplier", {"scope": "variant", "variant": "rivals_only"}, None),  # its own catalogue
            ("reseller", {}, None),  # a subscription
        ],
    )
    def test_an_organizations_rule_names_only_its_own_warehouse_channel_or_sku(self, world, owner, fields, refused):
        rule = AlertRule(
            name="r",
            organization=getattr(world, owner),
            kind=Kind.LOW_STOCK,
            **{name: getattr(world, value) if name != "scope" else value for name, value in fields.items()},
        )
        if refused is None:
            rule.full_clean()
        else:
            with pytest.raises(ValidationError) as error:
                rule.full_clean()
            assert list(error.value.message_dict) == [refused]

    def test_a_platform_rule_may_name_any_warehouse(self, world):
        AlertRule(name="r", kind=Kind.LOW_STOCK, scope="warehouse", warehouse=world.other_warehouse).full_clean()


class TestDigests:
    @pytest.fixture
    def no_settling(self, monkeypatch):
        monkeypatch.setattr(notifications, "DIGEST_SETTLE", timedelta(0))

    def test_each_digest_subscription_gets_what_its_organization_saw_since_its_last_digest_once(
        self, world, no_settling
    ):
        reseller = subscribe(world.reseller, Kind.LOW_STOCK, digest=True)
        competitor = subscribe(world.competitor, Kind.LOW_STOCK, digest=True)
        ours = AlertFactory(kind=Kind.LOW_STOCK, channel=world.store, subject="listing:ours")
        theirs = AlertFactory(kind=Kind.LOW_STOCK, channel=world.rival_store, subject="listing:theirs")
        private = AlertFactory(kind=Kind.LOW_STOCK, warehouse=world.warehouse, subject="level:private")
        AlertFactory(kind=Kind.OUT_OF_STOCK, channel=world.store, subject="listing:other-kind")

        assert notifications.send_digests() == 2
        assert {tuple(m.to): m.subject for m in mail.outbox} == {
            tuple(reseller.recipients): f"[Stockpool digest] {reseller.name}: 1 alert(s)",
            tuple(competitor.recipients): f"[Stockpool digest] {competitor.name}: 1 alert(s)",
        }
        assert ours.subject_label in _digest_to(reseller).body
        assert theirs.subject_label in _digest_to(competitor).body
        assert private.subject_label not in _digest_to(reseller).body + _digest_to(competitor).body

        assert notifications.send_digests() == 0
        later = AlertFactory(kind=Kind.LOW_STOCK, channel=world.store, subject="listing:later")
        assert notifications.send_digests() == 1
        assert _digest_to(reseller).subject.endswith("1 alert(s)")
        assert later.subject_label in _digest_to(reseller).body

    def test_alerts_of_the_last_minutes_wait_for_the_next_digest(self, world, monkeypatch):
        rule = subscribe(world.reseller, Kind.LOW_STOCK, digest=True, digested_until=timezone.now() - timedelta(days=1))
        AlertFactory(kind=Kind.LOW_STOCK, channel=world.store, first_seen=timezone.now() - timedelta(minutes=1))
        assert notifications.send_digests() == 0

        monkeypatch.setattr(notifications, "DIGEST_SETTLE", timedelta(0))  # as if the next digest were due
        assert notifications.send_digests() == 1
        assert _digest_to(rule).subject.endswith("1 alert(s)")

    def test_a_disabled_subscription_gets_no_digest(self, world, no_settling):
        subscribe(world.reseller, Kind.LOW_STOCK, digest=True, enabled=False)
        AlertFactory(kind=Kind.LOW_STOCK, channel=world.store)
        assert notifications.send_digests() == 0


def _digest_to(rule):
    return [m for m in mail.outbox if m.to == rule.recipients][-1]


@pytest.mark.django_db(transaction=True)
def test_two_workers_send_a_subscriptions_digest_once():
    supplier = OrganizationFactory(slug="supplier")
    reseller = OrganizationFactory(slug="reseller")
    store = ChannelFactory(organization=reseller)
    ChannelWarehouseFactory(channel=store, warehouse=WarehouseFactory(organization=supplier))
    rule = subscribe(reseller, Kind.LOW_STOCK, digest=True, digested_until=timezone.now() - timedelta(days=1))
    AlertFactory.create_batch(3, kind=Kind.LOW_STOCK, channel=store, first_seen=timezone.now() - timedelta(hours=1))

    assert run_together(notifications.send_digests) == []
    (digest,) = [m for m in mail.outbox if m.to == rule.recipients]
    assert digest.subject.endswith("3 alert(s)")


@pytest.mark.django_db
class TestAdmin:
    @pytest.fixture
    def manager(self, client, world):
        """A manager of the reseller, logged in."""
        user = UserFactory(username="reseller-manager", organization=False)
        stock.set_membership(user, world.reseller, Membership.Role.MANAGER)
        client.force_login(user)
        return client

    def rule_form(self, **fields):
        return {
            "organization": "",
            "name": "Sold out on our store",
            "kind": Kind.OUT_OF_STOCK,
            "scope": "all",
            "warehouse": "",
            "channel": "",
            "variant": "",
            "threshold": "",
            "window_minutes": "",
            "severity": "high",
            "enabled": "on",
            "email_recipients": "buyer@reseller.example",
            "webhook_url": "",
            "webhook_secret": "",
            "throttle_minutes": "60",
            **fields,
        }

    def test_a_reseller_manager_lists_and_opens_only_its_organizations_rules(self, manager, world):
        own = subscribe(world.reseller)
        suppliers = subscribe(world.supplier)
        platform = AlertRule.objects.get(organization=None, kind=Kind.OUT_OF_STOCK, scope="all")

        page = manager.get(reverse("admin:alerts_alertrule_changelist"))

        assert list(page.context["cl"].result_list) == [own]
        assert manager.get(reverse("admin:alerts_alertrule_change", args=[own.pk])).status_code == 200
        for foreign in (suppliers, platform):
            assert manager.get(reverse("admin:alerts_alertrule_change", args=[foreign.pk])).status_code == 404

    def test_a_reseller_manager_makes_rules_for_its_organization_only(self, manager, world):
        url = reverse("admin:alerts_alertrule_add")
        field = manager.get(url).context["adminform"].form.fields["organization"]
        assert field.required
        assert list(field.queryset) == [world.reseller]

        refused = [
            ("organization", {}),  # a platform rule
            ("organization", {"organization": world.supplier.pk}),
            ("warehouse", {"organization": world.reseller.pk, "scope": "warehouse", "warehouse": world.warehouse.pk}),
            ("channel", {"organization": world.reseller.pk, "scope": "channel", "channel": world.rival_store.pk}),
        ]
        for field_name, fields in refused:
            response = manager.post(url, self.rule_form(**fields))
            assert response.status_code == 200, fields
            assert field_name in response.context["adminform"].form.errors, fields
        assert not AlertRule.objects.filter(name="Sold out on our store").exists()

        saved = manager.post(
            url, self.rule_form(organization=world.reseller.pk, scope="channel", channel=world.store.pk)
        )
        assert saved.status_code == 302
        assert AlertRule.objects.get(name="Sold out on our store").organization == world.reseller

    def test_a_superuser_still_makes_platform_rules(self, client, superuser, world):
        client.force_login(superuser)
        response = client.post(reverse("admin:alerts_alertrule_add"), self.rule_form(name="Platform-wide"))
        assert response.status_code == 302
        assert AlertRule.objects.get(name="Platform-wide").organization is None


@pytest.mark.django_db
@pytest.mark.usefixtures("eager")
def test_the_demo_tells_the_operator_of_everything_and_each_manager_of_what_their_organization_sees(
    settings, django_capture_on_commit_callbacks
):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    for _ in range(2):  # loading again changes nothing
        call_command("load_demo", stdout=io.StringIO())
    platform = AlertRule.objects.filter(organization=None, scope="all", kind__in=demo.NOTIFIED_KINDS)
    subscriptions = AlertRule.objects.subscriptions().select_related("organization")

    assert set(platform.values_list("email_recipients", flat=True)) == {demo.PLATFORM_EMAIL}
    assert subscriptions.count() == Organization.objects.count() * len(demo.NOTIFIED_KINDS)
    assert {(rule.organization.slug, rule.email_recipients) for rule in subscriptions} >= {
        ("bmb-wholesale", "manager@stockpool.example"),
        ("vip-smoke", "vip-smoke-manager@stockpool.example"),
        ("bookbarber", "bookbarber-manager@stockpool.example"),
    }

    raise_alerts(django_capture_on_commit_callbacks, [Kind.OUT_OF_STOCK])

    raised_by_platform = Alert.objects.filter(rule__organization=None)
    assert mailed_to(demo.PLATFORM_EMAIL) == set(raised_by_platform.values_list("pk", flat=True))
    vip_smoke = Organization.objects.get(slug="vip-smoke")
    listings_out = Alert.objects.filter(channel__organization=vip_smoke)
    assert listings_out.exists()  # raised by the rule on its store, told through its subscription
    assert mailed_to("vip-smoke-manager@stockpool.example") == set(listings_out.values_list("pk", flat=True))
    bmb = Organization.objects.get(slug="bmb-wholesale")
    not_bmbs = Alert.objects.exclude(pk__in=visible_to_organizations(Alert.objects.all(), [bmb.pk]).values("pk"))
    assert not_bmbs.filter(variant__stock_levels__warehouse__code="bookbarber-shop").exists()  # BookBarber's SKUs
    assert not mailed_to("manager@stockpool.example") & set(not_bmbs.values_list("pk", flat=True))
    for rule in subscriptions.filter(kind=Kind.OUT_OF_STOCK):
        seen = visible_to_organizations(Alert.objects.all(), [rule.organization_id]).values_list("pk", flat=True)
        assert mailed_to(rule.email_recipients) == set(seen), rule.organization.slug
