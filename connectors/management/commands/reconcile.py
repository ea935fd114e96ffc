"""``manage.py reconcile``: mirrored warehouses against their partners, and the ledger against itself."""

from django.core.management.base import BaseCommand, CommandError

from connectors.models import ConnectorAccount
from connectors.reconcile import reconcile


class Command(BaseCommand):
    help = "Reconcile every mirrored warehouse with its partner and check the ledger; exit 1 if anything is off."

    def add_arguments(self, parser):
        parser.add_argument("--account", type=int, action="append", help="only these connector account ids")

    def handle(self, *args, account=None, **options):
        accounts = ConnectorAccount.objects.filter(enabled=True)
        report = reconcile(accounts=accounts.filter(pk__in=account) if account else accounts)
        for job in report.jobs:
            corrections = report.corrections[str(job.account)]
            self.stdout.write(f"{job.account}: {job.status}, {job.processed} read, {corrections} correction(s)")
            for error in job.errors[-3:]:
                self.stdout.write(f"  {error}")
        for line in report.ledger_mismatches + report.reserved_mismatches:
            self.stdout.write(self.style.ERROR(f"mismatch: {line}"))
        if not report.clean:
            raise CommandError("Reconciliation found problems (above).")
        self.stdout.write(self.style.SUCCESS("Ledger consistent; every mirrored warehouse reconciled."))
