"""The connectors' standing periodic tasks (per-account syncs are scheduled when accounts are saved)."""

from django.db import migrations

RELAY = "Deliver the outbox"
RESUME = "Resume stalled sync jobs"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_five_seconds, _ = IntervalSchedule.objects.get_or_create(every=5, period="seconds")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.update_or_create(
        name=RELAY,
        defaults={
            "task": "connectors.tasks.deliver_outbox_task",
            "interval": every_five_seconds,
            "expire_seconds": 5,
            "description": "Backstop for the delivery queued when each message is written.",
        },
    )
    PeriodicTask.objects.update_or_create(
        name=RESUME,
        defaults={"task": "connectors.tasks.resume_stalled_sync_jobs_task", "interval": every_minute},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[RELAY, RESUME]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("connectors", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
