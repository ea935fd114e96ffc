"""Amazon's offers and feeds (0008) in the roles: the administrator holds their permissions, as every project
permission; nobody else needs them (the connector learns and records them). The roles (alerts 0003) are
installed again."""

import importlib

from django.db import migrations

roles = importlib.import_module("alerts.migrations.0003_roles")


class Migration(migrations.Migration):
    dependencies = [
        ("connectors", "0009_amazon_orders_schedule"),
        # after the last migration that installed the roles
        ("alerts", "0010_partner_document_rules"),
    ]

    operations = [migrations.RunPython(roles.install, migrations.RunPython.noop)]
