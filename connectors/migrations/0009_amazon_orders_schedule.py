"""Amazon's own orders pulled every two minutes: ORDER_CHANGE books them at once, the pull is the safety net,
and getOrders' quota (one call a minute, burst 20) keeps half for the drift check's catch-ups."""

from django.db import migrations

PULL = "Pull Amazon orders"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_two_minutes, _ = IntervalSchedule.objects.get_or_create(every=2, period="minutes")
    PeriodicTask.objects.update_or_create(
        name=PULL,
        defaults={
            "task": "connectors.tasks.pull_amazon_orders_task",
            "interval": every_two_minutes,
            "expire_seconds": 120,
            "description": "Starts an orders pull for each enabled Amazon account that publishes a channel.",
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=PULL).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("connectors", "0008_amazon_offers_feeds_and_orders"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
