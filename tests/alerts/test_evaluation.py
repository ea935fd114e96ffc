"""Each alert kind is raised when its condition holds and resolves itself when it clears."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts import services
from alerts.models import Alert, AlertRule, Kind
from connectors.models import ConnectorAccount, OutboundMessage, SyncConflict, SyncJob, WebhookEvent
from inventory import services as stock
from inventory.models import StockLevel, StockMovement
from reservations import services as reservations
from reservations.models import Reservation
from reservations.services import LineRequest
from tests.factories import (
    ChannelWebhookFactory,
    ConnectorAccountFactory,
    OrganizationFactory,
    OutboundMessageFactory,
    ReservationFactory,
    SyncJobFactory,
    VariantFactory,
    WebhookEventFactory,
)

pytestmark = pytest.mark.django_db


def active(kind, subject=None):
    alerts = Alert.objects.active().filter(kind=kind)
    return alerts.filter(subject=subject) if subject else alerts


def resolved(kind, subject):
    return Alert.objects.filter(kind=kind, subject=subject, status=Alert.Status.RESOLVED)


def sku_subject(variant) -> str:
    """A SKU's own alert, for its stock at one organization (the test organization's, by the factories)."""
    return f"variant:{variant.pk}@organization:{variant.product.organization_id}"


def adjust(warehouse, variant, delta):
    stock.adjust_stock(warehouse=warehouse, variant=variant, delta=delta, reason="count", source="admin")


class TestStockKinds:
    def test_low_then_out_then_back_in_stock(self, warehouse, receive):
        variant = VariantFactory(sku="LOW-1", low_stock_threshold=3)
        subject = sku_subject(variant)
        receive(warehouse, variant, 10)
        services.evaluate(variant_ids=[variant.pk])
        assert not Alert.objects.exists()

        adjust(warehouse, variant, -8)  # 2 left: low
        services.evaluate(variant_ids=[variant.pk])
        low = active(Kind.LOW_STOCK, subject).get()
        assert (low.severity, low.subject_label, low.context["available"]) == (
            "medium",
            "SKU LOW-1 at Test organization",
            2,
        )

        adjust(warehouse, variant, -2)  # none: out, and no longer "low"
        services.evaluate(variant_ids=[variant.pk])
        assert active(Kind.OUT_OF_STOCK, subject).get().severity == "high"
        assert not active(Kind.LOW_STOCK).exists()
        assert resolved(Kind.LOW_STOCK, subject).get().resolved_by is None

        receive(warehouse, variant, 20)
        services.evaluate(variant_ids=[variant.pk])
        assert not active(Kind.OUT_OF_STOCK).exists()
        back = active(Kind.BACK_IN_STOCK, subject).get()
        assert (back.severity, back.digest_pending) == ("low", True)

        adjust(warehouse, variant, -20)  # out again: "back in stock" no longer holds
        services.evaluate(variant_ids=[variant.pk])
        assert not active(Kind.BACK_IN_STOCK).exists()
        assert active(Kind.OUT_OF_STOCK, subject).exists()

    def test_back_in_stock_resolves_itself_after_a_day(self, warehouse, receive):
        variant = VariantFactory()
        services.evaluate(variant_ids=[variant.pk])
        receive(warehouse, variant, 10)
        services.evaluate(variant_ids=[variant.pk])
        Alert.objects.filter(kind=Kind.BACK_IN_STOCK).update(first_seen=timezone.now() - timedelta(hours=25))
        services.evaluate()
        assert not active(Kind.BACK_IN_STOCK).exists()

    def test_reserved_units_count_against_available(self, warehouse, variant, receive, channel_with, listing_for):
        variant.low_stock_threshold = 2
        variant.save()
        channel = channel_with(warehouse)
        listing_for(channel, variant)
        receive(warehouse, variant, 5)
        reservations.reserve(channel=channel, order_ref="o-1", lines=[LineRequest(variant, 4)])
        services.evaluate(variant_ids=[variant.pk])
        assert active(Kind.LOW_STOCK, sku_subject(variant)).get().context == {"available": 1, "on_hand": 5}

    def test_reorder_point(self, warehouse, receive):
        variant = VariantFactory(reorder_point=5)
        receive(warehouse, variant, 5)
        services.evaluate(variant_ids=[variant.pk])
        assert active(Kind.REORDER_POINT, sku_subject(variant)).exists()
        receive(warehouse, variant, 1)
        services.evaluate(variant_ids=[variant.pk])
        assert resolved(Kind.REORDER_POINT, sku_subject(variant)).exists()

    def test_a_variant_rule_overrides_the_threshold_and_a_warehouse_rule_watches_one_level(self, warehouse, receive):
        variant = VariantFactory(low_stock_threshold=1)
        other_warehouse = type(warehouse).objects.create(organization=warehouse.organization, code="back", name="Back")
        receive(warehouse, variant, 8)
        receive(other_warehouse, variant, 2)
        AlertRule.objects.create(
            name="Hero SKU", kind=Kind.LOW_STOCK, scope="variant", variant=variant, threshold=Decimal(20)
        )
        AlertRule.objects.create(
            name="Back room", kind=Kind.LOW_STOCK, scope="warehouse", warehouse=other_warehouse, threshold=Decimal(3)
        )
        services.evaluate(variant_ids=[variant.pk])
        subjects = set(active(Kind.LOW_STOCK).values_list("subject", flat=True))
        assert subjects == {sku_subject(variant), f"variant:{variant.pk}@warehouse:{other_warehouse.pk}"}
        assert active(Kind.LOW_STOCK, sku_subject(variant)).get().rule.name == "Hero SKU"

    def test_a_channel_rule_watches_what_the_channel_may_sell(
        self, warehouse, variant, receive, channel_with, listing_for
    ):
        channel = channel_with(warehouse, code="pos")
        listing = listing_for(channel, variant, buffer=8)
        receive(warehouse, variant, 10)  # 2 for the channel
        AlertRule.objects.create(name="POS", kind=Kind.OUT_OF_STOCK, scope="channel", channel=channel)
        AlertRule.objects.create(name="POS low", kind=Kind.LOW_STOCK, scope="channel", channel=channel, threshold=2)
        services.evaluate(variant_ids=[variant.pk])
        assert active(Kind.LOW_STOCK, f"listing:{listing.pk}").get().channel == channel
        adjust(warehouse, variant, -2)  # 8 on hand, all buffer: out for the channel, not for the SKU
        services.evaluate(variant_ids=[variant.pk])
        assert active(Kind.OUT_OF_STOCK, f"listing:{listing.pk}").exists()
        assert not active(Kind.OUT_OF_STOCK, sku_subject(variant)).exists()

    def test_a_disabled_rule_raises_nothing(self, warehouse, receive):
        AlertRule.objects.filter(kind=Kind.OUT_OF_STOCK).update(enabled=False)
        variant = VariantFactory()
        services.evaluate(variant_ids=[variant.pk])
        assert not active(Kind.OUT_OF_STOCK).exists()

    def test_repeated_evaluation_counts_and_keeps_one_alert(self, warehouse):
        variant = VariantFactory()
        for _ in range(3):
            services.evaluate(variant_ids=[variant.pk])
        alert = active(Kind.OUT_OF_STOCK, sku_subject(variant)).get()
        assert alert.count == 3
        assert alert.last_seen > alert.first_seen

    def test_thousands_of_variants_in_a_bounded_number_of_queries(self, warehouse):
        VariantFactory.create_batch(50)
        with CaptureQueriesContext(connection) as small:
            services.evaluate([Kind.OUT_OF_STOCK, Kind.LOW_STOCK])
        VariantFactory.create_batch(1500)
        Alert.objects.all().delete()
        with CaptureQueriesContext(connection) as large:
            services.evaluate([Kind.OUT_OF_STOCK, Kind.LOW_STOCK])
        assert active(Kind.OUT_OF_STOCK).count() == 1550
        assert len(large) <= len(small) + 10  # batches of inserts, not a query per variant


class TestLedgerMismatch:
    def test_raised_for_a_level_that_disagrees_with_its_movements_and_resolved_once_repaired(
        self, warehouse, variant, receive
    ):
        receive(warehouse, variant, 5)
        level = StockLevel.objects.get()
        StockLevel.objects.filter(pk=level.pk).update(on_hand=7)  # a write that bypassed the services
        services.evaluate([Kind.LEDGER_MISMATCH])
        alert = active(Kind.LEDGER_MISMATCH, f"level:{level.pk}").get()
        assert alert.severity == "critical"
        assert alert.context == {"on_hand": 7, "movements": 5}

        StockLevel.objects.filter(pk=level.pk).update(on_hand=5)
        services.evaluate(variant_ids=[variant.pk])
        assert resolved(Kind.LEDGER_MISMATCH, f"level:{level.pk}").exists()

    def test_reserved_against_active_lines(self, warehouse, variant, receive):
        receive(warehouse, variant, 5)
        StockLevel.objects.update(reserved=2)
        services.evaluate([Kind.LEDGER_MISMATCH])
        assert active(Kind.LEDGER_MISMATCH).get().context == {"reserved": 2, "held": 0}


class TestChannelKinds:
    def test_oversell_attempts_above_the_rate(self, warehouse, variant, receive, channel_with, listing_for):
        channel = channel_with(warehouse)
        listing_for(channel, variant)
        receive(warehouse, variant, 1)
        for n in range(5):
            with pytest.raises(Exception, match="Insufficient stock"):
                reservations.reserve(channel=channel, order_ref=f"o-{n}", lines=[LineRequest(variant, 2)])
        services.evaluate([Kind.OVERSELL_ATTEMPTS])
        alert = active(Kind.OVERSELL_ATTEMPTS, sku_subject(variant)).get()  # for the SKU's catalogue owner
        assert alert.count == 5

        from reservations.models import StockRefusal

        StockRefusal.objects.update(created_at=timezone.now() - timedelta(hours=1))
        services.evaluate([Kind.OVERSELL_ATTEMPTS])
        assert not active(Kind.OVERSELL_ATTEMPTS).exists()

    def test_expiry_rate(self, warehouse, channel_with):
        channel = channel_with(warehouse)
        now = timezone.now()
        for n in range(12):
            status = Reservation.Status.EXPIRED if n < 7 else Reservation.Status.CONSUMED
            ReservationFactory(channel=channel, status=status, closed_at=now, expires_at=now)
        services.evaluate([Kind.EXPIRY_RATE])
        assert active(Kind.EXPIRY_RATE, f"channel:{channel.pk}").get().context["expired"] == 7
        Reservation.objects.filter(status=Reservation.Status.EXPIRED).update(status=Reservation.Status.RELEASED)
        services.evaluate([Kind.EXPIRY_RATE])
        assert not active(Kind.EXPIRY_RATE).exists()

    def test_price_variance(self, warehouse, variant, channel_with, listing_for):
        variant.price = Decimal("10.00")
        variant.save()
        listing_for(channel_with(warehouse), variant)
        pricey = listing_for(channel_with(warehouse), variant, price=Decimal("12.00"))
        services.evaluate([Kind.PRICE_VARIANCE])
        organization = warehouse.organization_id  # the factories' channels are the test organization's
        found = active(Kind.PRICE_VARIANCE, f"variant:{variant.pk}@organization:{organization}").get()
        assert (found.context["percent"], found.organization_id) == (20.0, organization)
        pricey.price = Decimal("11.00")
        pricey.save()
        services.evaluate([Kind.PRICE_VARIANCE])
        assert not active(Kind.PRICE_VARIANCE).exists()

    def test_competing_organizations_prices_are_not_a_variance(self, warehouse, variant, channel_with, listing_for):
        """Each organization prices its own channels; another's prices are its own business."""
        variant.price = Decimal("10.00")
        variant.save()
        listing_for(channel_with(warehouse), variant)
        listing_for(channel_with(warehouse, organization=OrganizationFactory()), variant, price=Decimal("15.00"))
        services.evaluate([Kind.PRICE_VARIANCE])
        assert not active(Kind.PRICE_VARIANCE).exists()

    def test_a_wholesale_price_list_is_not_a_variance(self, warehouse, variant, channel_with, listing_for):
        variant.price = Decimal("10.00")
        variant.save()
        listing_for(channel_with(warehouse), variant)
        listing_for(channel_with(warehouse, kind="wholesale"), variant, price=Decimal("7.20"))
        services.evaluate([Kind.PRICE_VARIANCE])
        assert not active(Kind.PRICE_VARIANCE).exists()


class TestConnectorKinds:
    @pytest.fixture
    def account(self, warehouse):
        return ConnectorAccountFactory(warehouse=warehouse)

    def test_sync_failed_until_a_later_sync_succeeds(self, account):
        now = timezone.now()
        SyncJobFactory(account=account, status=SyncJob.Status.FAILED, finished_at=now)
        services.evaluate([Kind.SYNC_FAILED])
        assert active(Kind.SYNC_FAILED, f"account:{account.pk}").exists()
        SyncJobFactory(account=account, status=SyncJob.Status.SUCCEEDED, finished_at=now + timedelta(seconds=1))
        services.evaluate([Kind.SYNC_FAILED])
        assert resolved(Kind.SYNC_FAILED, f"account:{account.pk}").exists()

    def test_sync_stale(self, account):
        ConnectorAccount.objects.filter(pk=account.pk).update(
            created_at=timezone.now() - timedelta(hours=3), last_success_at=timezone.now() - timedelta(hours=2)
        )
        services.evaluate([Kind.SYNC_STALE])
        assert active(Kind.SYNC_STALE, f"account:{account.pk}").exists()
        ConnectorAccount.objects.filter(pk=account.pk).update(last_success_at=timezone.now())
        services.evaluate([Kind.SYNC_STALE])
        assert not active(Kind.SYNC_STALE).exists()

    def test_sync_conflicts_awaiting_a_manager(self, account, variant):
        conflict = SyncConflict.objects.create(
            account=account, variant=variant, field="price", local_value="1", remote_value="2", strategy="manual"
        )
        services.evaluate([Kind.SYNC_CONFLICT])
        assert active(Kind.SYNC_CONFLICT, f"account:{account.pk}").get().count == 1
        SyncConflict.objects.filter(pk=conflict.pk).update(status=SyncConflict.Status.RESOLVED)
        services.evaluate([Kind.SYNC_CONFLICT])
        assert not active(Kind.SYNC_CONFLICT).exists()

    def test_many_corrections_from_a_system_of_record(self, account, warehouse):
        job = SyncJobFactory(
            account=account, status=SyncJob.Status.SUCCEEDED, started_at=timezone.now(), finished_at=timezone.now()
        )
        stock.apply_stock_changes(
            [
                stock.StockChange(
                    warehouse,
                    VariantFactory(),
                    StockMovement.Reason.SYNC_CORRECTION,
                    set_on_hand=3,
                    reference=f"Zoho Inventory sync job {job.pk}",
                )
                for _ in range(11)
            ],
            source=StockMovement.Source.SYNC,
        )
        services.evaluate([Kind.SYNC_CORRECTIONS])
        assert active(Kind.SYNC_CORRECTIONS, f"account:{account.pk}").get().count == 11
        SyncJobFactory(
            account=account,
            status=SyncJob.Status.SUCCEEDED,
            started_at=timezone.now(),
            finished_at=timezone.now() + timedelta(seconds=1),
        )
        services.evaluate([Kind.SYNC_CORRECTIONS])
        assert not active(Kind.SYNC_CORRECTIONS).exists()

    def test_webhook_failures_until_replayed(self, account):
        event = WebhookEventFactory(account=account, status=WebhookEvent.Status.FAILED)
        services.evaluate([Kind.WEBHOOK_FAILURES])
        assert active(Kind.WEBHOOK_FAILURES, f"account:{account.pk}").exists()
        WebhookEvent.objects.filter(pk=event.pk).update(status=WebhookEvent.Status.PROCESSED)
        services.evaluate([Kind.WEBHOOK_FAILURES])
        assert not active(Kind.WEBHOOK_FAILURES).exists()

    def test_circuit_open(self, account):
        ConnectorAccount.objects.filter(pk=account.pk).update(circuit_state=ConnectorAccount.CircuitState.OPEN)
        services.evaluate([Kind.CIRCUIT_OPEN])
        assert active(Kind.CIRCUIT_OPEN, f"account:{account.pk}").get().severity == "critical"
        ConnectorAccount.objects.filter(pk=account.pk).update(circuit_state=ConnectorAccount.CircuitState.CLOSED)
        services.evaluate([Kind.CIRCUIT_OPEN])
        assert not active(Kind.CIRCUIT_OPEN).exists()

    def test_dead_letters_for_a_partner_and_for_a_channel_webhook(self, account):
        message = OutboundMessageFactory(account=account, status=OutboundMessage.Status.DEAD, last_error="HTTP 400")
        hook = ChannelWebhookFactory()
        OutboundMessageFactory(
            account=None,
            channel_webhook=hook,
            kind=OutboundMessage.Kind.CHANNEL_EVENT,
            status=OutboundMessage.Status.DEAD,
        )
        services.evaluate([Kind.DEAD_LETTER])
        assert set(active(Kind.DEAD_LETTER).values_list("subject", flat=True)) == {
            f"account:{account.pk}",
            f"webhook:{hook.pk}",
        }
        webhook_alert = active(Kind.DEAD_LETTER, f"webhook:{hook.pk}").get()
        assert (webhook_alert.channel, webhook_alert.organization) == (None, hook.channel.organization)
        OutboundMessage.objects.filter(pk=message.pk).update(status=OutboundMessage.Status.DELIVERED)
        services.evaluate([Kind.DEAD_LETTER])
        assert set(active(Kind.DEAD_LETTER).values_list("subject", flat=True)) == {f"webhook:{hook.pk}"}


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [
        ({"kind": Kind.LOW_STOCK, "scope": "warehouse"}, "warehouse"),
        ({"kind": Kind.SYNC_FAILED, "scope": "variant"}, "scope"),
        ({"kind": Kind.REORDER_POINT, "scope": "channel"}, "scope"),
    ],
)
def test_a_rule_names_exactly_what_its_scope_needs(fields, error_field, channel_with, warehouse, variant):
    from django.core.exceptions import ValidationError

    extra = {"variant": variant} if fields["scope"] == "variant" else {}
    extra |= {"channel": channel_with(warehouse)} if fields["scope"] == "channel" else {}
    with pytest.raises(ValidationError) as refused:
        AlertRule(name="r", **fields, **extra).full_clean()
    assert error_field in refused.value.message_dict
