"""One enabled rule per alert kind, scope all, and the periodic evaluation, ledger check and digest."""

from decimal import Decimal

from django.db import migrations

#: kind: (name, severity, threshold, window minutes, digest)
DEFAULT_RULES = {
    "low_stock": ("Low stock (each variant's own threshold)", "medium", None, None, False),
    "out_of_stock": ("Out of stock", "high", None, None, False),
    "back_in_stock": ("Back in stock", "low", None, None, True),
    "reorder_point": ("Reorder point reached (each variant's own point)", "medium", None, None, True),
    "sync_failed": ("Sync failed", "high", None, None, False),
    "sync_stale": ("No successful sync for an hour", "medium", Decimal(60), None, False),
    "sync_conflict": ("Sync conflicts awaiting a manager", "medium", None, None, False),
    "sync_corrections": ("More than 10 corrections from a system of record", "high", Decimal(10), None, False),
    "webhook_failures": ("Webhook events failed", "high", Decimal(1), None, False),
    "circuit_open": ("Connector circuit open", "critical", None, None, False),
    "dead_letter": ("Outbound messages dead-lettered", "high", None, None, False),
    "oversell_attempts": ("5 or more refusals for a SKU in 15 minutes", "high", Decimal(5), 15, False),
    "expiry_rate": ("Half of a channel's checkouts expiring (last hour)", "medium", Decimal(50), 60, False),
    "ledger_mismatch": ("Ledger mismatch", "critical", None, None, False),
    "price_variance": ("Channel prices more than 15% apart", "low", Decimal(15), None, True),
}

SWEEP = "Evaluate alert rules"
LEDGER = "Check the ledger for alerts"
DIGEST = "Send alert digests"


def install(apps, schema_editor):
    AlertRule = apps.get_model("alerts", "AlertRule")
    for kind, (name, severity, threshold, window, digest) in DEFAULT_RULES.items():
        AlertRule.objects.get_or_create(
            kind=kind,
            scope="all",
            defaults={
                "name": name,
                "severity": severity,
                "threshold": threshold,
                "window_minutes": window,
                "digest": digest,
            },
        )
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    nightly, _ = CrontabSchedule.objects.get_or_create(minute="30", hour="2", timezone="UTC")
    morning, _ = CrontabSchedule.objects.get_or_create(minute="0", hour="7", timezone="UTC")
    PeriodicTask.objects.update_or_create(
        name=SWEEP,
        defaults={"task": "alerts.tasks.evaluate_alerts_task", "interval": every_minute, "expire_seconds": 60},
    )
    PeriodicTask.objects.update_or_create(
        name=LEDGER, defaults={"task": "alerts.tasks.evaluate_ledger_alerts_task", "crontab": nightly}
    )
    PeriodicTask.objects.update_or_create(
        name=DIGEST, defaults={"task": "alerts.tasks.send_alert_digests_task", "crontab": morning}
    )


def uninstall(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[SWEEP, LEDGER, DIGEST]).delete()
    apps.get_model("alerts", "AlertRule").objects.filter(scope="all", kind__in=DEFAULT_RULES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
