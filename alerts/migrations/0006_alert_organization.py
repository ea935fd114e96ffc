"""An alert can be an organization's when no warehouse, channel or account says whose it is: price
variance is now per organization (its own channels' prices). Open cross-organization variance alerts
resolve themselves at the next sweep, whose subjects name the organization."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0005_organization_rules"),
        ("inventory", "0005_catalogue_owners"),
    ]

    operations = [
        migrations.AddField(
            model_name="alert",
            name="organization",
            field=models.ForeignKey(
                blank=True,
                help_text="Whose it is when no warehouse, channel or account says (its channels' prices disagree).",
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="inventory.organization",
            ),
        ),
    ]
