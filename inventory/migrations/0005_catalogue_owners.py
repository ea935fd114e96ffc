"""Products belong to an organization's catalogue: existing ones to the organization whose warehouses
hold most of their units (products stocked nowhere, and every category, stay the platform's)."""

import django.db.models.deletion
from django.db import migrations, models


def assign_owners(apps, schema_editor):
    Product = apps.get_model("inventory", "Product")
    StockLevel = apps.get_model("inventory", "StockLevel")
    units: dict[int, dict[int, int]] = {}
    rows = StockLevel.objects.values_list("variant__product_id", "warehouse__organization_id", "on_hand")
    for product_id, organization_id, on_hand in rows.iterator():
        by_owner = units.setdefault(product_id, {})
        by_owner[organization_id] = by_owner.get(organization_id, 0) + max(on_hand, 0)
    for product_id, by_owner in units.items():
        owner = max(sorted(by_owner), key=lambda organization_id: by_owner[organization_id])
        Product.objects.filter(pk=product_id).update(organization_id=owner)


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0004_membership"),
    ]

    operations = [
        migrations.AddField(
            model_name="category",
            name="organization",
            field=models.ForeignKey(
                blank=True,
                help_text="Who may change it; everyone files products under it. Empty: the platform's.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="categories",
                to="inventory.organization",
            ),
        ),
        migrations.AddField(
            model_name="product",
            name="organization",
            field=models.ForeignKey(
                blank=True,
                help_text="Whose catalogue it is: they change it and see its cost prices. Empty: the platform's.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="products",
                to="inventory.organization",
            ),
        ),
        migrations.RunPython(assign_owners, migrations.RunPython.noop),
    ]
