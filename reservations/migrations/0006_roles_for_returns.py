"""Returns and oversell incidents (0005) in the roles: clerks see them, managers also settle incidents; the
roles (defined by alerts 0003) are installed again."""

import importlib

from django.db import migrations

roles = importlib.import_module("alerts.migrations.0003_roles")


class Migration(migrations.Migration):
    dependencies = [
        ("reservations", "0005_returns_and_channel_orders"),
        # after the last migration that installed the roles
        ("alerts", "0008_oversell_incident_rule"),
    ]

    operations = [migrations.RunPython(roles.install, migrations.RunPython.noop)]
