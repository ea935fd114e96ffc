"""The platform rules of the partner-document kinds (0009), and the roles installed again so that the
administrator holds the permissions of connectors' PartnerDocument (connectors 0007); nobody else needs them:
managers see a sale's documents as they see its connector accounts."""

import importlib

from django.db import migrations

roles = importlib.import_module("alerts.migrations.0003_roles")

#: kind: (name, severity)
RULES = {
    "duplicate_documents": ("A system of record holds a document twice", "high"),
    "sale_voided": ("A sale made here was voided in its system of record", "high"),
}


def install(apps, schema_editor):
    AlertRule = apps.get_model("alerts", "AlertRule")
    for kind, (name, severity) in RULES.items():
        AlertRule.objects.get_or_create(
            kind=kind, scope="all", organization=None, defaults={"name": name, "severity": severity}
        )
    roles.install(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0009_partner_document_kinds"),
        ("connectors", "0007_partner_documents"),
        # after the last migration that installed the roles
        ("reservations", "0006_roles_for_returns"),
    ]

    # Unapplied, the rules stay (as 0008's): deleting rows here would leave PostgreSQL trigger events pending.
    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
