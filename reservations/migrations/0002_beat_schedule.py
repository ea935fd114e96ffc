"""The periodic tasks of reservations, as django-celery-beat rows that staff can edit in the admin."""

from django.db import migrations

EXPIRE = "Expire overdue reservations"
PURGE = "Purge idempotency keys older than 24 h"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_ten_seconds, _ = IntervalSchedule.objects.get_or_create(every=10, period="seconds")
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="15", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.update_or_create(
        name=EXPIRE,
        defaults={
            "task": "reservations.tasks.expire_overdue_reservations_task",
            "interval": every_ten_seconds,
            "expire_seconds": 9,
            "description": "Gives the stock of holds past their expiry back to the pool.",
        },
    )
    PeriodicTask.objects.update_or_create(
        name=PURGE,
        defaults={
            "task": "reservations.tasks.purge_idempotency_keys_task",
            "crontab": nightly,
            "description": "Idempotency keys are kept at least 24 hours.",
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[EXPIRE, PURGE]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("reservations", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
