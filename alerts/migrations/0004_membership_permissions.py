"""Memberships (inventory 0004) are the administrator's: put the role groups back to 0003's definition,
which gives the administrator every inventory permission, ``Membership``'s included."""

import importlib

from django.db import migrations

roles = importlib.import_module("alerts.migrations.0003_roles")


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0003_roles"),
        ("inventory", "0004_membership"),
    ]

    operations = [migrations.RunPython(roles.install, migrations.RunPython.noop)]
