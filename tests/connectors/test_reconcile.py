import pytest
from django.core.management import CommandError, call_command

from alerts.models import Alert, Kind
from connectors.models import SyncJob
from connectors.reconcile import reconcile
from inventory.models import StockLevel, StockMovement
from reservations import services as reservations
from tests.connectors.accounts import zoho_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def mirrored(zoho_sandbox):
    zoho_sandbox.add_item(sku="TOMB45-001", stock={"Head Office": 10})
    return zoho_account(zoho_sandbox)


def test_reconciliation_books_what_changed_at_the_partner_and_proves_the_ledger(mirrored, zoho_sandbox):
    reconcile()
    zoho_sandbox.adjust_stock("TOMB45-001", "Head Office", -4, notify=False)  # a webhook we never got

    report = reconcile()

    assert report.clean
    assert report.corrections[str(mirrored)] == 1
    assert StockLevel.objects.get(warehouse=mirrored.warehouse).on_hand == 6
    assert all(job.status == SyncJob.Status.SUCCEEDED for job in report.jobs)


def test_the_command_reports_a_ledger_that_does_not_add_up(mirrored, channel_with, listing_for):
    reconcile()
    level = StockLevel.objects.get(warehouse=mirrored.warehouse)
    channel = channel_with(mirrored.warehouse)
    listing_for(channel, level.variant)
    reservations.reserve(channel=channel, order_ref="A-1", lines=[reservations.LineRequest(level.variant, 2)])
    StockLevel.objects.filter(pk=level.pk).update(reserved=3)  # drifted outside the services

    with pytest.raises(CommandError):
        call_command("reconcile")

    assert reconcile().reserved_mismatches == [
        f"{level.variant.sku} @ {mirrored.warehouse.code}: reserved 3, active lines 2"
    ]
    alert = Alert.objects.active().get(kind=Kind.LEDGER_MISMATCH)
    assert (alert.subject, alert.severity) == (f"level:{level.pk}", "critical")
    assert not StockMovement.objects.filter(reason="sync_correction", quantity__lt=0).exists()


def test_many_corrections_raise_an_alert_that_the_next_clean_reconciliation_clears(mirrored, zoho_sandbox):
    for n in range(11):
        zoho_sandbox.add_item(sku=f"EXTRA-{n}", stock={"Head Office": 3})
    reconcile()  # first sight of them: created, not corrections
    for n in range(11):
        zoho_sandbox.adjust_stock(f"EXTRA-{n}", "Head Office", -1, notify=False)

    report = reconcile()

    assert report.corrections[str(mirrored)] == 11
    alert = Alert.objects.active().get(kind=Kind.SYNC_CORRECTIONS)
    assert (alert.subject, alert.count) == (f"account:{mirrored.pk}", 11)
    reconcile()
    assert not Alert.objects.active().filter(kind=Kind.SYNC_CORRECTIONS).exists()
