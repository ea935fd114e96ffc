from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = "Inventory"

    def ready(self):
        from inventory import scoping  # noqa: F401 (registers who sees the inventory's rows)
        from inventory.admin_scoping import scope_every_admin

        scope_every_admin()
