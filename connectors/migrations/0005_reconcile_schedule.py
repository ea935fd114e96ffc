from django.db import migrations

NIGHTLY = "Reconcile mirrored warehouses and the ledger"


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="2", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.update_or_create(
        name=NIGHTLY, defaults={"task": "connectors.tasks.reconcile_task", "crontab": nightly}
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NIGHTLY).delete()


class Migration(migrations.Migration):
    dependencies = [("connectors", "0004_webhook_sweep_schedule")]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
