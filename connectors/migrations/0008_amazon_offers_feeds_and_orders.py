import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("connectors", "0007_partner_documents"),
        ("inventory", "0005_catalogue_owners"),
    ]

    operations = [
        migrations.AlterField(
            model_name="syncjob",
            name="kind",
            field=models.CharField(
                choices=[
                    ("full", "Full pull"),
                    ("incremental", "Incremental pull"),
                    ("push", "Push"),
                    ("orders", "Orders pull"),
                ],
                max_length=16,
            ),
        ),
        migrations.CreateModel(
            name="AmazonFeed",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("document_id", models.CharField(help_text="Our uploaded feed document.", max_length=200)),
                (
                    "feed_id",
                    models.CharField(
                        blank=True, help_text="Amazon's id, once an answer or a lookup gives it.", max_length=64
                    ),
                ),
                (
                    "quantities",
                    models.JSONField(help_text="[outbound message id, quantity] it carries, in its messageId order."),
                ),
                (
                    "started_at",
                    models.DateTimeField(help_text="When createFeed was called: where a lookup searches."),
                ),
                (
                    "settled_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="When its report was applied, or it was found never to have reached Amazon.",
                        null=True,
                    ),
                ),
                (
                    "account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="amazon_feeds",
                        to="connectors.connectoraccount",
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["account", "settled_at"], name="amazonfeed_unsettled")],
            },
        ),
        migrations.CreateModel(
            name="AmazonOffer",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "fulfillment",
                    models.CharField(
                        choices=[("MFN", "Merchant-fulfilled (we ship)"), ("AFN", "Fulfilled by Amazon (FBA)")],
                        max_length=3,
                    ),
                ),
                (
                    "product_type",
                    models.CharField(
                        blank=True,
                        help_text="The listing's product type at Amazon (unknown if learnt from FBA).",
                        max_length=100,
                    ),
                ),
                ("learnt_at", models.DateTimeField(auto_now=True)),
                (
                    "account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="amazon_offers",
                        to="connectors.connectoraccount",
                    ),
                ),
                (
                    "variant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="inventory.variant"
                    ),
                ),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("account", "variant"), name="amazonoffer_unique")],
            },
        ),
    ]
