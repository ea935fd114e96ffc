"""Reconciliation: prove the stock model against itself and against the systems of record.

Each mirrored warehouse is read whole from its partner as a full sync job, so every level goes
through the pending-sales rule and any true difference is booked as a correction; the documents
our recent messages made at each system of record are compared with the outbox, so a message
that made two (a re-send that should have found the first) shows as a duplicate; the ledger is
checked (``on_hand`` against its movements, ``reserved`` against the active reservation lines).
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.dispatch import Signal
from django.utils import timezone

from connectors import documents
from connectors.http import PartnerError
from connectors.models import ConnectorAccount, Kind, SyncJob
from connectors.outbox import SYSTEMS_OF_RECORD
from connectors.registry import connector_for
from connectors.sync import run_sync_job, start_sync
from inventory.models import StockMovement
from inventory.selectors import ledger_mismatches
from reservations.selectors import reserved_mismatches

logger = logging.getLogger(__name__)

MIRRORING_KINDS = (Kind.ZOHO_INVENTORY, Kind.CIN7_CORE, Kind.AMAZON_SP_API)
#: Corrections in one reconciliation above which it is logged as an error (the alert's rule has its own).
CORRECTION_ALERT_THRESHOLD = 10
#: The documents of messages made this far back are compared (reconciliation runs nightly).
DOCUMENT_LOOKBACK = timedelta(days=3)

#: A reconciliation finished (kwargs: ``report``): the alerts app checks the ledger and the corrections.
reconciled = Signal()


@dataclass
class Report:
    jobs: list[SyncJob] = field(default_factory=list)
    corrections: dict[str, int] = field(default_factory=dict)
    ledger_mismatches: list[str] = field(default_factory=list)
    reserved_mismatches: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    document_errors: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        failed = any(job.status != SyncJob.Status.SUCCEEDED for job in self.jobs)
        problems = self.ledger_mismatches or self.reserved_mismatches or self.duplicates or self.document_errors
        return not (failed or problems)


def reconcile(*, accounts=None, started_by=None) -> Report:
    report = Report()
    accounts = accounts if accounts is not None else ConnectorAccount.objects.filter(enabled=True)
    for account in accounts.filter(kind__in=MIRRORING_KINDS, warehouse__isnull=False):
        job, _ = start_sync(account, SyncJob.Kind.FULL, started_by=started_by, enqueue=False)
        job = run_sync_job(job.pk)
        report.jobs.append(job)
        corrections = StockMovement.objects.filter(
            reason=StockMovement.Reason.SYNC_CORRECTION, reference__endswith=f"sync job {job.pk}"
        ).count()
        report.corrections[str(account)] = corrections
        if corrections > CORRECTION_ALERT_THRESHOLD:
            logger.error("Reconciliation of %s booked %s corrections (job %s).", account, corrections, job.pk)
        if account.kind in SYSTEMS_OF_RECORD:
            _compare_documents(account, report)
    report.ledger_mismatches = [
        f"{level.variant.sku} @ {level.warehouse.code}: on_hand {level.on_hand}, movements {level.booked}"
        for level in ledger_mismatches()
    ]
    report.reserved_mismatches = [
        f"{level.variant.sku} @ {level.warehouse.code}: reserved {level.reserved}, active lines {level.held}"
        for level in reserved_mismatches()
    ]
    for line in report.ledger_mismatches + report.reserved_mismatches:
        logger.error("Ledger mismatch: %s", line)
    reconciled.send(sender=Report, report=report)
    return report


def _compare_documents(account: ConnectorAccount, report: Report) -> None:
    """Record what the partner holds for our recent messages; every copy beyond a message's own document is
    a duplicate."""
    since = timezone.now() - DOCUMENT_LOOKBACK
    try:
        found, kinds = connector_for(account).documents_since(since)
    except PartnerError as error:
        report.document_errors.append(f"{account}: documents could not be read: {error}")
        logger.error("Reconciliation of %s could not read its documents: %s", account, error)
        return
    for copy in documents.record_found(account, found, kinds=kinds, since=since):
        line = (
            f"{account}: {copy.get_kind_display().lower()} {copy.number or copy.partner_id} is a copy made for "
            f"message {copy.message.dedupe_key}"
        )
        report.duplicates.append(line)
        logger.error("Duplicate document: %s", line)
