"""``manage.py reconcile``: mirrored warehouses against their partners, and the ledger against itself."""

import logging
import threading

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.models.signals import post_save

from config.progress import ProgressBar
from connectors.models import ConnectorAccount, SyncJob
from connectors.reconcile import MIRRORING_KINDS, reconcile, reconciled

logger = logging.getLogger(__name__)

FINISHED = (SyncJob.Status.SUCCEEDED, SyncJob.Status.FAILED)


class Command(BaseCommand):
    help = (
        "Reconcile every mirrored warehouse with its partner, look for documents made twice there and check the "
        "ledger; exit 1 if anything is off."
    )

    def add_arguments(self, parser):
        parser.add_argument("--account", type=int, action="append", help="only these connector account ids")

    def handle(self, *args, account=None, **options):
        accounts = ConnectorAccount.objects.filter(enabled=True)
        accounts = accounts.filter(pk__in=account) if account else accounts
        # The accounts reconcile() reads (the same filter), for the bar's steps: one per account, then the ledger.
        mirrored = dict(accounts.filter(kind__in=MIRRORING_KINDS, warehouse__isnull=False).values_list("pk", "name"))
        bar = ProgressBar(
            self.stdout,
            total=len(mirrored) + 1,
            label="Reconciling",
            detail=f"{len(mirrored)} mirrored warehouse(s), then the ledger",
            enabled=options["verbosity"] > 0,
        )
        with bar, _ProgressReporter(bar, mirrored):
            report = reconcile(accounts=accounts)
        for job in report.jobs:
            corrections = report.corrections[str(job.account)]
            self.stdout.write(f"{job.account}: {job.status}, {job.processed} read, {corrections} correction(s)")
            for error in job.errors[-3:]:
                self.stdout.write(f"  {error}")
        for line in report.ledger_mismatches + report.reserved_mismatches:
            self.stdout.write(self.style.ERROR(f"mismatch: {line}"))
        for line in report.duplicates:
            self.stdout.write(self.style.ERROR(f"duplicate: {line}"))
        for line in report.document_errors:
            self.stdout.write(self.style.ERROR(line))
        if not report.clean:
            raise CommandError("Reconciliation found problems (above).")
        self.stdout.write(
            self.style.SUCCESS("Ledger consistent; every mirrored warehouse reconciled, no document made twice.")
        )


class _ProgressReporter:
    """Moves the bar on while reconcile() runs: a step when each account's sync job is created, the last
    when the reconciliation is done; on a terminal, a thread also follows the running job's own counts
    (each page commits them) so a long read moves the bar too. Nothing here may disturb the work."""

    def __init__(self, bar: ProgressBar, mirrored: dict[int, str]):
        self.bar = bar
        self.mirrored = mirrored
        self.started = 0
        self.follower = _JobFollower(bar, len(mirrored)) if bar.tty else None

    def __enter__(self):
        post_save.connect(self.job_created, sender=SyncJob, weak=False, dispatch_uid="reconcile.progress.job")
        reconciled.connect(self.finished, weak=False, dispatch_uid="reconcile.progress.done")
        if self.follower:
            self.follower.start()
        return self

    def __exit__(self, *exc):
        post_save.disconnect(sender=SyncJob, dispatch_uid="reconcile.progress.job")
        reconciled.disconnect(dispatch_uid="reconcile.progress.done")
        if self.follower:
            self.follower.stop()

    def job_created(self, sender, instance, created, **kwargs):
        if not created or instance.account_id not in self.mirrored:
            return
        step, name = self.started, self.mirrored[instance.account_id]
        self.started += 1
        self.bar.update(step, detail=f"reading {name}")
        if self.follower:
            self.follower.follow(step, instance.pk, name)

    def finished(self, **kwargs):
        if self.follower:
            self.follower.stop()
        self.bar.update(len(self.mirrored) + 1, detail="ledger checked")


class _JobFollower(threading.Thread):
    """Reads the running job's processed/total every half second, on its own database connection."""

    def __init__(self, bar: ProgressBar, accounts: int, interval: float = 0.5):
        super().__init__(name="reconcile-progress", daemon=True)
        self.bar = bar
        self.accounts = accounts
        self.interval = interval
        self.current: tuple[int, int, str] | None = None
        self.stopped = threading.Event()

    def follow(self, step: int, job_id: int, name: str) -> None:
        self.current = (step, job_id, name)

    def stop(self) -> None:
        self.stopped.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=5)

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                if self.current is not None:
                    self.show(*self.current)
        except Exception:
            logger.debug("Reconciliation progress stopped following the job.", exc_info=True)
        finally:
            connection.close()  # this thread's own connection

    def show(self, step: int, job_id: int, name: str) -> None:
        row = SyncJob.objects.filter(pk=job_id).values_list("status", "processed", "total").first()
        if row is None or self.stopped.is_set() or self.current != (step, job_id, name):
            return  # not committed yet, or the main thread has moved on
        status, processed, total = row
        if status in FINISHED:
            done, detail = step + 1, "checking the ledger" if step + 1 == self.accounts else f"{name} read"
        elif total:
            done, detail = step + min(1.0, processed / total), f"reading {name}: {processed:,} of {total:,}"
        else:
            done, detail = step, f"reading {name}: {processed:,}"
        self.bar.update(done, detail=detail, forward_only=True)
