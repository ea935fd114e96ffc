"""Alert rules belong to an organization or, as every existing rule does, to the platform; digest
subscriptions remember up to when they have sent."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0004_membership_permissions"),
        ("inventory", "0004_membership"),
    ]

    operations = [
        migrations.AddField(
            model_name="alertrule",
            name="digested_until",
            field=models.DateTimeField(
                default=django.utils.timezone.now,
                editable=False,
                help_text="A digest subscription has sent the alerts first seen before this.",
            ),
        ),
        migrations.AddField(
            model_name="alertrule",
            name="organization",
            field=models.ForeignKey(
                blank=True,
                help_text="Whose rule it is, told only of what the organization sees. Empty: the platform's.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="alert_rules",
                to="inventory.organization",
            ),
        ),
        migrations.AlterField(
            model_name="alertrule",
            name="throttle_minutes",
            field=models.PositiveIntegerField(
                default=60,
                help_text="At most one notification per alert subject in this many minutes (the raising rule's counts).",
            ),
        ),
    ]
