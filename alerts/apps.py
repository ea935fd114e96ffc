import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts"

    def ready(self):
        from alerts import (  # noqa: F401 (registers the alerts export)
            demo,
            exports,
            scoping,
        )
        from connectors.documents import statuses_changed
        from connectors.reconcile import reconciled
        from inventory import events

        events.stock_changed.connect(evaluate_changed_variants, dispatch_uid="alerts.stock_changed")
        events.demo_world_loaded.connect(demo.configure_demo_rules, dispatch_uid="alerts.demo")
        reconciled.connect(evaluate_reconciliation, dispatch_uid="alerts.reconciled")
        statuses_changed.connect(evaluate_partner_documents, dispatch_uid="alerts.partner_documents")


def evaluate_changed_variants(sender, variant_ids, **kwargs) -> None:
    """After a stock change commits: the stock alerts of the variants that changed, in a worker."""
    from alerts.tasks import evaluate_stock_alerts_task

    try:
        evaluate_stock_alerts_task.delay(sorted(variant_ids))
    except Exception:  # the minute sweep catches up; a broker hiccup must not fail the stock change
        logger.warning("Could not queue the alert evaluation of %s variant(s).", len(variant_ids), exc_info=True)


def evaluate_reconciliation(sender, report, **kwargs) -> None:
    """A reconciliation (nightly or on demand) raises its ledger and correction alerts at once."""
    from alerts import services
    from alerts.models import Kind

    services.evaluate(
        [Kind.LEDGER_MISMATCH, Kind.SYNC_CORRECTIONS, Kind.SYNC_FAILED, Kind.DUPLICATE_DOCUMENTS, Kind.SALE_VOIDED]
    )


def evaluate_partner_documents(sender, **kwargs) -> None:
    """A system of record reported new statuses of our documents (a sale voided there): tell a manager now."""
    from alerts import services
    from alerts.models import Kind

    services.evaluate([Kind.SALE_VOIDED])
