"""The oversell-incident kind's platform rule: critical, told at once. Its own migration, apart from the
schema change of 0007, as PostgreSQL refuses to alter a table with pending trigger events in one
transaction."""

from django.db import migrations


def install(apps, schema_editor):
    apps.get_model("alerts", "AlertRule").objects.get_or_create(
        kind="oversell_incident",
        scope="all",
        organization=None,
        defaults={"name": "A channel sold units we did not have", "severity": "critical"},
    )


class Migration(migrations.Migration):
    dependencies = [("alerts", "0007_oversell_incidents")]

    # Unapplied, the rule stays (a kind nothing detects is harmless): deleting rows here would leave
    # PostgreSQL trigger events pending for the earlier migrations that alter the table when unapplied.
    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
