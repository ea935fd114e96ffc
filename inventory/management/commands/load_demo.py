"""``manage.py load_demo``: build or top up the demo world and print how to log in."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand

from inventory.demo import build_demo_world


class Command(BaseCommand):
    help = (
        "Load the demo world (BMB Wholesale, its resellers' channels, BookBarber's POS, Amazon) and the admin login. "
        "Safe to rerun: nothing is duplicated and stock staff changed since is left alone."
    )

    def handle(self, *args, **options):
        started = time.monotonic()
        password = settings.DEMO_ADMIN_PASSWORD
        world = build_demo_world(admin_password=password)
        elapsed = time.monotonic() - started
        self.stdout.write(self.style.SUCCESS(f"Demo world ready in {elapsed:.1f} s:"))
        rows = [
            ("organizations", world.organizations),
            ("warehouses", world.warehouses),
            ("channels", world.channels),
            ("variants", world.variants),
            ("listings", f"{world.listings} ({world.sellable_listings} sellable)"),
            ("stock levels", f"{world.stock_levels} ({world.empty_levels} empty, {world.low_levels} low)"),
            ("units on hand", world.units_on_hand),
        ]
        for label, value in rows:
            self.stdout.write(f"  {label:<14} {value}")
        self.stdout.write(f"Admin login: {world.admin_username} / {password}")
