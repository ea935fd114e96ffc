"""Channel activity: a proxy of channels showing the figures of their holds, sales and refusals. Every
role may view it (what a supplier knows of the channels drawing on its stock): the roles are installed
again, which grants it as alerts 0003 defines."""

import importlib

from django.db import migrations

roles = importlib.import_module("alerts.migrations.0003_roles")


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0005_catalogue_owners"),
        ("reservations", "0003_stock_refusals"),
        # The roles (defined by alerts 0003) are installed again; after the last migration that did so.
        ("alerts", "0004_membership_permissions"),
    ]

    operations = [
        migrations.CreateModel(
            name="ChannelActivity",
            fields=[],
            options={
                "verbose_name": "channel activity",
                "verbose_name_plural": "channel activity",
                "proxy": True,
                "default_permissions": ("view",),
                "indexes": [],
                "constraints": [],
            },
            bases=("inventory.channel",),
        ),
        migrations.RunPython(roles.install, migrations.RunPython.noop),
    ]
